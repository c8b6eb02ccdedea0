import { compileConfig, createRedis, encodeEnvelope, Keys } from '../../common';
import type { RedisClient } from '../../common';
import { PartitionTicker } from '../../common/runtime/partition-ticker';
import { uniqueNamespace, useTestRedis } from '../harness/redis';
import { waitFor } from '../harness/workers';

// Found by the chaos run (docs/chaos.md) on a Redis Cluster: a relay that failed after reading an outbox entry (the
// forward refused during a failover) left that entry pending for the owner, and later relays read only new entries
// ('>'), so it was never forwarded while the owner kept the partition: a notification that never left.
describe('outbox relay (nothing read is left behind)', () => {
  const env = useTestRedis();
  let redis: RedisClient | undefined;
  let ticker: PartitionTicker | undefined;
  afterEach(async () => {
    await ticker?.stop();
    redis?.disconnect();
  });

  it('an entry whose forward failed once is relayed by a later tick, by the same owner', async () => {
    const ns = uniqueNamespace('relay');
    const keys = new Keys(ns);
    const config = compileConfig({ redis: { url: env.url }, runtime: { namespace: ns, partitions: 4, tickMs: 20 } });
    redis = createRedis(config.redis, 'relay-test');
    const target = keys.named('relay-test');
    const forward = redis.xadd.bind(redis);
    let failures = 1;
    // The forward to the target stream fails once, after the relay read the entry (a connection lost mid-relay).
    redis.xadd = ((...args: Parameters<typeof forward>) => {
      if (args[0] === target && failures-- > 0) return Promise.reject(new Error('injected: connection lost while forwarding'));
      return forward(...args);
    }) as typeof redis.xadd;
    ticker = new PartitionTicker(redis, keys, config.runtime, 'relay-owner');
    await ticker.add(0);
    ticker.start();
    await env.redis.xadd(keys.outbox(0), '*', 's', target, 'e', encodeEnvelope({ id: 'note-1', pattern: 'relay-test', data: { n: 1 }, ts: Date.now() }));
    await waitFor(() => failures <= 0, 5_000, 'the failed forward');
    await waitFor(async () => (await env.redis.xlen(target)) === 1 && (await env.redis.xlen(keys.outbox(0))) === 0, 5_000, 'the entry relayed after the failed attempt');
    const pending = (await env.redis.xpending(keys.outbox(0), 'relay')) as [number, ...unknown[]];
    expect(pending[0]).toBe(0);
  });
});
