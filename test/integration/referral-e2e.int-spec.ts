import { createRedis, decodeEnvelope, Keys, partitionOf, RedisClient, RedisStreamsClient, RedisStreamsServer } from '../../common';
import { referralActor } from '../../actors';
import { ActivityComponent, ActivityKeys, components } from '../../apps/worker/components/activity';
import { uniqueNamespace, useTestRedis } from '../harness/redis';
import { fastRuntime, readRecord, startWorker, waitFor } from '../harness/workers';

// Provokes a whole referral through a real worker: the relation, the invitee's task, both rewards in parallel.
describe('referral through the runtime and the activity component (scenario 1, first end-to-end slice)', () => {
  const env = useTestRedis();
  let redis: RedisClient;
  beforeAll(() => {
    redis = createRedis({ url: env.url, tls: false }, 'referral-e2e');
  });
  afterAll(() => redis.disconnect());

  it('share → accept → relation → task completed → both sides rewarded once, one notification each', async () => {
    const ns = uniqueNamespace('ref');
    const runtime = fastRuntime(ns);
    const partitions = runtime.partitions as number;
    const activity = new ActivityComponent(redis, new ActivityKeys(ns));
    await activity.define({ id: 'hk-invite', timeZone: 'Asia/Hong_Kong', budget: { total: 100 }, prize: { kind: 'points', amount: 10 } });
    const worker: RedisStreamsServer = await startWorker(env.url, { runtime, actors: [referralActor], components: components(activity) });
    const client = new RedisStreamsClient({ redis: { url: env.url }, runtime: { namespace: ns, partitions } });
    const keys = new Keys(ns);
    const app = 'hk-invite:invitee-7';
    const p = partitionOf({ type: 'referral', id: app }, partitions);
    const status = async () => (await readRecord<{ status: string }>(env.redis, keys, p, 'referral', app))?.state.status;
    try {
      await client.ask(referralActor, app, { type: 'Accept', activityId: 'hk-invite', sharerId: 'sharer-1', inviteeId: 'invitee-7' });
      await waitFor(async () => (await status()) === 'RELATION_ESTABLISHED', 10_000, 'the relation');
      await client.ask(referralActor, app, { type: 'TaskCompleted', occurredAt: Date.now(), eventId: 'coupon-used-1' });
      // The same completion again (an upstream retry with the same event id) changes nothing.
      await client.ask(referralActor, app, { type: 'TaskCompleted', occurredAt: Date.now(), eventId: 'coupon-used-1' }, { messageId: 'dup' }).catch(() => undefined);
      await waitFor(async () => (await status()) === 'BOTH_REWARDED', 10_000, 'both rewards');
      // Both rewards went through at the first attempt: the two parallel calls share one actor lease.
      const done = await readRecord<{ retryCount: number; sharer: { attempts: number }; invitee: { attempts: number } }>(env.redis, keys, p, 'referral', app);
      expect(done?.state).toMatchObject({ retryCount: 0, sharer: { attempts: 1 }, invitee: { attempts: 1 } });

      expect(await activity.ledger('sharer-1')).toHaveLength(1);
      expect(await activity.ledger('invitee-7')).toHaveLength(1);
      expect(await activity.budget('hk-invite')).toEqual({ limit: 100, used: 2 });
      const notes = await waitFor(async () => {
        const all = await env.redis.xrangeBuffer(keys.named('notifications'), '-', '+');
        return all.length >= 3 ? all.map(([, f]) => decodeEnvelope<{ kind: string; userId?: string }>(f[1]).data) : null;
      }, 5_000, 'the notifications');
      const kinds = notes.map((n) => `${n.kind}:${n.userId ?? ''}`).sort();
      expect(new Set(kinds).size).toBe(notes.length); // one each, no repeats
      expect(notes).toHaveLength(3); // the task assigned to the invitee, then one reward notice per side
    } finally {
      await client.close();
      await worker.close();
    }
  });
});
