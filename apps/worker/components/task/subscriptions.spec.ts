import { matchSubscriptions, parseTaskId } from './subscriptions';

const DAY = 86_400_000;
const NOW = Date.parse('2024-06-03T12:00:00Z');
const entry = (events: string[], until: number | null) => JSON.stringify({ events, until });

describe('parseTaskId', () => {
  it('reads the definition and the period from the right, so the user id keeps any ":" it has', () => {
    expect(parseTaskId('alice:daily-order:d2024-06-03')).toEqual({ userId: 'alice', taskDefId: 'daily-order', period: 'd2024-06-03' });
    expect(parseTaskId('wx:alice:invite:once')).toEqual({ userId: 'wx:alice', taskDefId: 'invite', period: 'once' });
  });

  it.each(['alice', 'alice:def', ':def:once', 'alice::once', 'alice:def:'])('refuses %j', (id) => {
    expect(parseTaskId(id)).toBeNull();
  });
});

describe('matchSubscriptions', () => {
  const entries = {
    't-open': entry(['order.paid'], null),
    't-bounded': entry(['order.paid', 'sign.in'], NOW + DAY),
    't-ended': entry(['order.paid'], NOW - 2 * DAY),
    't-late': entry(['sign.in'], NOW - DAY / 2),
    't-broken': '{not json',
  };

  it('keeps the entries whose events include the event and whose until is null or not before the occurrence', () => {
    expect(matchSubscriptions(entries, 'order.paid', NOW, NOW, DAY).taskIds).toEqual(['t-bounded', 't-open']);
    expect(matchSubscriptions(entries, 'order.paid', NOW + DAY, NOW, DAY).taskIds).toEqual(['t-bounded', 't-open']);
    expect(matchSubscriptions(entries, 'order.paid', NOW + DAY + 1, NOW, DAY).taskIds).toEqual(['t-open']);
    expect(matchSubscriptions(entries, 'sign.in', NOW - DAY, NOW, DAY).taskIds).toEqual(['t-bounded', 't-late']);
    expect(matchSubscriptions(entries, 'coupon.used', NOW, NOW, DAY).taskIds).toEqual([]);
  });

  it('an entry ended more than the grace ago is expired (with the value read) even when it still matches a late event', () => {
    const { taskIds, expired } = matchSubscriptions(entries, 'order.paid', NOW - 3 * DAY, NOW, DAY);
    expect(taskIds).toContain('t-ended');
    expect(expired).toEqual([['t-ended', entries['t-ended']], ['t-broken', '{not json']]);
  });
});
