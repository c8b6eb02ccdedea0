import { decode, Keys, partitionOf, RedisActorStore } from '../../common';
import type { AuditRecord, RedisClient } from '../../common';
import { ensureGroup, SweepLoader, SWEEP_AUDIT } from '../../common/sweeper';
import { compileConfig, createRedis, GROUPS } from '../../common';
import { uniqueNamespace, useTestRedis } from '../harness/redis';
import { fastSweep, spawnSweeper, startSweeper, stickOwner, SweeperProcess, ticksInInbox, writeOverdueReferrals } from '../harness/sweepers';
import { waitFor } from '../harness/workers';

const P = 8;
const ALL = [...Array(P).keys()];

/** Every actor of `ids` was driven exactly once by the sweepers: one re-drive audit record, one tick in its inbox, retry_count 1. */
async function drivenOnce(env: ReturnType<typeof useTestRedis>, keys: Keys, ids: string[]): Promise<void> {
  const ticks = new Map<string, number>();
  const redrives = new Map<string, number>();
  for (const p of ALL) {
    for (const [member, list] of await ticksInInbox(env.redis, keys, p)) ticks.set(member, list.length);
    const audit = (await env.redis.xrangeBuffer(keys.audit(p), '-', '+')) as Array<[Buffer, Buffer[]]>;
    for (const [, f] of audit) {
      const a = decode<AuditRecord>(f[1]!);
      if (a.message === SWEEP_AUDIT.redrive) redrives.set(a.actor, (redrives.get(a.actor) ?? 0) + 1);
    }
  }
  const wrong = ids.filter((id) => redrives.get(`referral/${id}`) !== 1 || ticks.get(`referral/${id}`) !== 1);
  expect(wrong.map((id) => `${id}: ${redrives.get(`referral/${id}`) ?? 0} re-drives, ${ticks.get(`referral/${id}`) ?? 0} ticks`)).toEqual([]);
  for (const p of ALL) {
    const mine = ids.filter((id) => partitionOf({ type: 'referral', id }, P) === p);
    const records = await new RedisActorStore(env.redis as unknown as RedisClient, keys).loadMany(p, mine.map((id) => ({ type: 'referral', id })));
    expect(records.filter((r) => r?.retryCount !== 1)).toEqual([]);
  }
}

async function pendingOf(env: ReturnType<typeof useTestRedis>, stream: string, group: string, consumer: string): Promise<number> {
  const rows = (await env.redis.xpending(stream, group, '-', '+', 1000, consumer)) as unknown[];
  return rows.length;
}

// Sweepers that die: the splitter leader in the middle of a tick, and a sweeper holding tasks and items it never finished.
describe('sweepers fail over (a crash loses nothing, nothing is driven twice)', () => {
  // Nested, so the sweeper processes are killed before the Redis of useTestRedis stops (afterAll hooks run in registration order).
  const env = useTestRedis();
  describe('sweeper processes killed mid-work', () => failover(env));
});

function failover(env: ReturnType<typeof useTestRedis>): void {
  const procs: SweeperProcess[] = [];
  afterAll(() => {
    for (const s of procs) if (s.child.exitCode === null) s.child.kill('SIGKILL');
  });

  // Provokes a SIGKILL of the splitter leader after it appended part of a tick's tasks (a pause between tasks makes "mid-tick" wide).
  it('a splitter leader SIGKILLed mid-tick is replaced by another sweeper, and no actor is driven twice', async () => {
    const ns = uniqueNamespace('swlead');
    const keys = new Keys(ns);
    await stickOwner(env.redis, keys, ALL); // owners that never fire: only the sweepers move these actors
    const sweepEnv = {
      PROPEL_NAMESPACE: ns,
      PROPEL_PARTITIONS: String(P),
      PROPEL_SWEEP_TICK_MS: '200',
      PROPEL_SWEEP_GRACE_MS: '200',
      PROPEL_SWEEP_LEADER_TTL_MS: '1500',
      PROPEL_SWEEP_CLAIM_IDLE_MS: '1000',
      PROPEL_SWEEP_ACTOR_LEASE_MS: '1000',
      // One re-drive each within the test: a second one would be a double drive.
      PROPEL_SWEEP_BACKOFF_BASE_MS: '60000',
      PROPEL_SWEEP_BACKOFF_CAP_MS: '60000',
      PROPEL_FAULT_SWEEP_SPLIT_DELAY_MS: '100',
    };
    // Enough stalled actors that the leader's own loader and executor are still at work when it dies.
    const apps = Array.from({ length: 2000 }, (_, i) => `lead:${i}`);
    await writeOverdueReferrals(env.url, keys, P, apps, 1000);
    const ids = ['sw-a', 'sw-b', 'sw-c'];
    for (const id of ids) procs.push(spawnSweeper(env.url, { ...sweepEnv, PROPEL_SWEEPER_ID: id }));
    const added = async () => {
      const info = (await env.redis.xinfo('STREAM', keys.sweepTasks()).catch(() => null)) as unknown[] | null;
      return info ? Number(info[info.indexOf('entries-added') + 1]) : 0;
    };
    // Kill the first leader part-way through its second tick (2 to 5 of its 8 tasks appended): the first tick's
    // look found every partition's oldest overdue actor, the second finds them unmoved and queues them.
    await waitFor(async () => {
      const n = await added();
      return n >= P + 2 && n <= P + 5;
    }, 20_000, 'the leader to be in the middle of its second tick');
    const leaderId = (await env.redis.get(keys.sweepLeader()))!;
    const leader = procs[ids.indexOf(leaderId)]!;
    const written = await added();
    leader.child.kill('SIGKILL');
    await leader.exited;
    const leftPending = (await pendingOf(env, keys.sweepItems(), GROUPS.sweepExecutors, leaderId)) + (await pendingOf(env, keys.sweepTasks(), GROUPS.sweepLoaders, leaderId));

    await Promise.all(procs.filter((s) => s !== leader).map((s) => s.id));
    const successor = await waitFor(async () => {
      const holder = await env.redis.get(keys.sweepLeader());
      return holder && holder !== leaderId ? holder : null;
    }, 5_000, 'another sweeper to lead');
    expect(ids).toContain(successor);
    await waitFor(async () => {
        const store = new RedisActorStore(env.redis as unknown as RedisClient, keys);
      for (const p of ALL) {
        const recs = await store.loadMany(p, apps.filter((id) => partitionOf({ type: 'referral', id }, P) === p).map((id) => ({ type: 'referral', id })));
        if (!recs.every((r) => r?.retryCount === 1)) return false;
      }
      return true;
    }, 15_000, 'every stalled actor to be re-driven');
    // Let what the dead leader left pending be claimed and executed, then check that none of it drove an actor again.
    await waitFor(async () => (await pendingOf(env, keys.sweepItems(), GROUPS.sweepExecutors, leaderId)) + (await pendingOf(env, keys.sweepTasks(), GROUPS.sweepLoaders, leaderId)) === 0, 10_000, "the dead leader's pending entries to be claimed");
    await new Promise((r) => setTimeout(r, 1500));
    await drivenOnce(env, keys, apps);
    // eslint-disable-next-line no-console
    console.log(`leader ${leaderId} killed mid-tick holding ${leftPending} pending entries; ${successor} leads now`);
    expect(await added()).toBeGreaterThan(written + P); // the successor keeps ticking
  }, 45_000);

  // Provokes a sweeper that read items and a task and died before it acknowledged them (its consumer never comes back).
  it('a sweeper that crashed holding execution items and a sweep task loses nothing: both are claimed and every actor is driven once', async () => {
    const ns = uniqueNamespace('swcrash');
    const keys = new Keys(ns);
    await stickOwner(env.redis, keys, ALL);
    const sweep = fastSweep({ claimIdleMs: 800, backoffBaseMs: 60_000, backoffCapMs: 60_000, graceMs: 100 });
    const redis = createRedis({ url: env.url, tls: false }, 'crash-test');
    try {
      // Items for set A, loaded and then read by a sweeper that died.
      const setA = Array.from({ length: 60 }, (_, i) => `crashA:${i}`);
      await writeOverdueReferrals(env.url, keys, P, setA, 1000);
      await ensureGroup(redis, keys.sweepItems(), GROUPS.sweepExecutors);
      await ensureGroup(redis, keys.sweepTasks(), GROUPS.sweepLoaders);
      const loader = new SweepLoader(redis, keys, compileConfig({ sweep }).sweep, 'unused');
      // The first look only notes each partition's oldest overdue actor; a second one finds it unmoved (no owner fires).
      const t = Date.now();
      expect(await loader.load({ tick: 'first-look', from: 0, to: P }, t)).toBe(0);
      expect(await loader.load({ tick: 'before-crash', from: 0, to: P }, t + 1000)).toBe(setA.length);
      const taken = (await env.redis.xreadgroup('GROUP', GROUPS.sweepExecutors, 'sw-dead', 'COUNT', 1000, 'STREAMS', keys.sweepItems(), '>')) as Array<[string, unknown[]]>;
      expect(taken[0]![1]).toHaveLength(setA.length);

      // A live executor (no splitter, no loader: nothing else could queue these actors again) claims them.
      const exec = await startSweeper(env.url, { namespace: ns, partitions: P, id: 'sw-live-exec', roles: ['executor'], sweep });
      try {
        await waitFor(async () => (await pendingOf(env, keys.sweepItems(), GROUPS.sweepExecutors, 'sw-dead')) === 0, 10_000, "the dead sweeper's items to be claimed");
        await waitFor(() => exec.sweeper.executor!.stats.driven === setA.length, 10_000, 'set A to be driven');
        await drivenOnce(env, keys, setA);

        // A sweep task for set B, read by the dead sweeper's loader; a live loader claims and loads it (its first
        // look at each partition), and one more task (the next tick's) finds set B still unmoved.
        const setB = Array.from({ length: 40 }, (_, i) => `crashB:${i}`);
        await writeOverdueReferrals(env.url, keys, P, setB, 1000);
        await env.redis.xadd(keys.sweepTasks(), '*', 't', 'dead-tick', 'from', '0', 'to', String(P));
        await env.redis.xreadgroup('GROUP', GROUPS.sweepLoaders, 'sw-dead', 'COUNT', 10, 'STREAMS', keys.sweepTasks(), '>');
        const load = await startSweeper(env.url, { namespace: ns, partitions: P, id: 'sw-live-load', roles: ['loader'], sweep });
        try {
          await waitFor(async () => (await pendingOf(env, keys.sweepTasks(), GROUPS.sweepLoaders, 'sw-dead')) === 0, 10_000, "the dead sweeper's task to be claimed");
          await waitFor(() => load.sweeper.loader!.stats.tasks === 1, 5_000, 'the claimed task to be loaded');
          await new Promise((r) => setTimeout(r, 600));
          await env.redis.xadd(keys.sweepTasks(), '*', 't', 'next-tick', 'from', '0', 'to', String(P));
          await waitFor(() => exec.sweeper.executor!.stats.driven === setA.length + setB.length, 10_000, 'set B to be driven');
          expect(load.sweeper.loader!.stats.emitted).toBe(setB.length); // set A moved on: only set B was stalled
          await drivenOnce(env, keys, [...setA, ...setB]);
        } finally {
          await load.close();
        }
      } finally {
        await exec.close();
      }
    } finally {
      redis.disconnect();
    }
  }, 30_000);
}
