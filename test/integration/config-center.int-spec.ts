import { Cluster, Redis } from 'ioredis';
import { z } from 'zod';
import { createRedis, Keys, RedisClient } from '../../common';
import {
  CONFIG_CENTER_ERRORS,
  ConfigCache,
  configCenterKind,
  ConfigChange,
  ConfigKindSpec,
  ConfigStore,
  ConfigVersionConflictError,
  InvalidConfigError,
} from '../../common/config-center';
import { ConfigRegistry, getConfig, listConfig, setConfig } from '../../common/ops';
import { rewardFlowSchema, taskDefinitionSchema } from '../../actors/task/task.definition';
import { startTestCluster, TestCluster } from '../harness/cluster';
import { uniqueNamespace, useTestRedis } from '../harness/redis';
import { startTcpProxy, TcpProxy } from '../harness/tcp-proxy';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const FLOW: ConfigKindSpec = { kind: 'reward-flow', description: 'reward flows (test)', schema: rewardFlowSchema, idField: 'id' };
const TASK: ConfigKindSpec = { kind: 'task-definition', description: 'task definitions (test)', schema: taskDefinitionSchema, idField: 'id' };
const KINDS = [FLOW, TASK];

const flow = (points: number) => ({ merchantId: 'm1', steps: [{ type: 'points', amount: points }] });

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await cond()) return Date.now() - start;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** The first change a cache hears for the item that satisfies `pred`. */
function nextChange(cache: ConfigCache, kind: string, id: string, pred: (c: ConfigChange) => boolean = () => true): Promise<ConfigChange> {
  return new Promise((resolve) => {
    const off = cache.onChange((c) => {
      if (c.kind === kind && c.id === id && pred(c)) {
        off();
        resolve(c);
      }
    });
  });
}

describe('configuration center (store, cache, change stream) on a real Redis', () => {
  const env = useTestRedis();
  let redis: RedisClient;
  const caches: ConfigCache[] = [];
  const proxies: TcpProxy[] = [];
  const clients: RedisClient[] = [];
  const warnings: string[] = [];
  const logger = { warn: (m: string) => void warnings.push(m) };

  const cacheOf = async (ns: string, options: ConstructorParameters<typeof ConfigCache>[3] = {}, via: RedisClient = redis, kinds: ConfigKindSpec[] = KINDS) => {
    const cache = new ConfigCache(via, ns, kinds, { logger, ...options });
    caches.push(cache);
    await cache.start();
    return cache;
  };

  /** A cache (blockMs 200) whose connection goes through a TCP proxy the test can cut and restore. */
  const cacheBehindProxy = async (ns: string) => {
    const proxy = await startTcpProxy(Number(new URL(env.url).port));
    proxies.push(proxy);
    const via = createRedis({ url: proxy.url, tls: false }, 'config-center-behind-proxy');
    clients.push(via);
    return { proxy, cache: await cacheOf(ns, { blockMs: 200 }, via) };
  };

  beforeAll(() => {
    redis = createRedis({ url: env.url, tls: false }, 'config-center-test');
  });
  afterEach(async () => {
    await Promise.all(caches.splice(0).map((c) => c.stop()));
    for (const c of clients.splice(0)) c.disconnect();
    await Promise.all(proxies.splice(0).map((p) => p.stop()));
    warnings.length = 0;
  });
  afterAll(() => redis?.disconnect());

  it('the schema refuses a bad write with each problem listed, and nothing is stored', async () => {
    const ns = uniqueNamespace('cfgbad');
    const store = new ConfigStore(redis, ns, KINDS);
    const bad = { id: 'f1', merchantId: 'm{1}', steps: [{ type: 'points', amount: -5 }, { type: 'bogus' }] };
    const err = await store.put('reward-flow', 'f1', bad).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidConfigError);
    expect((err as InvalidConfigError).code).toBe(CONFIG_CENTER_ERRORS.invalidConfig);
    expect((err as InvalidConfigError).problems.map((p) => p.path)).toEqual(['merchantId', 'steps.0.amount', 'steps.1.type']);
    expect((err as Error).message).toMatch(/^invalid reward-flow "f1": merchantId: use letters.*; steps\.0\.amount: .+; steps\.1\.type: .+/);
    // An id in the value that is not the item's, and a task definition missing its required fields.
    await expect(store.put('reward-flow', 'f1', { ...flow(1), id: 'f2' })).rejects.toThrow(/id: names "f2", not this item's id "f1"/);
    await expect(store.put('task-definition', 't1', { type: 'cumulative' })).rejects.toThrow(/merchantId: .*; name: .*; events: .*; target: /);
    await expect(store.put('no-such-kind', 'x', {})).rejects.toMatchObject({ code: CONFIG_CENTER_ERRORS.unknownKind, message: expect.stringMatching(/known: reward-flow, task-definition/) });
    await expect(store.put('reward-flow', 'bad{id}', flow(1))).rejects.toMatchObject({ code: 'INVALID_ID' });

    const keys = new Keys(ns);
    expect(await store.get('reward-flow', 'f1')).toBeNull();
    expect(await store.list('reward-flow')).toEqual([]);
    expect(await store.history('reward-flow', 'f1')).toEqual([]);
    expect(await store.globalVersion()).toBe(0);
    expect(await redis.exists(keys.configChanges(), keys.configVersion(), keys.configItems('reward-flow'), keys.configItems('task-definition'))).toBe(0);
  });

  it('versions go 1, 2, 3; history and at return each; the history is bounded; the change stream has one entry per write', async () => {
    const ns = uniqueNamespace('cfgver');
    const store = new ConfigStore(redis, ns, KINDS, { historyKept: 3 });
    const before = Date.now();
    const v1 = await store.put('reward-flow', 'f1', flow(1), 'alice');
    const v2 = await store.put('reward-flow', 'f1', flow(2), { by: 'bob' });
    const v3 = await store.put('reward-flow', 'f1', flow(3));
    expect([v1.version, v2.version, v3.version]).toEqual([1, 2, 3]);
    // Stored as the schema's output: the id filled in from the item's id.
    expect(v1).toEqual({ kind: 'reward-flow', id: 'f1', version: 1, by: 'alice', updatedAt: expect.any(Number), value: { id: 'f1', ...flow(1) } });
    expect(v1.updatedAt).toBeGreaterThanOrEqual(before - 1000);
    expect(await store.get('reward-flow', 'f1')).toEqual(v3);
    expect(await store.history('reward-flow', 'f1')).toEqual([v3, v2, v1]);
    expect(await store.history('reward-flow', 'f1', 2)).toEqual([v3, v2]);
    expect(await store.at('reward-flow', 'f1', 1)).toEqual(v1);
    expect(await store.at('reward-flow', 'f1', 2)).toEqual(v2);
    expect(await store.at('reward-flow', 'f1', 3)).toEqual(v3);
    expect(await store.at('reward-flow', 'f1', 4)).toBeNull();

    // A definition claimed under version 1 can still read it after later versions (until it ages out).
    await store.put('reward-flow', 'f1', flow(4));
    expect((await store.at('reward-flow', 'f1', 1))).toBeNull();
    expect((await store.history('reward-flow', 'f1')).map((i) => i.version)).toEqual([4, 3, 2]);

    await store.put('task-definition', 't1', { merchantId: 'm1', name: 'Spend 100', type: 'cumulative', events: ['order.paid'], measure: 'amount', target: 100 });
    expect(await store.list('reward-flow')).toEqual(['f1']);
    expect((await store.get('task-definition', 't1'))?.value).toMatchObject({ id: 't1', status: 'ACTIVE', timeZone: 'UTC', reward: { maxRetries: 5 } });
    expect(await store.globalVersion()).toBe(5);
    const entries = await redis.xrange(new Keys(ns).configChanges(), '-', '+');
    expect(entries.map(([, f]) => [f[1], f[3], f[5], f[7]])).toEqual([
      ['reward-flow', 'f1', '1', '1'],
      ['reward-flow', 'f1', '2', '2'],
      ['reward-flow', 'f1', '3', '3'],
      ['reward-flow', 'f1', '4', '4'],
      ['task-definition', 't1', '1', '5'],
    ]);
  });

  it('expectVersion: a write against a version that moved on is refused with VERSION_CONFLICT and changes nothing', async () => {
    const ns = uniqueNamespace('cfgcas');
    const store = new ConfigStore(redis, ns, KINDS);
    await expect(store.put('reward-flow', 'f1', flow(1), { expectVersion: 0 })).resolves.toMatchObject({ version: 1 });
    await expect(store.put('reward-flow', 'f1', flow(2), { expectVersion: 1 })).resolves.toMatchObject({ version: 2 });
    const err = await store.put('reward-flow', 'f1', flow(3), { expectVersion: 1, by: 'late' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigVersionConflictError);
    expect(err).toMatchObject({ code: CONFIG_CENTER_ERRORS.versionConflict, expected: 1, actual: 2 });
    await expect(store.put('reward-flow', 'f1', flow(3), { expectVersion: 0 })).rejects.toMatchObject({ code: 'VERSION_CONFLICT', actual: 2 });
    await expect(store.remove('reward-flow', 'f1', { expectVersion: 1 })).rejects.toMatchObject({ code: 'VERSION_CONFLICT', actual: 2 });
    expect(await store.get('reward-flow', 'f1')).toMatchObject({ version: 2, value: flow(2) });
    expect(await store.globalVersion()).toBe(2);
    await expect(store.remove('reward-flow', 'f1', { expectVersion: 2 })).resolves.toBe(true);
    await expect(store.put('reward-flow', 'f1', flow(5), { expectVersion: 0 })).resolves.toMatchObject({ version: 3 });
  });

  it('two caches (two processes) see a put within 1 s, and a remove too', async () => {
    const ns = uniqueNamespace('cfgprop');
    const store = new ConfigStore(redis, ns, KINDS);
    await store.put('reward-flow', 'f0', flow(1));
    const a = await cacheOf(ns);
    const b = await cacheOf(ns, {}, (() => {
      const other = createRedis({ url: env.url, tls: false }, 'config-center-test-b');
      clients.push(other);
      return other;
    })());
    expect(a.get('reward-flow', 'f0')?.value).toEqual({ id: 'f0', ...flow(1) });
    expect(b.list('reward-flow').map((i) => i.id)).toEqual(['f0']);
    expect(a.version).toBe(1);

    const latencies: number[] = [];
    for (let round = 1; round <= 20; round++) {
      const seen = [a, b].map((c) => nextChange(c, 'reward-flow', 'f1', (ch) => ch.item?.value !== undefined && (ch.item.value as { steps: Array<{ amount: number }> }).steps[0].amount === round));
      const start = performance.now();
      await store.put('reward-flow', 'f1', flow(round));
      await Promise.all(seen.map((p) => p.then(() => latencies.push(performance.now() - start))));
    }
    latencies.sort((x, y) => x - y);
    const p50 = latencies[Math.floor(latencies.length / 2)];
    const max = latencies[latencies.length - 1];
    process.stdout.write(`config-center propagation over ${latencies.length} deliveries: p50 ${p50.toFixed(1)} ms, max ${max.toFixed(1)} ms\n`);
    expect(max).toBeLessThan(1000);
    expect(a.get('reward-flow', 'f1')?.version).toBe(20);
    expect(b.get('reward-flow', 'f1')?.version).toBe(20);

    const removed = [a, b].map((c) => nextChange(c, 'reward-flow', 'f1'));
    const start = performance.now();
    expect(await store.remove('reward-flow', 'f1', 'ops')).toBe(true);
    const changes = await Promise.all(removed);
    expect(performance.now() - start).toBeLessThan(1000);
    expect(changes.map((c) => c.item)).toEqual([null, null]);
    expect(a.get('reward-flow', 'f1')).toBeUndefined();
    expect(b.list('reward-flow').map((i) => i.id)).toEqual(['f0']);
    expect(await store.remove('reward-flow', 'f1')).toBe(false);
    // The history outlives the item, and the versions go on where they stopped.
    expect(await store.at('reward-flow', 'f1', 20)).toMatchObject({ version: 20 });
    expect(await store.put('reward-flow', 'f1', flow(1))).toMatchObject({ version: 21 });
    await waitFor('both caches at the store version', async () => a.version === (await store.globalVersion()) && b.version === a.version);
    expect(a.status().loads).toBe(1); // all by the stream: no reload was needed
  });

  it('changes made while a cache is disconnected (put, remove, another kind) are there after it reconnects', async () => {
    const ns = uniqueNamespace('cfgdown');
    const store = new ConfigStore(redis, ns, KINDS);
    await store.put('reward-flow', 'gone', flow(1));
    await store.put('reward-flow', 'kept', flow(1));
    const { proxy, cache } = await cacheBehindProxy(ns);
    expect(cache.list('reward-flow').map((i) => i.id)).toEqual(['gone', 'kept']);

    proxy.cut();
    await sleep(300);
    await store.remove('reward-flow', 'gone');
    await store.put('reward-flow', 'kept', flow(2));
    await store.put('reward-flow', 'new', flow(3));
    await sleep(300);
    expect(cache.get('reward-flow', 'kept')?.version).toBe(1); // still cut off
    proxy.restore();
    await waitFor('the cache to converge after the reconnect', async () => cache.version === (await store.globalVersion()), 10_000);
    expect(cache.list('reward-flow').map((i) => [i.id, i.version])).toEqual([['kept', 2], ['new', 1]]);
    expect(cache.status()).toMatchObject({ loads: 1, applied: 3 }); // caught up from the stream: nothing was trimmed
  });

  it('a change stream trimmed past the cache’s last id while it was disconnected still converges (version check, full reload)', async () => {
    const ns = uniqueNamespace('cfgtrim');
    const store = new ConfigStore(redis, ns, KINDS);
    const keys = new Keys(ns);
    await store.put('reward-flow', 'f1', flow(1));
    const { proxy, cache } = await cacheBehindProxy(ns);
    const heard: ConfigChange[] = [];
    cache.onChange((c) => heard.push(c));
    const loads = cache.status().loads;

    proxy.cut();
    await sleep(200);
    await store.put('reward-flow', 'f1', flow(2));
    await store.put('reward-flow', 'f2', flow(3));
    await store.put('task-definition', 't1', { merchantId: 'm1', name: 'Check in', type: 'recurring', period: 'daily', events: ['checkin'], target: 1 });
    // Every entry the cache has not read is gone: only the global version can tell it missed something.
    await redis.xtrim(keys.configChanges(), 'MAXLEN', 0);
    expect(await redis.xlen(keys.configChanges())).toBe(0);
    proxy.restore();

    await waitFor('the cache to converge on the trimmed stream', async () => cache.version === (await store.globalVersion()), 10_000);
    expect(cache.status().loads).toBe(loads + 1);
    expect(cache.get('reward-flow', 'f1')?.version).toBe(2);
    expect(cache.get('reward-flow', 'f2')?.value).toMatchObject({ steps: [{ amount: 3 }] });
    expect(cache.get('task-definition', 't1')?.value).toMatchObject({ type: 'recurring', weekStartsOn: 1 });
    // The reload told listeners what differed.
    expect(heard.map((c) => `${c.kind}/${c.id}@${c.item?.version}`).sort()).toEqual(['reward-flow/f1@2', 'reward-flow/f2@1', 'task-definition/t1@1']);
    expect(warnings.some((w) => /change stream ends before global version 4/.test(w))).toBe(true);

    // And it follows the stream again afterwards.
    const seen = nextChange(cache, 'reward-flow', 'f1');
    await store.put('reward-flow', 'f1', flow(9));
    expect((await seen).item?.version).toBe(3);
  });

  it('a cache whose connections are killed (CLIENT KILL) reconnects and keeps following', async () => {
    const ns = uniqueNamespace('cfgkill');
    const store = new ConfigStore(redis, ns, KINDS);
    const cache = await cacheOf(ns, { blockMs: 200 });
    const admin = new Redis(env.url);
    try {
      const killed = await admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
      expect(Number(killed)).toBeGreaterThan(0);
      await store.put('reward-flow', 'f1', flow(1)); // made while the cache's read is being re-sent
      await waitFor('the change after CLIENT KILL', () => cache.get('reward-flow', 'f1')?.version === 1, 5_000);
      const seen = nextChange(cache, 'reward-flow', 'f1');
      const start = Date.now();
      await store.put('reward-flow', 'f1', flow(2));
      await seen;
      expect(Date.now() - start).toBeLessThan(1000);
    } finally {
      admin.disconnect();
    }
  });

  it('a write the change stream never carried is found by the periodic version check (the safety net)', async () => {
    const ns = uniqueNamespace('cfgnet');
    const store = new ConfigStore(redis, ns, KINDS);
    await store.put('reward-flow', 'f1', flow(1));
    const cache = await cacheOf(ns, { blockMs: 100, checkIntervalMs: 300 });
    const keys = new Keys(ns);
    // As if an entry were lost: the item and the global version change, the stream does not.
    const item = { ...(await store.get('reward-flow', 'f1'))!, version: 2, value: { id: 'f1', ...flow(7) } };
    await redis.multi().hset(keys.configItems('reward-flow'), 'f1', JSON.stringify({ version: 2, updatedAt: Date.now(), kind: item.kind, id: item.id, value: item.value })).incr(keys.configVersion()).exec();
    const took = await waitFor('the periodic check to reload', () => cache.get('reward-flow', 'f1')?.version === 2, 3_000);
    expect(took).toBeLessThan(1500);
    expect(cache.version).toBe(2);
  });

  it('a stored value the schema refuses now (it got stricter) is skipped with a warning; the last good version stays', async () => {
    const ns = uniqueNamespace('cfgstrict');
    const lenient: ConfigKindSpec = { kind: 'rule', description: 'rules', schema: z.object({ limit: z.number() }) };
    const strict: ConfigKindSpec = { kind: 'rule', description: 'rules', schema: z.object({ limit: z.number().max(10), mode: z.enum(['a', 'b']).default('a') }) };
    const store = new ConfigStore(redis, ns, [lenient]);
    await store.put('rule', 'ok', { limit: 5 });
    await store.put('rule', 'toobig', { limit: 50 });
    const cache = await cacheOf(ns, {}, redis, [strict]);
    expect(cache.list('rule').map((i) => i.id)).toEqual(['ok']);
    expect(cache.get('rule', 'ok')?.value).toEqual({ limit: 5, mode: 'a' }); // read through today's schema
    expect(warnings.join('\n')).toMatch(/skipping rule "toobig" version 1: its stored value fails the schema now \(limit: /);

    await store.put('rule', 'ok', { limit: 99 });
    await store.put('rule', 'later', { limit: 1 });
    await waitFor('the later rule', () => cache.get('rule', 'later') !== undefined);
    expect(cache.get('rule', 'ok')).toMatchObject({ version: 1, value: { limit: 5 } });
    expect(warnings.filter((w) => w.includes('"ok" version 2'))).toHaveLength(1);
    expect(() => cache.get('other', 'x')).toThrow(/no configuration kind "other"; known: rule/);
  });

  it('stop() unblocks the cache’s blocking read at once', async () => {
    const ns = uniqueNamespace('cfgstop');
    const cache = new ConfigCache(redis, ns, KINDS, { blockMs: 30_000, logger });
    await cache.start();
    await sleep(50); // the read is blocked now
    const start = Date.now();
    await cache.stop();
    expect(Date.now() - start).toBeLessThan(500);
    await expect(cache.ready).resolves.toBeUndefined();
  });

  it('ops config list|get|set reach a center kind through configCenterKind (versions as strings, schema errors as INVALID_CONFIG)', async () => {
    const ns = uniqueNamespace('cfgops');
    const store = new ConfigStore(redis, ns, KINDS);
    const registry = new ConfigRegistry([configCenterKind(store, FLOW, { by: 'operator-1' }), configCenterKind(store, TASK)]);
    const cache = await cacheOf(ns);
    const seen = nextChange(cache, 'reward-flow', 'welcome');
    expect(await setConfig(registry, 'reward-flow', 'welcome', flow(10))).toEqual({ kind: 'reward-flow', id: 'welcome', version: '1', value: { id: 'welcome', ...flow(10) } });
    expect((await seen).item?.by).toBe('operator-1');
    expect(await getConfig(registry, 'reward-flow', 'welcome')).toMatchObject({ version: '1' });
    expect(await listConfig(registry, 'reward-flow')).toEqual(['welcome']);
    await expect(setConfig(registry, 'reward-flow', 'welcome', { steps: [] })).rejects.toMatchObject({ code: 'INVALID_CONFIG', message: expect.stringMatching(/merchantId: .*; steps: /) });
    expect(await getConfig(registry, 'reward-flow', 'welcome')).toMatchObject({ version: '1' });
    expect(() => configCenterKind(store, { kind: 'not-in-store', description: '', schema: z.unknown() })).toThrow(/no configuration kind "not-in-store"/);
  });
});

// Provokes the scripts and the cache's transaction on a 3-master Redis Cluster: every key in the {<ns>:cfg} slot.
describe('configuration center on a Redis Cluster', () => {
  let cluster: TestCluster;
  let redis: Cluster;
  beforeAll(async () => {
    cluster = await startTestCluster(3);
    redis = createRedis({ url: '', cluster: cluster.nodes, tls: false }) as Cluster;
  }, 90_000);
  afterAll(async () => {
    redis?.disconnect();
    await cluster?.stop();
  });

  it('writes, history, removal and a cache following the change stream work across the cluster', async () => {
    const ns = uniqueNamespace('cfgcl');
    const store = new ConfigStore(redis, ns, KINDS);
    await store.put('reward-flow', 'f1', flow(1));
    const cache = new ConfigCache(redis, ns, KINDS, { logger: { warn: () => undefined } });
    try {
      await cache.start();
      expect(cache.get('reward-flow', 'f1')?.version).toBe(1);
      const seen = nextChange(cache, 'reward-flow', 'f1');
      const start = Date.now();
      await store.put('reward-flow', 'f1', flow(2), { expectVersion: 1 });
      expect((await seen).item?.version).toBe(2);
      expect(Date.now() - start).toBeLessThan(1000);
      expect((await store.history('reward-flow', 'f1')).map((i) => i.version)).toEqual([2, 1]);
      const gone = nextChange(cache, 'reward-flow', 'f1');
      expect(await store.remove('reward-flow', 'f1')).toBe(true);
      expect((await gone).item).toBeNull();
      expect(cache.version).toBe(await store.globalVersion());
    } finally {
      await cache.stop();
    }
  });
});
