import { createRedis, defineActor, ENVELOPE_FIELD, GROUPS, partitionOf, RedisClient, RedisStreamsClient, RedisStreamsServer } from '../../common';
import { counterActor } from '../../actors';
import { status } from '../../common/ops';
import { opsJson, opsScope, runOps } from '../harness/ops';
import { useTestRedis } from '../harness/redis';
import { backlog, startWorker, waitFor } from '../harness/workers';

/** An actor that goes to MANUAL_INTERVENTION when told to: the runtime indexes it like any other. */
const stuckActor = defineActor<{ status: string }, { type: 'giveUp' }>({
  type: 'stuck',
  initial: () => ({ status: 'WAITING' }),
  decide: () => ({ state: { status: 'MANUAL_INTERVENTION' }, why: 'needs a person' }),
});

// Produces known numbers of each thing status counts (due and overdue timers, actors in manual intervention,
// dead letters, entries never read and entries read but never acknowledged) and checks status reports them.
describe('ops status: the numbers match what was produced', () => {
  const env = useTestRedis();
  describe('a worker that produces, then steps away', () => statusScenario(env));
});

function statusScenario(env: ReturnType<typeof useTestRedis>): void {
  const { ns, runtime, partitions, keys, target } = opsScope(env, 'opsstat');
  let worker: RedisStreamsServer | undefined;
  let client: RedisStreamsClient;
  let redis: RedisClient;

  beforeAll(() => {
    client = new RedisStreamsClient({ redis: { url: env.url }, runtime: { namespace: ns, partitions } });
    redis = createRedis({ url: env.url, tls: false }, 'ops-status');
  });
  afterAll(async () => {
    await client?.close();
    await worker?.close();
    redis?.disconnect();
  });

  const per = (type: string, ids: string[]) => {
    const counts = new Array<number>(partitions).fill(0);
    for (const id of ids) counts[partitionOf({ type, id }, partitions)]++;
    return counts;
  };

  it('members, owners, due and overdue, manual, dead letters, lag and pending, per partition and in total', async () => {
    worker = await startWorker(env.url, { runtime: { ...runtime, workerId: 'status-w' }, actors: [counterActor, stuckActor] });
    const later = [...Array(10).keys()].map((i) => `later-${i}`);
    const soon = [...Array(4).keys()].map((i) => `soon-${i}`);
    const stuck = ['s0', 's1', 's2'];
    const soonAt = Date.now() + 4000; // fires after the worker has stepped away: overdue then
    await Promise.all([
      ...later.map((id) => client.ask(counterActor, id, { type: 'incrementLater', by: 1, at: Date.now() + 3_600_000 })),
      ...soon.map((id) => client.ask(counterActor, id, { type: 'incrementLater', by: 1, at: soonAt })),
      ...stuck.map((id) => client.ask(stuckActor, id, { type: 'giveUp' })),
    ]);
    for (let i = 0; i < 3; i++) await env.redis.xadd(keys.inbox(1), '*', ENVELOPE_FIELD, Buffer.from([0xc1, i]));
    await env.redis.xadd(keys.ingest(), '*', 'nonsense', 'yes'); // unroutable: the ingest router dead-letters it
    await waitFor(async () => (await env.redis.xlen(keys.dead(1))) === 3 && (await env.redis.xlen(keys.ingestDead())) === 1 && (await backlog(env.redis, keys, partitions)) === 0, 10_000, 'the poison dead-lettered and everything consumed');

    // While the worker runs (the library, in-process): it is live, heartbeating, owns everything, nothing waits.
    const running = await status({ redis, keys, partitions });
    expect(running.members).toEqual([expect.objectContaining({ id: 'status-w', draining: false, partitions: [...Array(partitions).keys()] })]);
    expect(running.members[0].heartbeatAgeMs).toBeLessThan(1000);
    expect(running.perPartition.every((s) => s.owner === 'status-w' && s.leaseTtlMs! > 0)).toBe(true);
    expect(running.totals).toMatchObject({ members: 1, ownedPartitions: partitions, unownedPartitions: 0, lag: 0, pending: 0, due: 14, overdue: 0, manual: 3, dead: 3 });

    // The worker steps away; its timers come due with nobody to fire them, and entries arrive that nobody reads.
    await worker.close();
    worker = undefined;
    await waitFor(() => Date.now() > soonAt + 1100, 10_000, 'the soon timers overdue');
    const x = 'backlog-x';
    const px = partitionOf({ type: 'counter', id: x }, partitions);
    for (let i = 0; i < 5; i++) await client.tell(counterActor, x, { type: 'increment', by: 1 });
    // A consumer reads two and dies before acknowledging them: pending 2, lag 3.
    await env.redis.xreadgroup('GROUP', GROUPS.actors, 'ghost', 'COUNT', 2, 'STREAMS', keys.inbox(px), '>');
    // Two ingest entries nobody routes, and a notification nobody delivers (no notifier group yet).
    for (let i = 0; i < 2; i++) await env.redis.xadd(keys.ingest(), '*', 'actor', 'counter', 'id', x, 'type', 'increment', 'payload', '{"by":1}');
    await env.redis.xadd(keys.named('notifications'), '*', ENVELOPE_FIELD, 'x');

    const s = await opsJson(target(), ['status']);
    expect(s.members).toEqual([]);
    const due = per('counter', [...later, ...soon]);
    const overdue = per('counter', soon);
    const manual = per('stuck', stuck);
    for (let p = 0; p < partitions; p++) {
      expect(s.perPartition[p]).toEqual({
        partition: p,
        owner: null,
        leaseTtlMs: null,
        inbox: await env.redis.xlen(keys.inbox(p)),
        lag: p === px ? 3 : 0,
        pending: p === px ? 2 : 0,
        due: due[p],
        overdue: overdue[p],
        outbox: 0,
        dead: p === 1 ? 3 : 0,
        manual: manual[p],
      });
    }
    expect(s.totals).toEqual({ members: 0, draining: 0, ownedPartitions: 0, unownedPartitions: partitions, inbox: expect.any(Number), lag: 3, pending: 2, due: 14, overdue: 4, outbox: 0, dead: 3, manual: 3 });
    expect(s.streams).toEqual([
      { name: 'ingest', length: await env.redis.xlen(keys.ingest()), groups: [expect.objectContaining({ name: GROUPS.router, lag: 2, pending: 0 })], dead: 1 },
      { name: 'notifications', length: 1, groups: [], dead: 0 },
    ]);

    const human = await runOps(target(), ['status']);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(new RegExp(`\\n\\s*${px}\\s+\\(none\\)\\s+\\d+\\s+3\\s+2\\s+${due[px]}\\s+${overdue[px]}\\s+0\\s+${px === 1 ? 3 : 0}\\s+${manual[px]}\\n`));
    expect(human.stdout).toMatch(/total: inbox \d+, lag 3, pending 2, due 14 \(4 overdue\), outbox 0, dead 3, manual 3; 0 owned, 8 unowned/);
    expect(human.stdout).toMatch(/unowned partitions: 0-7/);
    expect(human.stdout).toMatch(/ingest: \d+ entries \(router: lag 2, pending 0\), 1 dead letter\n/);

    // The manual list reads the same index: three stuck actors, their status as the reason (they keep no `manual`).
    const list = await opsJson(target(), ['manual', 'list']);
    expect(list.total).toBe(3);
    expect(list.items.map((i: { actor: string; reason: string }) => [i.actor, i.reason]).sort()).toEqual(stuck.map((id) => [`stuck/${id}`, 'MANUAL_INTERVENTION']));
  }, 60_000);
}
