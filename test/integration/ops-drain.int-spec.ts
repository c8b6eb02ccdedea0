import { assignedPartitions, partitionOf, RedisStreamsClient, RedisStreamsServer } from '../../common';
import { counterActor, CounterState } from '../../actors';
import { opsJson, opsScope, runOps } from '../harness/ops';
import { useTestRedis } from '../harness/redis';
import { backlog, readRecord, startWorker, waitFor } from '../harness/workers';

// Provokes a drain before a deploy while messages keep arriving: `ops drain` flags one of two workers, which hands
// all its partitions to the other (gracefully, as on shutdown) and takes none; `ops undrain` brings it back.
describe('ops drain / undrain with two workers (invariants 1 and 2 through the hand-over)', () => {
  const env = useTestRedis();
  describe('two workers, a steady stream of increments', () => drainScenario(env));
});

function drainScenario(env: ReturnType<typeof useTestRedis>): void {
  const { ns, runtime, partitions, keys, target } = opsScope(env, 'opsdrain');
  // Fixed ids that split the 8 partitions 4/4 (drain-a: 0 1 2 4, drain-b: 3 5 6 7).
  const [A, B] = ['drain-a', 'drain-b'];
  let a: RedisStreamsServer;
  let b: RedisStreamsServer;
  let client: RedisStreamsClient;

  beforeAll(async () => {
    expect(assignedPartitions(A, [A, B], partitions)).toHaveLength(4);
    a = await startWorker(env.url, { runtime: { ...runtime, workerId: A }, actors: [counterActor] });
    b = await startWorker(env.url, { runtime: { ...runtime, workerId: B }, actors: [counterActor] });
    client = new RedisStreamsClient({ redis: { url: env.url }, runtime: { namespace: ns, partitions } });
  });
  afterAll(async () => {
    await client?.close();
    await Promise.all([a?.close(), b?.close()]);
  });

  it('a drained worker hands every partition to the other with nothing pending or lost, takes none while flagged, and takes its share back after undrain', async () => {
    await waitFor(() => a.ownedPartitions().length === 4 && b.ownedPartitions().length === 4, 10_000, 'the partitions split 4/4');
    const actors = [...Array(40).keys()].map((i) => `d${i}`);
    let sent = 0;
    let seq = 0;
    let producing = true;
    // Increments keep arriving through the drain and the undrain.
    const producer = (async () => {
      while (producing) {
        await Promise.all(actors.map((id) => client.tell(counterActor, id, { type: 'increment', by: 1, seq: ++seq })));
        sent++;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await waitFor(() => sent >= 5, 10_000, 'some rounds sent before the drain');

    const drained = await runOps(target(), ['drain', A, '--timeout', '30s']);
    expect(drained.stderr).toBe('');
    expect(drained.code).toBe(0);
    expect(drained.stdout).toMatch(/drain flag set on drain-a; it holds 4 partitions \(0-2 4\); taking over: drain-b/);
    expect(drained.stdout).toMatch(/drain-a holds no partitions now: safe to stop/);
    expect(a.ownedPartitions()).toEqual([]);
    expect(a.isDraining()).toBe(true);
    await waitFor(() => b.ownedPartitions().length === partitions, 10_000, 'drain-b to own every partition');
    // Nothing was left pending under the drained worker's name: every entry it read was settled before it let go.
    for (let p = 0; p < partitions; p++) {
      const [, , , consumers] = (await env.redis.xpending(keys.inbox(p), 'actors')) as [number, string, string, Array<[string, string]> | null];
      expect((consumers ?? []).filter(([name]) => name === A)).toEqual([]);
    }

    // Status shows the flag; while it is set the worker takes nothing, however long it stays (several heartbeats).
    const status = await opsJson(target(), ['status']);
    expect(status.members).toEqual(expect.arrayContaining([
      expect.objectContaining({ id: A, draining: true, drain: expect.objectContaining({ by: 'ops-test' }), partitions: [] }),
      expect.objectContaining({ id: B, draining: false, partitions: [...Array(partitions).keys()] }),
    ]));
    expect(status.totals).toMatchObject({ draining: 1, ownedPartitions: partitions, unownedPartitions: 0 });
    // The last worker in service cannot be drained by mistake.
    expect(await runOps(target(), ['drain', B])).toMatchObject({ code: 2, stderr: expect.stringMatching(/would leave no worker to take its partitions/) });
    expect(await runOps(target(), ['drain', 'drain-zz'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/no live worker "drain-zz"/) });
    await new Promise((r) => setTimeout(r, 500));
    expect(a.ownedPartitions()).toEqual([]);

    expect(await runOps(target(), ['undrain', A])).toMatchObject({ code: 0, stdout: 'drain flag cleared on drain-a: it takes partitions again\n' });
    await waitFor(() => a.ownedPartitions().length === 4 && b.ownedPartitions().length === 4, 10_000, 'drain-a to take its share back');
    expect(a.isDraining()).toBe(false);

    producing = false;
    await producer;
    await waitFor(async () => (await backlog(env.redis, keys, partitions)) === 0, 20_000, 'the backlog to drain');
    // Nothing lost and nothing applied twice through both hand-overs: one version per increment sent.
    for (const id of actors) {
      const rec = await readRecord<CounterState>(env.redis, keys, partitionOf({ type: 'counter', id }, partitions), 'counter', id);
      expect(rec?.state.count).toBe(sent);
      expect(rec?.version).toBe(sent);
      expect(rec?.state.outOfOrder).toBe(0);
    }
  }, 90_000);
}
