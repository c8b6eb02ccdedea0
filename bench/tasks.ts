/**
 * Task center benchmark: completion receipts into staged tasks through real worker processes (apps/worker: the
 * ingest router with the receipt resolver, the task actor, the reward components) on a private redis-server
 * (AOF, fsync everysec). Each user has one auto-enrolled staged task (thresholds 1, 3, 5; each stage's flow
 * grants points and notifies); every user sends 5 receipts as plain XADDs on the ingest stream.
 *
 *   node -r ./scripts/register.js bench/tasks.ts [--users N] [--rate R --seconds S] [--workers W] [--quick]
 *        [--phases peer,saturation,latency] [--quiet-wait=false]
 *
 * It reports receipts/s at saturation (all receipts appended at once, timed from the first append to the last
 * stage reward) and, at a fixed offered rate, the latency from appending the receipt that crosses a threshold to
 * that stage's reward (the Redis time in the id of the flow's notify entry). The peer, run first in the same
 * process on the same Redis, is the raw stream ceiling: the same receipts appended and consumed through a
 * consumer group with XACK and nothing else — the receipts/s ratio says what the task center costs over it.
 *
 * Exits non-zero only when something failed (a phase threw, a correctness check did not match).
 */
import 'reflect-metadata';
import { Redis } from 'ioredis';
import { ConfigStore, createRedis, decodeEnvelope, Keys } from '../common';
import { TASK_CONFIG_KINDS, TaskKeys } from '../apps/worker/components/task';
import { RedisProcess, startRedisServer } from '../test/harness/redis-server';
import { latencyChart, barChart, Part, svgDocument } from './lib/svg';
import { every, fmtInt, fmtMs, freshNamespace, log, parseArgs, quantile, renderTable, reportFailures, saveResults, sleep } from './lib/util';
import { allReady, killTracked, spawnApp, track, WorkerProcess } from './lib/workers';
import { cpuPercent, cpuSnapshot, fmtCpu, waitQuiet } from './lib/cpu';

const P = 16;
const STAGES = [1, 3, 5];
const RECEIPTS_PER_USER = 5;
const POINTS = [10, 20, 30];
const STALL_MS = 30_000;

const args = parseArgs(process.argv.slice(2), { users: 4_000, rate: 500, seconds: 20, workers: 2, phases: 'peer,saturation,latency', quick: false, quietWait: true });
if (args.quick) Object.assign(args, { users: 300, rate: 200, seconds: 5 });
const phases = new Set(String(args.phases).split(','));

interface Fleet {
  server: RedisProcess;
  redis: Redis;
  ns: string;
  keys: Keys;
  workers: WorkerProcess[];
}

async function setup(): Promise<Fleet> {
  const server = await startRedisServer(['--appendonly', 'yes', '--appendfsync', 'everysec']);
  const ns = freshNamespace('tasks');
  const redis = createRedis({ url: server.url, tls: false }, 'bench-tasks') as Redis;
  const store = new ConfigStore(redis, ns, TASK_CONFIG_KINDS);
  for (let i = 0; i < STAGES.length; i++) {
    await store.put('flow', `stage${i + 1}`, { id: `stage${i + 1}`, merchantId: 'bench', steps: [{ type: 'points', amount: POINTS[i] }, { type: 'notify', template: `stage${i + 1}` }] });
  }
  await store.put('task', 'orders', {
    id: 'orders',
    merchantId: 'bench',
    name: 'Orders in three stages',
    type: 'staged',
    enrolment: 'auto',
    events: ['order.paid'],
    stages: STAGES.map((threshold, i) => ({ threshold, flow: `stage${i + 1}` })),
  });
  const env = { PROPEL_REDIS_URL: server.url, PROPEL_NAMESPACE: ns, PROPEL_PARTITIONS: String(P), PROPEL_METRICS_PORT: '0' };
  const workers = Array.from({ length: Number(args.workers) }, (_, i) => track(spawnApp(`worker${i + 1}`, 'apps/worker/main.ts', { ...env, PROPEL_WORKER_ID: `bench-w${i + 1}` }, { echoWarnings: true })));
  await allReady(workers);
  return { server, redis, ns, keys: new Keys(ns), workers };
}

/** The raw ceiling: the same entries appended and consumed through a consumer group, XACK and nothing else. */
async function peer(redis: Redis, n: number): Promise<number> {
  const stream = `peer:${Date.now()}`;
  await redis.xgroup('CREATE', stream, 'g', '0', 'MKSTREAM');
  const start = performance.now();
  const consumer = redis.duplicate();
  let acked = 0;
  const consume = (async () => {
    while (acked < n) {
      const reply = (await consumer.xreadgroup('GROUP', 'g', 'c', 'COUNT', 200, 'BLOCK', 1000, 'STREAMS', stream, '>')) as Array<[string, Array<[string, string[]]>]> | null;
      const entries = reply?.[0]?.[1] ?? [];
      if (entries.length) {
        await consumer.xack(stream, 'g', ...entries.map(([id]) => id));
        acked += entries.length;
      }
    }
  })();
  for (let i = 0; i < n; i += 500) {
    const pipe = redis.pipeline();
    for (let j = i; j < Math.min(n, i + 500); j++) pipe.xadd(stream, '*', 'event', 'order.paid', 'userId', `p${j}`, 'eventId', `p${j}`, 'occurredAt', String(Date.now()));
    await pipe.exec();
  }
  await consume;
  const seconds = (performance.now() - start) / 1000;
  consumer.disconnect();
  await redis.del(stream);
  return n / seconds;
}

function receiptArgs(keys: Keys, user: string, n: number): Array<string | number> {
  return [keys.ingest(), '*', 'event', 'order.paid', 'userId', user, 'eventId', `${user}-o${n}`, 'occurredAt', Date.now()];
}

/** Stage rewards seen on the notifications stream since `from`: notificationId `<taskId>#s<i>#1` → Redis ms. */
async function rewardsSince(redis: Redis, keys: Keys, from: string, into: Map<string, number>): Promise<string> {
  let cursor = from;
  for (;;) {
    const entries = (await redis.xrangeBuffer(keys.named('notifications'), `(${cursor}`, '+', 'COUNT', 5_000)) as Array<[Buffer, Buffer[]]>;
    if (entries.length === 0) return cursor;
    for (const [idBuf, fields] of entries) {
      cursor = idBuf.toString();
      const data = decodeEnvelope<{ notificationId?: string }>(fields[1]).data;
      const m = /^(.*):orders:once#s(\d+)#1$/.exec(data?.notificationId ?? '');
      if (m) into.set(`${m[1]}#${m[2]}`, Number(cursor.split('-')[0]));
    }
  }
}

async function waitRewards(fleet: Fleet, expected: number, seen: Map<string, number>, from: string, what: string): Promise<string> {
  let cursor = from;
  let last = -1;
  let lastChange = Date.now();
  const stop = every(3_000, () => log(`  ${what}: ${fmtInt(seen.size)} / ${fmtInt(expected)} stage rewards`));
  try {
    while (seen.size < expected) {
      cursor = await rewardsSince(fleet.redis, fleet.keys, cursor, seen);
      if (seen.size !== last) {
        last = seen.size;
        lastChange = Date.now();
      } else if (Date.now() - lastChange > STALL_MS) {
        throw new Error(`${what}: stalled at ${seen.size} of ${expected} stage rewards for ${STALL_MS / 1000} s`);
      }
      await sleep(50);
    }
  } finally {
    stop();
  }
  return cursor;
}

async function saturation(fleet: Fleet, users: number): Promise<{ receipts: number; seconds: number; perSecond: number; cpu: Record<string, number> }> {
  const total = users * RECEIPTS_PER_USER;
  const pids = () => Object.fromEntries(fleet.workers.map((w) => [w.label, w.child.pid])).valueOf() as Record<string, number | undefined>;
  const cpuA = cpuSnapshot({ ...pids(), redis: fleet.server.process.pid });
  const start = Date.now();
  // Round-robin by receipt number, so every user's receipts arrive in order but interleaved with everyone's.
  for (let n = 1; n <= RECEIPTS_PER_USER; n++) {
    for (let u = 0; u < users; u += 1_000) {
      const pipe = fleet.redis.pipeline();
      for (let k = u; k < Math.min(users, u + 1_000); k++) pipe.xadd(...(receiptArgs(fleet.keys, `sat${k}`, n) as [string, string, ...string[]]));
      await pipe.exec();
    }
  }
  const seen = new Map<string, number>();
  await waitRewards(fleet, users * STAGES.length, seen, '0-0', 'saturation');
  const lastReward = Math.max(...seen.values());
  const seconds = (lastReward - start) / 1000;
  return { receipts: total, seconds, perSecond: total / seconds, cpu: cpuPercent(cpuA, cpuSnapshot({ ...pids(), redis: fleet.server.process.pid })) };
}

async function latency(fleet: Fleet, rate: number, seconds: number): Promise<number[]> {
  const users = Math.ceil((rate * seconds) / RECEIPTS_PER_USER);
  const sent = new Map<string, number>(); // `<user>#<stage index>` → append time of the receipt crossing it
  const from = (await fleet.redis.xrevrange(fleet.keys.named('notifications'), '+', '-', 'COUNT', 1))[0]?.[0] ?? '0-0';
  const intervalMs = 10;
  const perTick = rate / (1000 / intervalMs);
  let due = 0;
  let issued = 0;
  const total = users * RECEIPTS_PER_USER;
  const start = Date.now();
  while (issued < total) {
    due += perTick;
    const pipe = fleet.redis.pipeline();
    const batch: Array<{ key?: string }> = [];
    while (due >= 1 && issued < total) {
      due -= 1;
      const user = `lat${issued % users}`;
      const n = Math.floor(issued / users) + 1;
      pipe.xadd(...(receiptArgs(fleet.keys, user, n) as [string, string, ...string[]]));
      const stage = STAGES.indexOf(n);
      batch.push(stage >= 0 ? { key: `${user}#${stage}` } : {});
      issued++;
    }
    const now = Date.now();
    for (const b of batch) if (b.key) sent.set(b.key, now);
    await pipe.exec();
    const next = start + ((issued / rate) * 1000);
    await sleep(Math.max(0, next - Date.now()));
  }
  const seen = new Map<string, number>();
  await waitRewards(fleet, users * STAGES.length, seen, from, 'latency');
  const samples: number[] = [];
  for (const [key, at] of sent) {
    const rewarded = seen.get(key);
    if (rewarded !== undefined) samples.push(Math.max(0, rewarded - at));
  }
  return samples.sort((a, b) => a - b);
}

/** Every user's points equal the stages' points once, and each stage rewarded once (correctness, not speed). */
async function check(fleet: Fleet, prefix: string, users: number): Promise<string[]> {
  const taskKeys = new TaskKeys(fleet.ns);
  const expected = POINTS.reduce((a, b) => a + b, 0);
  const failures: string[] = [];
  for (let u = 0; u < users; u += 500) {
    const pipe = fleet.redis.pipeline();
    for (let k = u; k < Math.min(users, u + 500); k++) pipe.hget(taskKeys.balances(`${prefix}${k}`), 'points');
    const res = (await pipe.exec()) ?? [];
    res.forEach(([, v], i) => {
      if (Number(v) !== expected && failures.length < 5) failures.push(`${prefix}${u + i}: ${v} points, expected ${expected}`);
    });
  }
  return failures;
}

async function main(): Promise<void> {
  const failures: string[] = [];
  const fleet = await setup();
  const results: Record<string, unknown> = { args, workers: args.workers, partitions: P, stages: STAGES };
  const parts: Part[] = [];
  try {
    const pids = () => ({ ...Object.fromEntries(fleet.workers.map((w) => [w.label, w.child.pid])), redis: fleet.server.process.pid });
    if (args.quietWait) await waitQuiet('tasks bench', pids);
    const users = Number(args.users);
    let peerRate = NaN;
    if (phases.has('peer')) {
      peerRate = await peer(fleet.redis, users * RECEIPTS_PER_USER);
      log(`peer (raw stream: XADD + XREADGROUP + XACK): ${fmtInt(peerRate)} entries/s`);
      results.peer = { perSecond: peerRate };
    }
    if (phases.has('saturation')) {
      log(`saturation: ${fmtInt(users)} users × ${RECEIPTS_PER_USER} receipts into staged tasks (${STAGES.join(', ')})`);
      const sat = await saturation(fleet, users);
      failures.push(...(await check(fleet, 'sat', users)));
      results.saturation = { ...sat, ratioToPeer: sat.perSecond / peerRate };
      log(`saturation: ${fmtInt(sat.receipts)} receipts in ${sat.seconds.toFixed(2)} s = ${fmtInt(sat.perSecond)} receipts/s (${fmtInt((sat.perSecond * STAGES.length) / RECEIPTS_PER_USER)} stage rewards/s); ${(sat.perSecond / peerRate).toFixed(3)}× the raw stream ceiling; cpu ${fmtCpu(sat.cpu)}`);
      parts.push(barChart({ title: 'Task center: completion receipts per second (staged tasks, 2 workers)', bars: [{ label: 'raw stream ceiling (XADD+XREADGROUP+XACK)', value: peerRate }, { label: 'receipts into staged tasks', value: sat.perSecond }], axisLabel: 'receipts/s' }));
    }
    if (phases.has('latency')) {
      const rate = Number(args.rate);
      log(`latency: ${rate} receipts/s for ${args.seconds} s; receipt → stage reward`);
      const samples = await latency(fleet, rate, Number(args.seconds));
      const p = (q: number) => quantile(samples, q);
      results.latency = { rate, samples: samples.length, p50: p(0.5), p90: p(0.9), p99: p(0.99), max: samples[samples.length - 1] };
      console.log(renderTable(['offered', 'rewards', 'p50', 'p90', 'p99', 'max'], [[`${rate}/s`, fmtInt(samples.length), fmtMs(p(0.5)), fmtMs(p(0.9)), fmtMs(p(0.99)), fmtMs(samples[samples.length - 1])]], [true, true, true, true, true, true]));
      parts.push(latencyChart({ title: `Receipt → stage reward at ${rate} receipts/s`, sortedMs: samples }));
      failures.push(...(await check(fleet, 'lat', Math.ceil((rate * Number(args.seconds)) / RECEIPTS_PER_USER))));
    }
    failures.push(...saveResults('tasks', results, () => (parts.length ? svgDocument(parts) : undefined)));
  } catch (err) {
    failures.push((err as Error).stack ?? String(err));
  } finally {
    await Promise.all(fleet.workers.map((w) => w.stop('SIGTERM')));
    fleet.redis.disconnect();
    await fleet.server.stop();
  }
  reportFailures(failures);
}

process.on('SIGINT', () => {
  killTracked();
  process.exit(130);
});
main().catch((err) => {
  console.error(err);
  killTracked();
  process.exit(1);
});
