import { TerminalError } from '../../../../common';
import type { RewardStep } from '../../../../actors/task/task.definition';
import { StepRegistry, type RewardStepHandler } from './step-registry';
import { TASK_REWARD_ERRORS } from './task.errors';

const handler = (type: RewardStep['type']): RewardStepHandler => ({ type, run: async () => type });

describe('StepRegistry', () => {
  it('looks handlers up by step type', () => {
    const points = handler('points');
    const registry = new StepRegistry().register(points).register(handler('notify'));
    expect(registry.lookup('points')).toBe(points);
    expect(registry.types()).toEqual(['notify', 'points']);
  });

  it('refuses an unknown step type with a TerminalError UNKNOWN_STEP naming what it has', () => {
    const registry = new StepRegistry().register(handler('points'));
    let err: unknown;
    try {
      registry.lookup('webhook');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TerminalError);
    expect((err as TerminalError).code).toBe(TASK_REWARD_ERRORS.unknownStep);
    expect((err as TerminalError).message).toContain("'webhook'");
    expect((err as TerminalError).message).toContain('points');
  });

  it('refuses a second handler for one type (a wiring mistake, not a replacement)', () => {
    const registry = new StepRegistry().register(handler('coupon'));
    expect(() => registry.register(handler('coupon'))).toThrow(/already registered/);
  });
});
