import { TaskKeys } from './task.keys';

/** The hash tag a key is placed by (the text between the first '{' and the next '}'). */
const tagOf = (key: string) => key.slice(key.indexOf('{'), key.indexOf('}') + 1);

describe('TaskKeys', () => {
  const keys = new TaskKeys('propel');

  it('puts everything one user\'s scripts touch in the user\'s slot', () => {
    const user = [keys.subscriptions('u1'), keys.balances('u1'), keys.ledger('u1'), keys.stepResult('u1', 'u1:d:once#s0#0'), keys.rewardPin('u1', 'u1:d:once#s0'), keys.webhookLock('u1', 'k')];
    expect(new Set(user.map(tagOf))).toEqual(new Set(['{propel:tu:u1}']));
    expect(tagOf(keys.balances('u2'))).not.toBe(tagOf(keys.balances('u1')));
  });

  it('keeps a coupon template\'s counter with its reservations, and a notification mark with the notifications stream', () => {
    expect(tagOf(keys.couponReservation('m1', 'tea', 'k'))).toBe(tagOf(keys.couponIssued('m1', 'tea')));
    expect(keys.notifications()).toBe('{propel:out:notifications}:stream');
    expect(tagOf(keys.notificationMark('u1:d:once#s0#3'))).toBe('{propel:out:notifications}');
  });
});
