import { Keys, partitionOf, RedisStreamsClient, StreamContext } from '../../common';
import { counterActor, CounterState } from '../../actors';
import { uniqueNamespace, useTestRedis } from '../harness/redis';
import { backlog, fastRuntime, readRecord, startWorker, waitFor } from '../harness/workers';

// Provokes many actors receiving interleaved messages at once, and handlers failing mid-sequence.
describe('per-actor order', () => {
  const env = useTestRedis();

  it('per-actor order holds with many actors in flight at once on two workers', async () => {
    const ns = uniqueNamespace('order');
    const keys = new Keys(ns);
    const runtime = fastRuntime(ns, { batchSize: 50 });
    const w1 = await startWorker(env.url, { runtime, actors: [counterActor] });
    const w2 = await startWorker(env.url, { runtime, actors: [counterActor] });
    const client = new RedisStreamsClient({ redis: { url: env.url }, runtime: { namespace: ns, partitions: runtime.partitions } });
    const actors = [...Array(200).keys()].map((i) => `o${i}`);
    let seq = 0;
    for (let round = 0; round < 20; round++) {
      await Promise.all(actors.map((id) => client.tell(counterActor, id, { type: 'increment', by: 1, seq: ++seq })));
    }
    await waitFor(async () => (await backlog(env.redis, keys, runtime.partitions as number)) === 0, 30_000, 'the backlog to drain');
    for (const id of actors) {
      const rec = await readRecord<CounterState>(env.redis, keys, partitionOf({ type: 'counter', id }, runtime.partitions as number), 'counter', id);
      expect(rec?.state).toMatchObject({ count: 20, outOfOrder: 0 });
    }
    await client.close();
    await Promise.all([w1.close(), w2.close()]);
  });

  it('per-key order holds when a handler fails and is retried: later entries of that key wait, other keys flow', async () => {
    const ns = uniqueNamespace('retry');
    // Retries of key "a" take 150 + 300 ms: all of key "b" arrives well within that window.
    const runtime = fastRuntime(ns, { maxDeliveries: 5, retryBaseMs: 150 });
    const seen: string[] = [];
    const failures = new Map<string, number>();
    const worker = await startWorker(env.url, { runtime, actors: [] });
    worker.addHandler('step', async (data: { key: string; n: number }, ctx: StreamContext) => {
      const tag = `${data.key}:${data.n}`;
      // Step 2 of key "a" fails twice before it succeeds.
      if (tag === 'a:2' && (failures.get(tag) ?? 0) < 2) {
        failures.set(tag, (failures.get(tag) ?? 0) + 1);
        throw new Error('transient');
      }
      expect(ctx.getEnvelope().key).toBe(data.key);
      seen.push(tag);
    }, true);
    const client = new RedisStreamsClient({ redis: { url: env.url }, runtime: { namespace: ns, partitions: runtime.partitions } });
    for (let n = 1; n <= 5; n++) {
      await client.append('step', { key: 'a', n });
      await client.append('step', { key: 'b', n });
    }
    await waitFor(() => seen.length === 10, 10_000, 'all steps');
    expect(seen.filter((t) => t.startsWith('a:'))).toEqual(['a:1', 'a:2', 'a:3', 'a:4', 'a:5']);
    expect(seen.filter((t) => t.startsWith('b:'))).toEqual(['b:1', 'b:2', 'b:3', 'b:4', 'b:5']);
    expect(failures.get('a:2')).toBe(2);
    // Key "b" did not wait for key "a"'s retries.
    expect(seen.indexOf('b:5')).toBeLessThan(seen.indexOf('a:3'));
    await client.close();
    await worker.close();
  });
});
