import { Redis } from 'ioredis';
import { ConfigStore, createRedis, Keys, partitionOf, RedisStreamsClient } from '../../common';
import type { ActorRecord } from '../../common';
import { presetTaskPeriod, referralActor, taskActor, taskActorId, termsOf } from '../../actors';
import type { ActiveTaskState, ReferralState, TaskDefinitionInput, TaskState } from '../../actors';
import { ActivityComponent, ActivityKeys } from '../../apps/worker/components/activity';
import { TASK_CONFIG_KINDS, TaskKeys, TaskRewards } from '../../apps/worker/components/task';
import { uniqueNamespace, useTestRedis } from '../harness/redis';
import { fastWorkerEnv, readRecord, spawnWorker, waitFor, WorkerProcess } from '../harness/workers';

// The task center end to end through a real worker process (apps/worker/main.ts): definitions and flows in the
// configuration center, receipts as plain XADDs on the ingest stream, rewards through the reward components.

const PARTITIONS = 8;
const M = 'shop1';

describe('task center through a real worker', () => {
  const env = useTestRedis();
  // Nested, so the worker and connections close before the Redis above stops (afterAll hooks run outer-last).
  describe('with one worker process', () => tests(env));
});

function tests(env: ReturnType<typeof useTestRedis>): void {
  const ns = uniqueNamespace('tasks');
  const keys = new Keys(ns);
  const taskKeys = new TaskKeys(ns);
  let redis: Redis;
  let store: ConfigStore;
  let client: RedisStreamsClient;
  let rewards: TaskRewards;
  let worker: WorkerProcess;

  beforeAll(async () => {
    redis = createRedis({ url: env.url, tls: false }, 'task-center-test') as Redis;
    store = new ConfigStore(redis, ns, TASK_CONFIG_KINDS);
    rewards = new TaskRewards(redis, taskKeys);
    client = new RedisStreamsClient({ redis: { url: env.url }, runtime: { namespace: ns, partitions: PARTITIONS } });
    worker = spawnWorker(env.url, fastWorkerEnv(ns, PARTITIONS));
    await worker.workerId;
  }, 60_000);

  afterAll(async () => {
    worker?.child.kill('SIGTERM');
    await worker?.exited;
    await client?.close();
    redis?.disconnect();
  });

  const task = (id: string) => readRecord<TaskState>(redis, keys, partitionOf({ type: 'task', id }, PARTITIONS), 'task', id);
  const active = async (id: string) => (await task(id))?.state as ActiveTaskState | undefined;
  const receipt = (userId: string, event: string, eventId: string, occurredAt = Date.now(), extra: Record<string, string> = {}) =>
    redis.xadd(keys.ingest(), '*', 'event', event, 'userId', userId, 'eventId', eventId, 'occurredAt', String(occurredAt), ...Object.entries(extra).flat());
  async function claim(userId: string, defId: string, period = 'once'): Promise<string> {
    const def = await store.get<TaskDefinitionInput>('task', defId);
    const parsed = TASK_CONFIG_KINDS[0].schema.parse(def!.value) as Parameters<typeof termsOf>[0];
    const id = taskActorId(userId, defId, period);
    await client.ask(taskActor, id, { type: 'Claim', userId, period, terms: termsOf(parsed, def!.version), claimedAt: Date.now() }, { timeoutMs: 10_000 });
    // The actor writes its subscription through a component call right after the claim.
    await waitFor(async () => (await active(id))?.subscribed, 10_000, `${id} subscribed`);
    return id;
  }
  const pointsFlow = (id: string, amount: number, notify = true) => store.put('flow', id, { id, merchantId: M, steps: [{ type: 'points', amount }, ...(notify ? [{ type: 'notify' as const, template: 'task-reward' }] : [])] });

  it('scenario 17: a staged task with duplicate and reordered receipts counts each event once and rewards each stage once', async () => {
    await pointsFlow('s17-a', 10);
    await pointsFlow('s17-b', 20);
    await pointsFlow('s17-c', 30);
    await store.put('task', 'orders3', { id: 'orders3', merchantId: M, name: 'Three stages of orders', type: 'staged', events: ['order.paid'], stages: [{ threshold: 2, flow: 's17-a' }, { threshold: 4, flow: 's17-b' }, { threshold: 6, flow: 's17-c' }] });
    const id = await claim('u17', 'orders3');
    const t0 = Date.now() - 60_000;
    // Six orders, occurring in order, delivered shuffled and each one to three times (some under new stream ids).
    const deliveries = [4, 1, 4, 6, 2, 2, 5, 3, 1, 6, 6, 4, 3];
    for (const n of deliveries) await receipt('u17', 'order.paid', `o-${n}`, t0 + n * 1_000);
    const done = await waitFor(async () => {
      const s = await active(id);
      return s?.status === 'REWARDED' ? s : undefined;
    }, 20_000, 'REWARDED');
    expect(done.progress).toBe(6);
    expect(new Set(done.counted)).toEqual(new Set(['o-1', 'o-2', 'o-3', 'o-4', 'o-5', 'o-6']));
    expect(done.stages.map((s) => s.status)).toEqual(['GRANTED', 'GRANTED', 'GRANTED']);
    // One grant per (task, stage): the balance is each stage's points once, one ledger entry per stage.
    expect((await rewards.balances('u17')).points).toBe(60);
    const ledger = await rewards.ledger('u17', 100);
    const pointEntries = ledger.filter((e) => e.type === 'points');
    expect(pointEntries).toHaveLength(3);
    expect(new Set(pointEntries.map((e) => e.key)).size).toBe(3);
    // On the notifier's stream: one notification per stage (the flows' notify steps) and the task's TASK_REWARDED.
    const notes = await redis.xrange(keys.named('notifications'), '-', '+');
    expect(notes.filter(([, f]) => f.join(' ').includes(id)).length).toBe(3 + 1);
    // Every committed version left one audit record (the history list holds the actor's whole life here).
    const rec = (await task(id)) as ActorRecord<TaskState>;
    const history = await redis.lrange(keys.history(partitionOf({ type: 'task', id }, PARTITIONS), { type: 'task', id }), 0, -1);
    expect(history.length).toBeGreaterThanOrEqual(rec.version);
  });

  it('scenario 18: a receipt that never arrives leaves the task in progress until its deadline, then it expires, once', async () => {
    await store.put('task', 'quick2', { id: 'quick2', merchantId: M, name: 'Two orders in 3 s', type: 'deadline', events: ['order.paid'], target: 2, withinMs: 3_000, flow: 's17-a' });
    const id = await claim('u18', 'quick2');
    await receipt('u18', 'order.paid', 'q-1');
    await waitFor(async () => (await active(id))?.progress === 1, 10_000, 'first receipt counted');
    expect((await active(id))?.status).toBe('IN_PROGRESS');
    const expired = await waitFor(async () => {
      const s = await active(id);
      return s?.status === 'EXPIRED' ? s : undefined;
    }, 15_000, 'EXPIRED');
    expect(expired.stages[0].status).toBe('LOCKED');
    const versionAtExpiry = (await task(id))!.version;
    // A receipt that occurred after the deadline never reopens it; the balance was never touched.
    await receipt('u18', 'order.paid', 'q-2');
    await new Promise((r) => setTimeout(r, 500));
    const after = (await task(id))!;
    expect(after.status).toBe('EXPIRED');
    expect(after.version).toBeLessThanOrEqual(versionAtExpiry + 1);
    expect((await rewards.balances('u18')).points).toBe(0);
    // Unsubscribed: later receipts for this user no longer route to it.
    await waitFor(async () => !(await redis.hexists(taskKeys.subscriptions('u18'), id)), 10_000, 'unsubscribed');
  }, 30_000);

  it('scenario 18 (replay): an earned reward whose flow is missing fails, and the scheduled replay grants it once after the merchant fixes it', async () => {
    await store.put('task', 'replay1', {
      id: 'replay1', merchantId: M, name: 'One order', type: 'one-shot', events: ['order.paid'], flow: 'later',
      reward: { maxRetries: 0, backoffBaseMs: 100, backoffCapMs: 100, replayIntervalMs: 1_500, maxReplays: 3 },
    });
    const id = await claim('u18r', 'replay1');
    await receipt('u18r', 'order.paid', 'r-1');
    const failed = await waitFor(async () => {
      const s = await active(id);
      return s?.status === 'FAILED' ? s : undefined;
    }, 10_000, 'FAILED');
    expect(failed.stages[0]).toMatchObject({ status: 'FAILED' });
    expect(JSON.stringify(failed.stages[0])).toContain('FLOW_NOT_FOUND');
    await pointsFlow('later', 7, false);
    const rewarded = await waitFor(async () => {
      const s = await active(id);
      return s?.status === 'REWARDED' ? s : undefined;
    }, 15_000, 'REWARDED after replay');
    expect(rewarded.replays).toBeGreaterThanOrEqual(1);
    expect((await rewards.balances('u18r')).points).toBe(7);
    expect((await rewards.ledger('u18r', 10)).filter((e) => e.type === 'points')).toHaveLength(1);
  }, 30_000);

  it('a configuration change reaches the running worker without a restart; a claimed task keeps its version', async () => {
    const pid = worker.child.pid;
    await pointsFlow('daily-pts', 5, false);
    await store.put('task', 'cfg1', { id: 'cfg1', merchantId: M, name: 'Two orders', type: 'cumulative', events: ['order.paid'], target: 2, flow: 'daily-pts' });
    const before = await claim('ucfg-a', 'cfg1'); // claimed under v1: target 2
    // The merchant raises the target and the reward; the worker is the same process throughout.
    await store.put('task', 'cfg1', { id: 'cfg1', merchantId: M, name: 'Three orders', type: 'cumulative', events: ['order.paid'], target: 3, flow: 'daily-pts' });
    const changedAt = Date.now();
    await pointsFlow('daily-pts', 50, false);
    const after = await claim('ucfg-b', 'cfg1');
    // The promise under test: every process sees a change within a second (no restart, no polling by the test).
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await active(before))!.terms).toMatchObject({ version: 1, stages: [{ threshold: 2 }] });
    expect((await active(after))!.terms).toMatchObject({ version: 2, stages: [{ threshold: 3 }] });
    for (const u of ['ucfg-a', 'ucfg-b']) for (const n of [1, 2, 3]) await receipt(u, 'order.paid', `${u}-${n}`);
    await waitFor(async () => (await active(before))?.status === 'REWARDED' && (await active(after))?.status === 'REWARDED', 15_000, 'both rewarded');
    // Both rewards ran after the flow change, so both use the new flow version (50 points).
    expect((await rewards.balances('ucfg-a')).points).toBe(50);
    expect((await rewards.balances('ucfg-b')).points).toBe(50);
    expect((await active(after))!.stages[0].outcome).toMatchObject({ flow: 'daily-pts', flowVersion: 2 });
    expect(Date.now() - changedAt).toBeLessThan(15_000);
    expect(worker.child.pid).toBe(pid);
    expect(worker.child.exitCode).toBeNull();
  }, 30_000);

  it('a referral completes through a real user task: the invitee uses the coupon, the task reports back, both sides are rewarded', async () => {
    const activity = new ActivityComponent(redis, new ActivityKeys(ns));
    await activity.define({ id: 'ref-act', timeZone: 'Asia/Shanghai', budget: { total: 10 }, prize: { kind: 'points', amount: 10 } });
    await store.put('task', 'use-coupon', { id: 'use-coupon', merchantId: M, name: 'Use the welcome coupon', type: 'one-shot', events: ['coupon.used'] });
    const def = await store.get('task', 'use-coupon');
    const terms = termsOf(TASK_CONFIG_KINDS[0].schema.parse(def!.value) as Parameters<typeof termsOf>[0], def!.version);
    const app = 'ref-act:invitee1';
    await client.tell(referralActor, app, { type: 'Accept', activityId: 'ref-act', sharerId: 'sharer1', inviteeId: 'invitee1', presetTask: terms });
    const taskId = taskActorId('invitee1', 'use-coupon', presetTaskPeriod(app));
    const assigned = await waitFor(async () => {
      const s = await active(taskId);
      return s?.subscribed ? s : undefined;
    }, 15_000, 'preset task claimed and subscribed');
    expect(assigned.origin).toEqual({ type: 'referral', id: app });
    const referral = () => readRecord<ReferralState>(redis, keys, partitionOf({ type: 'referral', id: app }, PARTITIONS), 'referral', app);
    expect((await referral())!.status).toBe('RELATION_ESTABLISHED');
    expect(assigned.deadline).toBe((await referral())!.state.status === 'RELATION_ESTABLISHED' ? ((await referral())!.state as { taskDeadline: number }).taskDeadline : -1);
    // The upstream reports the coupon use twice; the task counts it once and reports back once.
    await receipt('invitee1', 'coupon.used', 'cpn-1');
    await receipt('invitee1', 'coupon.used', 'cpn-1');
    const final = await waitFor(async () => {
      const r = await referral();
      return r?.status === 'BOTH_REWARDED' ? r : undefined;
    }, 20_000, 'BOTH_REWARDED');
    expect((final.state as { completionEventId?: string }).completionEventId).toBe(`task:${taskId}`);
    expect(await activity.budget('ref-act')).toEqual({ limit: 10, used: 2 });
    expect((await active(taskId))!.status).toBe('REWARDED');
  }, 40_000);
}
