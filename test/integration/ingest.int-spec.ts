import { execFileSync } from 'node:child_process';
import { Keys, partitionOf } from '../../common';
import { counterActor, CounterState } from '../../actors';
import { uniqueNamespace, useTestRedis } from '../harness/redis';
import { fastRuntime, readRecord, startWorker, waitFor } from '../harness/workers';

function redisCli(url: string, ...args: string[]): string {
  const port = new URL(url).port;
  return execFileSync('redis-cli', ['-p', port, ...args], { encoding: 'utf8' }).trim();
}

// Provokes upstream producers that know nothing of Propel: plain XADD from env.redis-cli, good and bad.
describe('ingest stream (plain XADD from any language)', () => {
  const env = useTestRedis();

  it('entries written with env.redis-cli reach their actors by the direct form and by a configured rule; duplicates by eventId count once', async () => {
    const ns = uniqueNamespace('ingest');
    const keys = new Keys(ns);
    const runtime = fastRuntime(ns);
    const worker = await startWorker(env.url, {
      runtime,
      actors: [counterActor],
      ingest: [{ event: 'order.paid', actor: 'counter', idField: 'userId', messageType: 'increment' }],
    });
    const stream = keys.ingest();
    redisCli(env.url, 'XADD', stream, '*', 'actor', 'counter', 'id', 'u1', 'type', 'increment', 'payload', '{"by":5}');
    redisCli(env.url, 'XADD', stream, '*', 'event', 'order.paid', 'userId', 'u1', 'eventId', 'ord-1', 'payload', '{"by":2}');
    redisCli(env.url, 'XADD', stream, '*', 'event', 'order.paid', 'userId', 'u1', 'eventId', 'ord-1', 'payload', '{"by":2}'); // retried upstream
    redisCli(env.url, 'XADD', stream, '*', 'event', 'order.refunded', 'userId', 'u1');
    redisCli(env.url, 'XADD', stream, '*', 'actor', 'counter', 'id', 'u{1}', 'type', 'increment', 'payload', '{"by":1}');
    redisCli(env.url, 'XADD', stream, '*', 'actor', 'counter', 'id', 'u1', 'type', 'increment', 'payload', '{"by":');
    const p = partitionOf({ type: 'counter', id: 'u1' }, runtime.partitions as number);
    try {
      const rec = await waitFor(async () => {
        const r = await readRecord<CounterState>(env.redis, keys, p, 'counter', 'u1');
        return r && r.state.count >= 7 ? r : null;
      }, 10_000, 'the counter to reach 7');
      const dead = await waitFor(async () => {
        const d = await env.redis.xrange(keys.ingestDead(), '-', '+');
        return d.length === 3 ? d : null;
      }, 10_000, 'three dead letters');
      await new Promise((r) => setTimeout(r, 200)); // a late duplicate would have landed by now
      expect((await readRecord<CounterState>(env.redis, keys, p, 'counter', 'u1'))?.state.count).toBe(7);
      expect(rec.state.applied).toBe(2);
      const codes = dead.map(([, f]) => f[f.indexOf('code') + 1]).sort();
      expect(codes).toEqual(['DECODE_FAILED', 'INVALID_ID', 'UNROUTABLE']);
      const refunded = dead.find(([, f]) => f.includes('order.refunded'))!;
      expect(refunded[1][refunded[1].indexOf('reason') + 1]).toMatch(/no ingest route matches event "order.refunded"/);
      expect(refunded[1]).toEqual(expect.arrayContaining(['f:event', 'order.refunded', 'f:userId', 'u1']));
      expect(Number(((await env.redis.xpending(stream, 'router')) as [number])[0])).toBe(0);
    } finally {
      await worker.close();
    }
  });
});
