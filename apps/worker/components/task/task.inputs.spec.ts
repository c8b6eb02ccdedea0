import { TerminalError } from '../../../../common';
import { parseInput, rewardCallInputSchema, subscriptionInputSchema, unsubscriptionInputSchema } from './task.inputs';

const reward = { taskId: 'u1:d1:once', userId: 'u1', merchantId: 'm1', taskDefId: 'd1', period: 'once', stage: 0, threshold: 3, flow: 'f1' };

describe('task component inputs', () => {
  it('accept what the task actor sends', () => {
    expect(parseInput(rewardCallInputSchema, reward, 'task.reward')).toEqual(reward);
    expect(parseInput(subscriptionInputSchema, { userId: 'u1', taskId: 'u1:d1:once', events: ['order.paid'], until: null }, 'task.subscribe').until).toBeNull();
    expect(parseInput(unsubscriptionInputSchema, { userId: 'u1', taskId: 'u1:d1:once' }, 'task.unsubscribe')).toEqual({ userId: 'u1', taskId: 'u1:d1:once' });
  });

  it('refuse anything else with INVALID_MESSAGE naming each problem', () => {
    let err: unknown;
    try {
      parseInput(rewardCallInputSchema, { ...reward, stage: -1, flow: undefined }, 'task.reward');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TerminalError);
    expect((err as TerminalError).code).toBe('INVALID_MESSAGE');
    expect((err as TerminalError).message).toMatch(/^task\.reward input is invalid: .*stage: .*; flow: /);
    expect(() => parseInput(subscriptionInputSchema, { userId: 'u1', taskId: 'u1:d1:once', events: ['x'] }, 'task.subscribe')).toThrow(/until/);
  });
});
