import { Keys, partitionOf, RedisStreamsClient } from '../../common';
import { counterActor, CounterState } from '../../actors';
import { uniqueNamespace, useTestRedis } from '../harness/redis';
import { fastRuntime, readRecord, startWorker, waitFor } from '../harness/workers';

// Provokes a timer that comes due while no worker runs at all.
describe('durable timers through the due index (invariant 4)', () => {
  const env = useTestRedis();

  it('a timer set before every worker stopped fires after a new worker starts, exactly once', async () => {
    const ns = uniqueNamespace('timer');
    const keys = new Keys(ns);
    const runtime = fastRuntime(ns);
    const partitions = runtime.partitions as number;
    const p = partitionOf({ type: 'counter', id: 't1' }, partitions);
    const client = new RedisStreamsClient({ redis: { url: env.url }, runtime: { namespace: ns, partitions } });
    const first = await startWorker(env.url, { runtime, actors: [counterActor] });
    const at = Date.now() + 700;
    const reply = await client.ask(counterActor, 't1', { type: 'incrementLater', by: 3, at });
    expect(reply.state.count).toBe(0);
    expect(await env.redis.zscore(keys.due(p), 'counter/t1')).toBe(String(at)); // schedule_time in the due index
    await first.close();
    await new Promise((r) => setTimeout(r, 900)); // due while nobody runs

    const second = await startWorker(env.url, { runtime, actors: [counterActor] });
    const rec = await waitFor(async () => {
      const r = await readRecord<CounterState>(env.redis, keys, p, 'counter', 't1');
      return r && r.state.count === 3 ? r : null;
    }, 10_000, 'the timer to fire');
    expect(rec.timers).toEqual({});
    expect(await env.redis.zscore(keys.due(p), 'counter/t1')).toBeNull(); // nothing more to do: out of the due index
    await new Promise((r) => setTimeout(r, 300));
    expect((await readRecord<CounterState>(env.redis, keys, p, 'counter', 't1'))?.state.count).toBe(3);
    await client.close();
    await second.close();
  });
});
