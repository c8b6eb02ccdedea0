import { createRedis, RedisClient, RetryableError } from '../../common';
import { ActivityComponent, ActivityInput, ActivityKeys, ApplyResult } from '../../apps/worker/components/activity';
import { uniqueNamespace, useTestRedis } from '../harness/redis';

const NOW = Date.parse('2024-06-03T12:00:00Z');
const activity = (id: string, extra: Partial<ActivityInput> = {}): ActivityInput => ({
  id,
  timeZone: 'Asia/Shanghai',
  budget: { total: 1000 },
  prize: { kind: 'points', amount: 10 },
  ...extra,
});

// Provokes bursts past the budget, repeated idempotency keys and a reply lost after the grant committed.
describe('activity component: budget, idempotency, lost replies (scenarios 10, 11; invariants 3, 5)', () => {
  const env = useTestRedis();
  let redis: RedisClient;
  beforeAll(() => {
    redis = createRedis({ url: env.url, tls: false }, 'activity-test');
  });
  afterAll(() => redis.disconnect());
  const component = (opts: ConstructorParameters<typeof ActivityComponent>[2] = {}) => new ActivityComponent(redis, new ActivityKeys(uniqueNamespace('act')), opts);

  for (const buckets of [1, 4]) {
    it(`scenario 10 with ${buckets} bucket(s): 10,000 concurrent applies for a budget of 1,000 grant exactly 1,000 and never overspend`, async () => {
      const act = component();
      await act.define(activity('burst', { budgetBuckets: buckets }));
      const results: ApplyResult[] = [];
      for (let batch = 0; batch < 10; batch++) {
        const round = await Promise.all(
          Array.from({ length: 1000 }, (_, i) => act.apply({ activityId: 'burst', userId: `u${batch * 1000 + i}`, idempotencyKey: `k${batch * 1000 + i}` }, NOW)),
        );
        results.push(...round);
        const { used, limit } = await act.budget('burst');
        expect(used).toBeLessThanOrEqual(limit); // granted ≤ budget after every batch
      }
      const granted = results.filter((r) => r.ok);
      expect(granted).toHaveLength(1000);
      expect(results.filter((r) => !r.ok && r.code === 'BUDGET_TOTAL')).toHaveLength(9000);
      expect(new Set(granted.map((r) => r.ok && r.grant.grantId)).size).toBe(1000);
      expect(await act.budget('burst')).toEqual({ limit: 1000, used: 1000 });
      if (buckets > 1) {
        const perBucket = await Promise.all([0, 1, 2, 3].map((i) => env.redis.hget(act.keys.budget('burst', i, 4), 'used')));
        expect(perBucket.map(Number)).toEqual([250, 250, 250, 250]); // every bucket was drawn from, none past its share
      }
    });
  }

  it('every define bumps the version and keeps the definition in a bounded history, newest first', async () => {
    const c = component();
    await c.define(activity('hist', { budget: { total: 10 } }));
    await c.define(activity('hist', { budget: { total: 20 } }));
    await c.define(activity('hist', { budget: { total: 30 }, status: 'PAUSED' }));
    expect((await c.load('hist'))?.ver).toBe('3');
    const history = await c.history('hist');
    expect(history.map((h) => [h.version, h.activity.budget.total, h.activity.status])).toEqual([
      [3, 30, 'PAUSED'],
      [2, 20, 'ACTIVE'],
      [1, 10, 'ACTIVE'],
    ]);
    expect(history.every((h) => Number.isFinite(h.at))).toBe(true);
  });

  it('the same key applied 5 times concurrently grants once, with one grantId, one ledger entry and one unit of budget', async () => {
    for (const buckets of [1, 3]) {
      const act = component();
      await act.define(activity('idem', { budgetBuckets: buckets }));
      const results = await Promise.all(Array.from({ length: 5 }, () => act.apply({ activityId: 'idem', userId: 'alice', idempotencyKey: 'app-1:invitee' }, NOW)));
      const ids = results.map((r) => (r.ok ? r.grant.grantId : r.code));
      expect(new Set(ids).size).toBe(1);
      expect(results.filter((r) => !r.replayed)).toHaveLength(1);
      expect(await act.ledger('alice')).toHaveLength(1);
      expect(await act.budget('idem')).toEqual({ limit: 1000, used: 1 });
    }
  });

  it('a retry after a rejection gets the same rejection, not a new evaluation (even once the cause is gone)', async () => {
    for (const buckets of [1, 2]) {
      const act = component();
      await act.define(activity('rej', { budgetBuckets: buckets }));
      await act.pause('rej');
      const first = await act.apply({ activityId: 'rej', userId: 'bob', idempotencyKey: 'k1' }, NOW);
      expect(first).toMatchObject({ ok: false, code: 'ACTIVITY_PAUSED', replayed: false });
      await act.resume('rej');
      expect(await act.apply({ activityId: 'rej', userId: 'bob', idempotencyKey: 'k1' }, NOW)).toMatchObject({ ok: false, code: 'ACTIVITY_PAUSED', replayed: true });
      expect(await act.budget('rej')).toEqual({ limit: 1000, used: 0 }); // the reservation of a rejected key is given back
      expect(await act.apply({ activityId: 'rej', userId: 'bob', idempotencyKey: 'k2' }, NOW)).toMatchObject({ ok: true });
    }
  });

  it('scenario 11: a reply lost after the grant committed is retried with the same key and returns the first grant', async () => {
    let lose = true;
    const act = component({ faults: { failRate: 0, afterCommitRate: 1, rng: () => (lose ? 0 : 1) } });
    await act.define(activity('lost', { budgetBuckets: 2 }));
    const err = await act.apply({ activityId: 'lost', userId: 'carol', idempotencyKey: 'app-9:sharer' }, NOW).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetryableError);
    expect((err as RetryableError).code).toBe('ACTIVITY_REPLY_LOST');
    lose = false;
    const retry = await act.apply({ activityId: 'lost', userId: 'carol', idempotencyKey: 'app-9:sharer' }, NOW + 5000);
    expect(retry).toMatchObject({ ok: true, replayed: true });
    const ledger = await act.ledger('carol');
    expect(ledger).toHaveLength(1);
    expect(retry.ok && retry.grant.grantId).toBe(ledger[0].grantId);
    expect(await act.budget('lost')).toEqual({ limit: 1000, used: 1 });
  });

  it('an injected fault before the script writes nothing, and the retry grants once', async () => {
    let fail = true;
    const act = component({ faults: { failRate: 1, rng: () => (fail ? 0 : 1) } });
    await act.define(activity('down'));
    await expect(act.apply({ activityId: 'down', userId: 'dan', idempotencyKey: 'k' }, NOW)).rejects.toMatchObject({ code: 'ACTIVITY_UNAVAILABLE' });
    expect(await act.budget('down')).toEqual({ limit: 1000, used: 0 });
    fail = false;
    expect(await act.apply({ activityId: 'down', userId: 'dan', idempotencyKey: 'k' }, NOW)).toMatchObject({ ok: true, replayed: false });
  });

  it('consult runs the same checks and writes nothing', async () => {
    const act = component();
    await act.define(activity('look', { caps: { total: 1 }, budgetBuckets: 2 }));
    const before = (await env.redis.keys(`*${act.keys.ns}*`)).sort();
    expect(await act.consult({ activityId: 'look', userId: 'eve' }, NOW)).toEqual({ ok: true, flags: [] });
    expect((await env.redis.keys(`*${act.keys.ns}*`)).sort()).toEqual(before);
    await act.apply({ activityId: 'look', userId: 'eve', idempotencyKey: 'k' }, NOW);
    expect(await act.consult({ activityId: 'look', userId: 'eve' }, NOW)).toMatchObject({ ok: false, code: 'CAP_TOTAL' });
    await act.pause('look');
    expect(await act.consult({ activityId: 'look', userId: 'zed' }, NOW)).toMatchObject({ ok: false, code: 'ACTIVITY_PAUSED' });
    expect(await act.budget('look')).toEqual({ limit: 1000, used: 1 });
  });
});
