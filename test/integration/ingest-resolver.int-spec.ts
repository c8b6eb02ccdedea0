import { compileConfig, createRedis, decodeEnvelope, Keys, partitionOf } from '../../common';
import type { RedisClient } from '../../common';
import { IngestResolver, IngestRouter } from '../../common/runtime/ingest-router';
import { TerminalError } from '../../common/errors';
import { uniqueNamespace, useTestRedis } from '../harness/redis';
import { waitFor } from '../harness/workers';

// Provokes the ingest router's resolver path: one entry fanned out to several inboxes, unknown and refused
// events dead-lettered, a resolver that fails for a moment redelivered, and static routes untouched.
describe('ingest router with a resolver (events no static route names)', () => {
  const env = useTestRedis();

  it('fans one entry out to every target (same message id each), dead-letters null and refusals, redelivers a failing resolver', async () => {
    const ns = uniqueNamespace('ingres');
    const keys = new Keys(ns);
    const config = compileConfig({ redis: { url: env.url }, runtime: { namespace: ns, partitions: 4, claimIdleMs: 300, blockMs: 50 } });
    const redis: RedisClient = createRedis(config.redis, 'ingest-resolver-test');
    let failOnce = true;
    const resolver: IngestResolver = async (_id, fields) => {
      if (fields.event === 'order.paid') return ['t1', 't2', 't3'].map((t) => ({ actor: 'task', id: `${fields.userId}:${t}:once`, message: { type: 'Progress' }, messageId: `event:${fields.eventId}` }));
      if (fields.event === 'order.flaky') {
        if (failOnce) {
          failOnce = false;
          throw new Error('subscription index unreachable');
        }
        return [{ actor: 'task', id: 'u9:t1:once', message: { type: 'Progress' }, messageId: `event:${fields.eventId}` }];
      }
      if (fields.event === 'order.bad') throw new TerminalError('INVALID_RECEIPT', 'eventId is required');
      if (fields.event === 'order.nobody') return [];
      return null;
    };
    const router = new IngestRouter(redis, keys, config.runtime, 'r1', [{ event: 'coupon.used', actor: 'counter', idField: 'userId', messageType: 'increment' }], undefined, resolver);
    await router.start();
    const stream = keys.ingest();
    try {
      await redis.xadd(stream, '*', 'event', 'order.paid', 'userId', 'u1', 'eventId', 'o-1');
      await redis.xadd(stream, '*', 'event', 'coupon.used', 'userId', 'u2', 'eventId', 'c-1');
      await redis.xadd(stream, '*', 'event', 'order.unknown', 'userId', 'u1');
      await redis.xadd(stream, '*', 'event', 'order.bad', 'userId', 'u1');
      await redis.xadd(stream, '*', 'event', 'order.nobody', 'userId', 'u1', 'eventId', 'n-1');
      await redis.xadd(stream, '*', 'event', 'order.flaky', 'userId', 'u9', 'eventId', 'f-1');

      const inboxEntries = async (type: string, id: string) => {
        const entries = await redis.xrangeBuffer(keys.inbox(partitionOf({ type, id }, 4)), '-', '+');
        return entries.map(([, f]) => decodeEnvelope<{ id: string }>(f[1])).filter((e) => e.data.id === id);
      };
      const arrived = async (type: string, id: string) => (await waitFor(async () => {
        const got = await inboxEntries(type, id);
        return got.length ? got : null;
      }, 5000, `${type} ${id} in its inbox`)).map((e) => e.id);
      for (const t of ['t1', 't2', 't3']) expect(await arrived('task', `u1:${t}:once`)).toEqual(['event:o-1']);
      expect(await arrived('counter', 'u2')).toEqual(['event:c-1']);
      // The flaky entry stayed pending after its resolver failed and was claimed again after claimIdleMs.
      expect(await arrived('task', 'u9:t1:once')).toEqual(['event:f-1']);

      const dead = await waitFor(async () => {
        const d = await redis.xrange(keys.ingestDead(), '-', '+');
        return d.length === 2 ? d : null;
      }, 5000, 'two dead letters');
      const byCode = Object.fromEntries(dead.map(([, f]) => [f[f.indexOf('code') + 1], f[f.indexOf('reason') + 1]]));
      expect(byCode).toEqual({ UNROUTABLE: 'no ingest route matches event "order.unknown"', INVALID_RECEIPT: 'eventId is required' });
      await waitFor(async () => Number(((await redis.xpending(stream, 'router')) as [number])[0]) === 0, 5000, 'every entry acknowledged');
    } finally {
      await router.stop();
      redis.disconnect();
    }
  });
});
