import { compileConfig, createRedis, encodeEnvelope, Keys } from '../../common';
import { PartitionConsumer } from '../../common/transport/partition-consumer';
import { uniqueNamespace, useTestRedis } from '../harness/redis';
import { waitFor } from '../harness/workers';

// Provokes a take-over while the taker already reads other partitions: a dead owner's pending entries and
// newer entries of the same key are both waiting.
describe('take-over order (invariant 2, per-actor order)', () => {
  const env = useTestRedis();

  it('entries a dead owner left pending are handled before newer entries of the same key', async () => {
    const ns = uniqueNamespace('takeover');
    const keys = new Keys(ns);
    const pending = 1000;
    const fresh = 20;
    const entry = (i: number) => encodeEnvelope({ id: `m${i}`, pattern: 'actor:counter', key: 'counter/x', data: { id: 'x', message: { type: 'increment', by: 1 } }, ts: Date.now() });
    for (const p of [0, 1]) await env.redis.xgroup('CREATE', keys.inbox(p), 'actors', '0', 'MKSTREAM');
    for (let i = 0; i < pending; i++) await env.redis.xadd(keys.inbox(0), '*', 'e', entry(i));
    await env.redis.xreadgroup('GROUP', 'actors', 'dead-owner', 'COUNT', pending, 'STREAMS', keys.inbox(0), '>');
    for (let i = pending; i < pending + fresh; i++) await env.redis.xadd(keys.inbox(0), '*', 'e', entry(i));

    const config = compileConfig({ redis: { url: env.url }, runtime: { namespace: ns, blockMs: 10 } });
    const handled: number[] = [];
    const conn = createRedis(config.redis);
    const consumer = new PartitionConsumer({
      redis: conn,
      group: 'actors',
      consumer: 'survivor',
      config: config.runtime,
      streamOf: (p) => keys.inbox(p),
      deadOf: (p) => keys.dead(p),
      handle: async (_entry, envelope) => void handled.push(Number(envelope.id.slice(1))),
      onLeaseLost: () => undefined,
    });
    consumer.start();
    await consumer.addPartition(1); // the shared reader is already running
    await consumer.addPartition(0); // take partition 0 over
    await waitFor(() => handled.length === pending + fresh, 10_000, 'every entry');
    expect(handled).toEqual([...Array(pending + fresh).keys()]);
    await consumer.close();
    conn.disconnect();
  });
});
