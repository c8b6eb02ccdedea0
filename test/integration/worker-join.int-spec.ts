import { Keys, partitionOf, RedisStreamsClient, RedisStreamsServer } from '../../common';
import { counterActor, CounterState } from '../../actors';
import { uniqueNamespace, useTestRedis } from '../harness/redis';
import { backlog, fastRuntime, readRecord, startWorker, waitFor } from '../harness/workers';

// Provokes a rebalance: a second worker joins while entries stream in, then the first leaves gracefully.
describe('rebalancing (invariants 1 and 2)', () => {
  const env = useTestRedis();

  it('a second worker joining takes partitions over without duplicate commits, and per-actor order holds', async () => {
    const ns = uniqueNamespace('join');
    const keys = new Keys(ns);
    const runtime = fastRuntime(ns);
    const partitions = runtime.partitions as number;
    // Fixed ids that split the 8 partitions 4/4, so the join always moves some (random ids could leave all 8
    // with the first worker, about 1 run in 256).
    const first: RedisStreamsServer = await startWorker(env.url, { runtime: { ...runtime, workerId: 'join-a' }, actors: [counterActor] });
    const client = new RedisStreamsClient({ redis: { url: env.url }, runtime: { namespace: ns, partitions } });
    const actors = [...Array(60).keys()].map((i) => `j${i}`);
    let second: RedisStreamsServer | undefined;
    let seq = 0;
    for (let round = 0; round < 25; round++) {
      await Promise.all(actors.map((id) => client.tell(counterActor, id, { type: 'increment', by: 1, seq: ++seq })));
      if (round === 8) second = await startWorker(env.url, { runtime: { ...runtime, workerId: 'join-b' }, actors: [counterActor] });
      await new Promise((r) => setTimeout(r, 15));
    }
    await waitFor(() => second!.ownedPartitions().length > 0 && first.ownedPartitions().length + second!.ownedPartitions().length === partitions, 10_000, 'the partitions to be split between both workers');
    expect(new Set([...first.ownedPartitions(), ...second!.ownedPartitions()]).size).toBe(partitions);
    await waitFor(async () => (await backlog(env.redis, keys, partitions)) === 0, 20_000, 'the backlog to drain');

    for (const id of actors) {
      const p = partitionOf({ type: 'counter', id }, partitions);
      const rec = await readRecord<CounterState>(env.redis, keys, p, 'counter', id);
      expect(rec?.state.count).toBe(25);
      // One version per applied message: no turn was committed twice by the two workers.
      expect(rec?.version).toBe(25);
      expect(rec?.state.outOfOrder).toBe(0);
    }
    // One audit record per committed turn, across all partitions.
    let audits = 0;
    for (let p = 0; p < partitions; p++) audits += await env.redis.xlen(keys.audit(p));
    expect(audits).toBe(25 * actors.length);

    // The first worker leaves gracefully while entries are still arriving: it drains what it holds, so
    // nothing stays pending under its name, and the second takes everything at once (no lease TTL to wait).
    const late = Promise.all(actors.map((id) => client.tell(counterActor, id, { type: 'increment', by: 0, seq: ++seq })));
    await first.close();
    await late;
    for (let p = 0; p < partitions; p++) {
      const [, , , consumers] = (await env.redis.xpending(keys.inbox(p), 'actors')) as [number, string, string, Array<[string, string]> | null];
      expect((consumers ?? []).filter(([name]) => name === first.workerId)).toEqual([]);
    }
    await waitFor(() => second!.ownedPartitions().length === partitions, 5_000, 'the second worker to own every partition');
    const after = await client.ask(counterActor, actors[0], { type: 'increment', by: 1 });
    expect(after.state.count).toBe(26);
    expect(after.version).toBe(27);
    await client.close();
    await second!.close();
  });
});
