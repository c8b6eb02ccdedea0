import { bucketOrder, inAudience, periodKeys, pureVerdict, splitBudget } from './activity.rules';
import { parseActivity } from './activity.types';

const base = { id: 'a1', timeZone: 'America/New_York', budget: { total: 10 }, prize: { kind: 'points' as const, amount: 5 } };

describe('periodKeys', () => {
  it('puts the day boundary at local midnight in the time zone, on the DST change day too (UTC-4 after it, not -5)', () => {
    // 2024-03-10 is the US spring-forward day: midnight of 11 March in New York is 04:00 UTC, not 05:00.
    expect(periodKeys(Date.parse('2024-03-10T04:59:00Z'), 'America/New_York').day).toBe('d:2024-03-09');
    expect(periodKeys(Date.parse('2024-03-10T05:00:00Z'), 'America/New_York').day).toBe('d:2024-03-10');
    expect(periodKeys(Date.parse('2024-03-11T03:59:00Z'), 'America/New_York').day).toBe('d:2024-03-10');
    expect(periodKeys(Date.parse('2024-03-11T04:00:00Z'), 'America/New_York').day).toBe('d:2024-03-11');
  });

  it('numbers ISO weeks from Monday in local time, across year ends', () => {
    expect(periodKeys(Date.parse('2024-03-11T03:59:00Z'), 'America/New_York').week).toBe('w:2024-W10'); // Sunday night
    expect(periodKeys(Date.parse('2024-03-11T04:00:00Z'), 'America/New_York').week).toBe('w:2024-W11'); // Monday 00:00
    expect(periodKeys(Date.parse('2021-01-01T12:00:00Z'), 'UTC').week).toBe('w:2020-W53');
    expect(periodKeys(Date.parse('2024-12-30T12:00:00Z'), 'UTC').week).toBe('w:2025-W01');
    expect(periodKeys(Date.parse('2024-12-31T17:00:00Z'), 'Asia/Shanghai').day).toBe('d:2025-01-01');
  });

  it('uses the epoch hour for velocity, the same in every zone', () => {
    const t = Date.parse('2024-03-10T07:30:00Z');
    expect(periodKeys(t, 'America/New_York').hour).toBe(periodKeys(t, 'Asia/Shanghai').hour);
    expect(periodKeys(t + 3_600_000, 'UTC').hour).not.toBe(periodKeys(t, 'UTC').hour);
  });
});

describe('splitBudget and bucketOrder', () => {
  it('splits a budget so the buckets sum to it, the remainder to the first', () => {
    expect(splitBudget(1000, 4)).toEqual([250, 250, 250, 250]);
    expect(splitBudget(10, 4)).toEqual([4, 2, 2, 2]);
    expect(splitBudget(3, 4)).toEqual([3, 0, 0, 0]);
    expect(splitBudget(7, 1)).toEqual([7]);
  });

  it('visits every bucket once, starting from the one the key hashes to, the same way every time', () => {
    const order = bucketOrder('app-1:invitee', 4);
    expect([...order].sort()).toEqual([0, 1, 2, 3]);
    expect(bucketOrder('app-1:invitee', 4)).toEqual(order);
    expect(order[1]).toBe((order[0] + 1) % 4);
    expect(bucketOrder('x', 1)).toEqual([0]);
  });
});

describe('audience and pure risk verdict', () => {
  it('matches anyOf / allOf / noneOf against the request tags; an empty rule admits everyone', () => {
    expect(inAudience({}, undefined)).toBe(true);
    expect(inAudience({ anyOf: ['new_user', 'vip'] }, { tags: ['vip'] })).toBe(true);
    expect(inAudience({ anyOf: ['new_user'] }, { tags: ['old_user'] })).toBe(false);
    expect(inAudience({ allOf: ['a', 'b'] }, { tags: ['a'] })).toBe(false);
    expect(inAudience({ noneOf: ['banned'] }, { tags: ['banned'] })).toBe(false);
  });

  it('checks in order audience, self-referral, device, IP; a flag policy flags instead of rejecting', () => {
    const a = parseActivity({ ...base, audience: { anyOf: ['new_user'] }, risk: { sameDevice: 'flag', sameIp: 'reject' } });
    const tags = { tags: ['new_user'] };
    expect(pureVerdict(a, { userId: 'u', sharer: { userId: 'u' } }).rejection).toBe('NOT_IN_AUDIENCE');
    expect(pureVerdict(a, { userId: 'u', attributes: tags, sharer: { userId: 'u' } }).rejection).toBe('SELF_REFERRAL');
    expect(pureVerdict(a, { userId: 'u', attributes: tags, device: 'd', sharer: { userId: 's', device: 'd' } })).toEqual({ rejection: null, flags: ['RISK_SAME_DEVICE'] });
    expect(pureVerdict(a, { userId: 'u', attributes: tags, ip: '1.2.3.4', sharer: { userId: 's', ip: '1.2.3.4' } }).rejection).toBe('RISK_SAME_IP');
    expect(pureVerdict(a, { userId: 'u', attributes: tags, device: 'x', sharer: { userId: 's', device: 'y' } })).toEqual({ rejection: null, flags: [] });
  });
});
