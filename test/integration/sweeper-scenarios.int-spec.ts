import { compileConfig, Keys, MANUAL_INTERVENTION, partitionOf, RedisActorStore, RedisStreamsClient } from '../../common';
import type { CommitTurn, RedisClient } from '../../common';
import { createRedis } from '../../common';
import { resumeFromManual, SWEEP_AUDIT, SWEEP_MAX_RETRIES, SweepExecutor } from '../../common/sweeper';
import type { SweepItem } from '../../common/sweeper';
import { counterActor, CounterState, referralActor } from '../../actors';
import { opsJson, runOps } from '../harness/ops';
import { uniqueNamespace, useTestRedis } from '../harness/redis';
import { auditOf, fastSweep, startSweeper, stickOwner, ticksInInbox, writeOverdueReferrals } from '../harness/sweepers';
import { backlog, fastRuntime, fastWorkerEnv, readRecord, spawnWorker, startWorker, waitFor, WorkerProcess } from '../harness/workers';

const P = 8;

// Scenarios 12–14 of ../shared/design/scenarios.md with the sweepers (apps/sweeper's roles, in this process
// unless a process must die), on a real Redis.
describe('sweepers: scenarios 12–14', () => {
  const env = useTestRedis();
  const cleanup: Array<() => Promise<unknown> | unknown> = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  // Provokes an owner that holds its partition's lease but never fires the actor's due timer.
  it('scenario 12: an actor its owner never moves is re-driven with growing backoff, then lands in manual intervention (listed, with the reason); a returning owner finishes it once', async () => {
    const ns = uniqueNamespace('swp12');
    const keys = new Keys(ns);
    const id = 's12:ann';
    const ref = { type: 'referral', id };
    const p = partitionOf(ref, P);
    await stickOwner(env.redis, keys, [p]);
    await writeOverdueReferrals(env.url, keys, P, [id], 2000);
    const dueBefore = Number(await env.redis.zscore(keys.due(p), `referral/${id}`));
    const sweep = fastSweep({ maxRetries: 3, backoffBaseMs: 200, backoffCapMs: 1000, graceMs: 300 });
    const s = await startSweeper(env.url, { namespace: ns, partitions: P, id: 'sw-12', sweep });
    cleanup.push(() => s.close());

    const rec = await waitFor(async () => {
      const r = await readRecord(env.redis, keys, p, 'referral', id);
      return r?.status === MANUAL_INTERVENTION ? r : null;
    }, 15_000, 'manual intervention');
    expect(rec.retryCount).toBe(3);
    expect(rec.scheduleTime).toBeNull();
    expect((rec.state as { status: string }).status).toBe('RELATION_ESTABLISHED'); // the actor's own state is untouched
    // Listed for ops, out of the due index (nothing sweeps it again), with the reason in its history.
    expect(Number(await env.redis.zscore(keys.manual(p), `referral/${id}`))).toBeGreaterThan(dueBefore);
    expect(await env.redis.zscore(keys.due(p), `referral/${id}`)).toBeNull();
    const audit = await auditOf(env.redis, keys, P, ref);
    const redrives = audit.filter((a) => a.message === SWEEP_AUDIT.redrive);
    const manual = audit.filter((a) => a.message === SWEEP_AUDIT.manual);
    expect(redrives).toHaveLength(3);
    expect(manual).toHaveLength(1);
    expect(manual[0]!.why).toMatch(new RegExp(`^${SWEEP_MAX_RETRIES}: `));
    expect(manual[0]).toMatchObject({ from: 'RELATION_ESTABLISHED', to: MANUAL_INTERVENTION });
    const history = await new RedisActorStore(env.redis as unknown as RedisClient, keys).history(p, ref);
    expect(history.at(-1)).toMatchObject({ message: SWEEP_AUDIT.manual });
    // Growing backoff (no jitter here): each re-drive set the next look base × 2^(n−1) later, and the
    // re-drives themselves came further and further apart (backoff + grace, to within a tick).
    const nextLook = redrives.map((a) => Number(/next sweep at (\d+)/.exec(a.effects.join(' '))![1]) - a.at);
    expect(nextLook).toEqual([200, 400, 800]);
    const gaps = redrives.slice(1).map((a, i) => a.at - redrives[i]!.at);
    expect(gaps[1]!).toBeGreaterThan(gaps[0]!);
    expect(gaps[0]!).toBeGreaterThanOrEqual(200 + 300);
    // Each version left its audit record: the sweeper's writes are versions of the actor like any turn.
    expect(audit.map((a) => a.version)).toEqual([1, 2, 3, 4, 5, 6]);
    // One timer tick per re-drive waits in the inbox, named like the owner's own ticks.
    const ticks = (await ticksInInbox(env.redis, keys, p)).get(`referral/${id}`) ?? [];
    expect(ticks).toHaveLength(3);
    expect(ticks[0]).toBe(`timer:referral/${id}:${dueBefore}`);

    // The owner comes back: the ticks waiting in the inbox deliver the deadline once; the application expires
    // (terminal), leaves the manual index, and its retry count starts over.
    await env.redis.del(keys.lease(p));
    const worker = await startWorker(env.url, { runtime: fastRuntime(ns, { partitions: P }), actors: [referralActor] });
    cleanup.push(() => worker.close());
    const done = await waitFor(async () => {
      const r = await readRecord<{ status: string }>(env.redis, keys, p, 'referral', id);
      return r?.state.status === 'EXPIRED' ? r : null;
    }, 10_000, 'the application to expire');
    await waitFor(async () => (await backlog(env.redis, keys, P)) === 0, 10_000, 'the inbox to drain');
    expect(done.status).toBe('EXPIRED');
    expect(done.retryCount).toBe(0);
    expect(await env.redis.zscore(keys.manual(p), `referral/${id}`)).toBeNull();
    expect((await auditOf(env.redis, keys, P, ref)).filter((a) => a.message === 'TaskDeadline')).toHaveLength(1);
  }, 30_000);

  // Provokes an actor the sweepers gave up on (no re-drive allowed) whose owner then comes back.
  it('scenario 12 (ops): an actor the sweepers sent to manual intervention stays there when its owner returns, until ops resumes it; then it finishes once', async () => {
    const ns = uniqueNamespace('swp12o');
    const keys = new Keys(ns);
    const id = 's12o:bea';
    const ref = { type: 'referral', id };
    const member = `referral/${id}`;
    const p = partitionOf(ref, P);
    await stickOwner(env.redis, keys, [p]);
    await writeOverdueReferrals(env.url, keys, P, [id], 2000);
    const s = await startSweeper(env.url, { namespace: ns, partitions: P, id: 'sw-12o', sweep: fastSweep({ maxRetries: 0 }) });
    cleanup.push(() => s.close());
    await waitFor(async () => (await readRecord(env.redis, keys, p, 'referral', id))?.status === MANUAL_INTERVENTION, 10_000, 'manual intervention');
    expect(await env.redis.zscore(keys.manual(p), member)).not.toBeNull();

    // The owner comes back: nothing is due and nothing waits in the inbox, so the actor stays where it is.
    await env.redis.del(keys.lease(p));
    const worker = await startWorker(env.url, { runtime: fastRuntime(ns, { partitions: P }), actors: [referralActor] });
    cleanup.push(() => worker.close());
    await waitFor(async () => (await env.redis.get(keys.lease(p))) !== null, 5_000, 'the worker to take the partition');
    await new Promise((r) => setTimeout(r, 500));
    expect((await readRecord(env.redis, keys, p, 'referral', id))?.status).toBe(MANUAL_INTERVENTION);

    // The operator finds it in the queue and retries it through the CLI: the actor's own state never went to
    // manual intervention, so ops resumes it at the runtime level (one versioned write) instead of asking it.
    const target = { url: env.url, ns, partitions: P };
    const listed = await opsJson<{ items: Array<{ actor: string; reason: string }> }>(target, ['manual', 'list']);
    expect(listed.items.map((i) => i.actor)).toEqual([member]);
    const retried = await runOps(target, ['manual', 'retry', 'referral', id], { env: { PROPEL_OPERATOR: 'ana' } });
    expect(retried).toMatchObject({ code: 0 });
    expect(retried.stdout).toMatch(/RELATION_ESTABLISHED/);
    const redis = createRedis({ url: env.url, tls: false }, 'scenario-12-ops');
    cleanup.push(() => redis.disconnect());
    const done = await waitFor(async () => {
      const r = await readRecord<{ status: string }>(env.redis, keys, p, 'referral', id);
      return r?.state.status === 'EXPIRED' ? r : null;
    }, 10_000, 'the application to expire');
    expect(done).toMatchObject({ status: 'EXPIRED', retryCount: 0 });
    expect(await env.redis.zscore(keys.manual(p), member)).toBeNull();
    const audit = await auditOf(env.redis, keys, P, ref);
    expect(audit.filter((a) => a.message === SWEEP_AUDIT.resume)).toHaveLength(1);
    expect(audit.filter((a) => a.message === 'TaskDeadline')).toHaveLength(1);
    // Resuming again (a second click) changes nothing: the actor is no longer in manual intervention.
    expect(await resumeFromManual(redis, keys, p, ref, { operator: 'ana' })).toEqual({ outcome: 'not-manual', status: 'EXPIRED' });
  }, 30_000);

  // Provokes a worker process dying with SIGKILL while timers of its actors are coming due.
  it('scenario 13: a worker killed with SIGKILL mid-stream — within lease TTL + one sweep nothing is stuck, and no timer ran twice', async () => {
    const ns = uniqueNamespace('swp13');
    const keys = new Keys(ns);
    // Fixed ids that split the 8 partitions 3/5 (see sigkill-failover.int-spec.ts).
    const a: WorkerProcess = spawnWorker(env.url, fastWorkerEnv(ns, P, { PROPEL_WORKER_ID: 'kill-a' }));
    const b: WorkerProcess = spawnWorker(env.url, fastWorkerEnv(ns, P, { PROPEL_WORKER_ID: 'kill-b' }));
    cleanup.push(() => [a, b].forEach((w) => w.child.exitCode === null && w.child.kill('SIGKILL')));
    await Promise.all([a.workerId, b.workerId]);
    await waitFor(async () => {
      const holders = await Promise.all([...Array(P).keys()].map((p) => env.redis.get(keys.lease(p))));
      return holders.includes('kill-a') && holders.includes('kill-b') && holders.every((h) => h !== null);
    }, 20_000, 'both workers to hold partitions');
    const sweep = fastSweep({ graceMs: 500 });
    const s = await startSweeper(env.url, { namespace: ns, partitions: P, id: 'sw-13', sweep });
    cleanup.push(() => s.close());
    const client = new RedisStreamsClient({ redis: { url: env.url }, runtime: { namespace: ns, partitions: P } });
    cleanup.push(() => client.close());

    // 160 counters, each with a timer coming due over the 1.6 s around the kill.
    const ids = Array.from({ length: 160 }, (_, i) => `t${i}`);
    const start = Date.now() + 400;
    await Promise.all(ids.map((id, i) => client.ask(counterActor, id, { type: 'incrementLater', by: 1, at: start + i * 10 })));
    await waitFor(() => Date.now() >= start + 500, 5_000, 'some timers to come due');
    a.child.kill('SIGKILL');
    const killedAt = Date.now();
    await a.exited;

    const leaseTtl = 800;
    const bound = leaseTtl + sweep.graceMs + sweep.tickMs + 2000; // lease TTL + one sweep, and room for this shared machine
    await waitFor(async () => {
      const recs = await Promise.all(ids.map((id) => readRecord<CounterState>(env.redis, keys, partitionOf({ type: 'counter', id }, P), 'counter', id)));
      return recs.every((r) => r?.state.count === 1);
    }, 15_000, 'every timer to fire');
    const movedAfter = Date.now() - killedAt;
    // Nothing stuck: no actor left in any due index, nothing waiting in an inbox.
    for (let p = 0; p < P; p++) expect(await env.redis.zcard(keys.due(p))).toBe(0);
    await waitFor(async () => (await backlog(env.redis, keys, P)) === 0, 5_000, 'the backlog to drain');
    await new Promise((r) => setTimeout(r, 300));
    for (const id of ids) {
      const r = await readRecord<CounterState>(env.redis, keys, partitionOf({ type: 'counter', id }, P), 'counter', id);
      expect(r?.state.count).toBe(1); // applied once, never twice
      expect(r?.retryCount).toBe(0);
    }
    expect(movedAfter).toBeLessThan(bound);
    // eslint-disable-next-line no-console
    console.log(`scenario 13: every timer fired ${movedAfter} ms after the SIGKILL (bound ${bound} ms); sweeper: ${s.sweeper.describe()}`);
  }, 60_000);

  // Provokes two executors deciding on the same version of one stalled actor, and an item delivered twice.
  it('scenario 14: two executors on one actor — one advances it, the other is refused by the version check; a redelivered item drives nothing; one audit record', async () => {
    const ns = uniqueNamespace('swp14');
    const keys = new Keys(ns);
    const id = 's14:kay';
    const ref = { type: 'referral', id };
    const member = `referral/${id}`;
    const p = partitionOf(ref, P);
    await stickOwner(env.redis, keys, [p]);
    await writeOverdueReferrals(env.url, keys, P, [id], 5000);
    const redis = createRedis({ url: env.url, tls: false }, 'scenario-14');
    cleanup.push(() => redis.disconnect());
    const sweep = compileConfig({ sweep: fastSweep() }).sweep;
    const runtime = { auditMaxLen: 10_000, historyLimit: 50 };
    const executor = (name: string) => new SweepExecutor({ redis, keys, sweep, runtime, consumer: name });
    const [one, two] = [executor('exec-1'), executor('exec-2')];
    const store = new RedisActorStore(redis, keys);
    const item: SweepItem = { partition: p, member, score: Number(await env.redis.zscore(keys.due(p), member)), tick: 'test' };

    // Both read version 2, then both write: the script lets one through and refuses the other as stale.
    const [readByOne, readByTwo] = await Promise.all([store.load(p, ref), store.load(p, ref)]);
    expect(readByOne!.version).toBe(2);
    const now = Date.now();
    const outcomes = await Promise.all([one.apply(item, readByOne, now), two.apply(item, readByTwo, now)]);
    expect(outcomes.sort()).toEqual(['driven', 'stale']);
    const after = (await store.load(p, ref))!;
    expect(after).toMatchObject({ version: 3, retryCount: 1 });

    // The same item again (redelivered, or a duplicate from two ticks), end to end: its score moved, nothing is written.
    expect(await one.execute(item)).toBe('moved');
    expect(await two.execute(item)).toBe('moved');
    // And five executors racing over the same item through the whole path (lease, read, script).
    const raced = await Promise.all(Array.from({ length: 5 }, (_, i) => executor(`exec-r${i}`).execute(item)));
    expect(raced.filter((o) => o === 'driven')).toHaveLength(0);

    expect((await store.load(p, ref))!.version).toBe(3);
    expect((await auditOf(env.redis, keys, P, ref)).filter((a) => a.message === SWEEP_AUDIT.redrive)).toHaveLength(1);
    expect((await ticksInInbox(env.redis, keys, p)).get(member)).toHaveLength(1);

    // A turn committed between an executor's read and its write: refused by the version check, nothing written.
    const stalled = (await store.load(p, ref))!;
    const later: SweepItem = { ...item, score: stalled.scheduleTime! };
    const turn: CommitTurn = { ref, entryId: '', expectedVersion: stalled.version, record: { ...stalled, updatedAt: Date.now() }, dueChanged: false, outbox: [], local: [], audit: [] };
    expect(await store.commit(p, [turn], '')).toEqual([4]);
    expect(await one.apply(later, stalled, Date.now() + sweep.graceMs + 5000)).toBe('stale');
    expect((await auditOf(env.redis, keys, P, ref)).filter((a) => a.message === SWEEP_AUDIT.redrive)).toHaveLength(1);
    // Fresh items of several actors race the same way: each is driven exactly once.
    const many = Array.from({ length: 30 }, (_, i) => `s14:m${i}`);
    const where = await writeOverdueReferrals(env.url, keys, P, many, 5000);
    await stickOwner(env.redis, keys, [...new Set(where.values())]);
    const items = await Promise.all(many.map(async (mid) => ({ partition: where.get(mid)!, member: `referral/${mid}`, score: Number(await env.redis.zscore(keys.due(where.get(mid)!), `referral/${mid}`)), tick: 't' })));
    const results = await Promise.all(items.flatMap((it) => [one.execute(it), two.execute(it), one.execute(it)]));
    expect(results.filter((o) => o === 'driven')).toHaveLength(many.length);
    for (const mid of many) {
      expect((await auditOf(env.redis, keys, P, { type: 'referral', id: mid })).filter((a) => a.message === SWEEP_AUDIT.redrive)).toHaveLength(1);
    }
  }, 30_000);
});
