import { encode, encodeEnvelope, Keys, partitionOf, RedisStreamsServer } from '../../common';
import { counterActor } from '../../actors';
import { uniqueNamespace, useTestRedis } from '../harness/redis';
import { fastRuntime, readRecord, waitFor } from '../harness/workers';

// Provokes undecodable, unknown-version, unhandled, invalid, oversized and always-failing entries, interleaved
// with good ones on the same partition.
describe('poison entries (invariant 2, scenario 19)', () => {
  const env = useTestRedis();

  it('poison entries land in the dead-letter stream with reason and original bytes, and the partition keeps flowing', async () => {
    const ns = uniqueNamespace('poison');
    const keys = new Keys(ns);
    const partitions = 4;
    const id = 'c1';
    const p = partitionOf({ type: 'counter', id }, partitions);
    const inbox = keys.inbox(p);
    const good = (n: number) => encodeEnvelope({ id: `good-${n}`, pattern: 'actor:counter', key: `counter/${id}`, data: { id, message: { type: 'increment', by: 1 } }, ts: Date.now() });
    const poison: Array<[string, Buffer]> = [
      ['DECODE_FAILED', Buffer.from([0xc1, 0xff, 0x00])],
      ['UNSUPPORTED_VERSION', encode({ v: 42, id: 'x', pattern: 'actor:counter', data: {}, ts: 1 })],
      ['NO_HANDLER', encodeEnvelope({ id: 'nh', pattern: 'nobody.listens', data: {}, ts: 1 })],
      ['INVALID_MESSAGE', encodeEnvelope({ id: 'inv', pattern: 'actor:counter', key: `counter/${id}`, data: { id, message: { type: 'increment', by: 'lots' } }, ts: 1 })],
      ['INVALID_ID', encodeEnvelope({ id: 'bad-id', pattern: 'actor:counter', key: 'counter/x', data: { id: 'x{y}', message: { type: 'increment', by: 1 } }, ts: 1 })],
      ['ENTRY_TOO_LARGE', encodeEnvelope({ id: 'big', pattern: 'actor:counter', key: `counter/${id}`, data: { id, pad: 'x'.repeat(300 * 1024) }, ts: 1 })],
      ['MAX_DELIVERIES', encodeEnvelope({ id: 'boom', pattern: 'always.fails', data: {}, ts: 1 })],
    ];
    let n = 0;
    for (const [, bytes] of poison) {
      await env.redis.xadd(inbox, '*', 'e', good(n++));
      await env.redis.xadd(inbox, '*', 'e', bytes);
    }
    await env.redis.xadd(inbox, '*', 'e', good(n++));

    const worker: RedisStreamsServer = new RedisStreamsServer({ config: { redis: { url: env.url }, runtime: fastRuntime(ns, { partitions, maxDeliveries: 3 }) }, actors: [counterActor] });
    worker.addHandler('always.fails', async () => {
      throw new Error('downstream exploded');
    }, true);
    await new Promise<void>((resolve, reject) => worker.listen((err) => (err ? reject(err) : resolve())));
    try {
      const rec = await waitFor(async () => {
        const r = await readRecord<{ count: number }>(env.redis, keys, p, 'counter', id);
        return r && r.state.count === n ? r : null;
      }, 20_000, 'every good entry to be applied');
      expect(rec.state.count).toBe(n);

      const dead = await waitFor(async () => {
        const d = await env.redis.xrangeBuffer(keys.dead(p), '-', '+');
        return d.length === poison.length ? d : null;
      }, 20_000, 'every poison entry to be dead-lettered');
      const byCode = new Map(dead.map(([, f]) => {
        const fields = new Map<string, Buffer>();
        for (let i = 0; i < f.length; i += 2) fields.set(f[i].toString(), f[i + 1]);
        return [fields.get('code')!.toString(), fields];
      }));
      expect([...byCode.keys()].sort()).toEqual(poison.map(([c]) => c).sort());
      for (const [code, bytes] of poison) {
        const fields = byCode.get(code);
        expect(fields).toBeDefined();
        expect(fields!.get('reason')!.toString().length).toBeGreaterThan(10);
        expect(Buffer.compare(fields!.get('f:e')!, bytes)).toBe(0); // the original bytes, untouched
      }
      expect(byCode.get('MAX_DELIVERIES')!.get('cause')!.toString()).toBe('HANDLER_FAILED');
      expect(byCode.get('MAX_DELIVERIES')!.get('reason')!.toString()).toMatch(/downstream exploded/);
      expect(byCode.get('MAX_DELIVERIES')!.get('deliveries')!.toString()).toBe('3');
      // Nothing is left pending: every entry was committed or dead-lettered.
      const [pending] = (await env.redis.xpending(inbox, 'actors')) as [number];
      expect(pending).toBe(0);
    } finally {
      await worker.close();
    }
  });
});
