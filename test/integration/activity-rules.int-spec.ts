import { createRedis, RedisClient, RetryableError, TerminalError } from '../../common';
import type { Component } from '../../common';
import { ActivityComponent, ActivityInput, ActivityKeys, ApplyRequest, components, RejectionCode } from '../../apps/worker/components/activity';
import { uniqueNamespace, useTestRedis } from '../harness/redis';

const NOW = Date.parse('2024-06-03T12:00:00Z');
const base = (id: string, extra: Partial<ActivityInput> = {}): ActivityInput => ({ id, timeZone: 'UTC', budget: { total: 100 }, prize: { kind: 'coupon', amount: 5 }, ...extra });
const ctx = (key: string) => ({ idempotencyKey: key, signal: new AbortController().signal, actor: { type: 'referral', id: key } });

// Provokes every rejection rule, a day and week boundary on a DST change, flag-only risk and referral relations.
describe('activity component: rules and reasons (scenarios 2, 3, 4, 8, 9)', () => {
  const env = useTestRedis();
  let redis: RedisClient;
  let act: ActivityComponent;
  let seq = 0;
  beforeAll(() => {
    redis = createRedis({ url: env.url, tls: false }, 'activity-rules');
    act = new ActivityComponent(redis, new ActivityKeys(uniqueNamespace('rules')));
  });
  afterAll(() => redis.disconnect());
  const apply = (req: Omit<ApplyRequest, 'idempotencyKey'>, now = NOW) => act.apply({ ...req, idempotencyKey: `k${++seq}` }, now);

  it('every rejection code is returned with its reason, and none touches the budget', async () => {
    await act.define(base('codes', {
      audience: { anyOf: ['new_user'] },
      risk: { sameDevice: 'reject', sameIp: 'reject' },
      caps: { perDay: 2, perWeek: 3, total: 4 },
    }));
    const nu = { tags: ['new_user'] };
    const sharer = { userId: 'sharer', device: 'dev-s', ip: '10.0.0.1' };
    const cases: Array<[RejectionCode, Omit<ApplyRequest, 'idempotencyKey'>]> = [
      ['NOT_IN_AUDIENCE', { activityId: 'codes', userId: 'old', attributes: { tags: ['old_user'] } }],
      ['SELF_REFERRAL', { activityId: 'codes', userId: 'sharer', attributes: nu, sharer }],
      ['RISK_SAME_DEVICE', { activityId: 'codes', userId: 'inv', attributes: nu, device: 'dev-s', sharer }],
      ['RISK_SAME_IP', { activityId: 'codes', userId: 'inv', attributes: nu, ip: '10.0.0.1', sharer }],
    ];
    for (const [code, req] of cases) expect(await apply(req)).toMatchObject({ ok: false, code, reason: expect.any(String) });

    // Caps: 2 a day, 3 a week, 4 in total; days of one ISO week (Mon 3 June .. ), then the next week.
    const u = { activityId: 'codes', userId: 'capped', attributes: nu };
    const day = 86_400_000;
    expect((await apply(u, NOW)).ok).toBe(true);
    expect((await apply(u, NOW + 1)).ok).toBe(true);
    expect(await apply(u, NOW + 2)).toMatchObject({ code: 'CAP_DAY' });
    expect((await apply(u, NOW + day)).ok).toBe(true);
    expect(await apply(u, NOW + 2 * day)).toMatchObject({ code: 'CAP_WEEK' });
    expect((await apply(u, NOW + 7 * day)).ok).toBe(true);
    expect(await apply(u, NOW + 8 * day)).toMatchObject({ code: 'CAP_TOTAL' });

    expect(await act.budget('codes')).toEqual({ limit: 100, used: 4 }); // the 4 grants of 'capped', no rejection

    // Velocity: 3 fresh applications an hour pass; the 4th is refused; the next clock hour passes again.
    await act.define(base('velo', { risk: { velocityPerHour: 3 } }));
    const v = { activityId: 'velo', userId: 'fast' };
    for (let i = 0; i < 3; i++) expect((await apply(v, NOW + i)).ok).toBe(true);
    expect(await apply(v, NOW + 3)).toMatchObject({ ok: false, code: 'RISK_VELOCITY' });
    expect((await apply(v, NOW + 3_600_000)).ok).toBe(true);

    await act.define(base('tiny', { budget: { total: 2, perDay: 1 } }));
    expect((await apply({ activityId: 'tiny', userId: 'a' })).ok).toBe(true);
    expect(await apply({ activityId: 'tiny', userId: 'b' })).toMatchObject({ code: 'BUDGET_DAY' });
    expect((await apply({ activityId: 'tiny', userId: 'b' }, NOW + 86_400_000)).ok).toBe(true);
    expect(await apply({ activityId: 'tiny', userId: 'c' }, NOW + 2 * 86_400_000)).toMatchObject({ code: 'BUDGET_TOTAL', reason: "the activity's budget is used up" });
  });

  it('caps follow local midnight and Monday in America/New_York on the DST change day (UTC-4 after spring-forward)', async () => {
    await act.define(base('dst', { timeZone: 'America/New_York', caps: { perDay: 1 } }));
    await act.define(base('dstw', { timeZone: 'America/New_York', caps: { perWeek: 1 } }));
    const sundayLate = Date.parse('2024-03-11T03:59:00Z'); // Sun 10 March 23:59 EDT
    const mondayEarly = Date.parse('2024-03-11T04:01:00Z'); // Mon 11 March 00:01 EDT (a fixed UTC-5 would still say Sunday)
    for (const id of ['dst', 'dstw']) {
      expect((await apply({ activityId: id, userId: 'ny' }, Date.parse('2024-03-10T05:30:00Z'))).ok).toBe(true); // Sun 00:30 EST
      expect(await apply({ activityId: id, userId: 'ny' }, sundayLate)).toMatchObject({ code: id === 'dst' ? 'CAP_DAY' : 'CAP_WEEK' });
      expect((await apply({ activityId: id, userId: 'ny' }, mondayEarly)).ok).toBe(true);
      expect(await apply({ activityId: id, userId: 'ny' }, mondayEarly + 60_000)).toMatchObject({ code: id === 'dst' ? 'CAP_DAY' : 'CAP_WEEK' });
    }
  });

  it('scenario 3: a flag-only policy grants and records the flag in the grant and the ledger', async () => {
    await act.define(base('flag', { risk: { sameDevice: 'flag', sameIp: 'flag' } }));
    const r = await apply({ activityId: 'flag', userId: 'fi', device: 'd1', ip: 'ip1', sharer: { userId: 'fs', device: 'd1', ip: 'ip1' } });
    expect(r).toMatchObject({ ok: true, grant: { flags: ['RISK_SAME_DEVICE', 'RISK_SAME_IP'] } });
    expect((await act.ledger('fi'))[0].flags).toEqual(['RISK_SAME_DEVICE', 'RISK_SAME_IP']);
  });

  it('scenario 9: pause between steps rejects with ACTIVITY_PAUSED and uses no budget; resume grants again', async () => {
    await act.define(base('paused'));
    await act.pause('paused');
    expect(await apply({ activityId: 'paused', userId: 'p' })).toMatchObject({ ok: false, code: 'ACTIVITY_PAUSED' });
    expect(await act.budget('paused')).toEqual({ limit: 100, used: 0 });
    await act.resume('paused');
    expect((await apply({ activityId: 'paused', userId: 'p' })).ok).toBe(true);
    await expect(act.pause('nope')).rejects.toMatchObject({ code: 'ACTIVITY_NOT_FOUND' });
  });

  it('applyRelation: scenario 2 self-referral and an invitee already referred are rejected; the same key replays', async () => {
    await act.define(base('rel'));
    const fns: Record<string, Component> = components(act, () => NOW);
    const relate = (key: string, sharerId: string, inviteeId: string) => fns['activity.applyRelation']({ applicationId: key, activityId: 'rel', sharerId, inviteeId }, ctx(key));
    await expect(relate('a1:relation', 'sam', 'sam')).rejects.toMatchObject({ code: 'SELF_REFERRAL' });
    await expect(relate('a2:relation', 'sam', 'ivy')).resolves.toMatchObject({ sharerId: 'sam', inviteeId: 'ivy' });
    await expect(relate('a2:relation', 'sam', 'ivy')).resolves.toMatchObject({ relationKey: 'a2:relation' });
    const err = await relate('a3:relation', 'other', 'ivy').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TerminalError);
    expect(err).toMatchObject({ code: 'ALREADY_REFERRED', message: 'the invitee already has a referral in this activity' });
  });

  it('scenario 8 through the components: the sharer side fails its cap, the invitee side is granted; faults are retryable', async () => {
    await act.define(base('ref', { caps: { perDay: 1 } }));
    const fns = components(act, () => NOW);
    const reward = (app: string, side: 'sharer' | 'invitee', userId: string) =>
      fns['activity.apply']({ applicationId: app, activityId: 'ref', side, userId, sharerId: 'sh', inviteeId: userId === 'sh' ? 'iv' : userId, completedAt: NOW }, ctx(`${app}:${side}`));
    await expect(reward('old', 'sharer', 'sh')).resolves.toMatchObject({ grantId: expect.any(String) });
    await expect(reward('new', 'sharer', 'sh')).rejects.toMatchObject({ code: 'CAP_DAY' });
    const granted = (await reward('new', 'invitee', 'iv')) as { grantId: string };
    expect(await reward('new', 'invitee', 'iv')).toEqual(granted); // the runtime's retry: same key, same grant
    await expect(fns['activity.apply']({ activityId: 'ref' }, ctx('bad'))).rejects.toMatchObject({ code: 'INVALID_MESSAGE' });

    const flaky = new ActivityComponent(redis, act.keys, { faults: { failRate: 1, rng: () => 0 } });
    const err = await components(flaky)['activity.apply']({ activityId: 'ref', side: 'invitee', userId: 'x', sharerId: 'sh', inviteeId: 'x' }, ctx('f:invitee')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetryableError);
  });
});
