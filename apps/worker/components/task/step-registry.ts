import { TerminalError } from '../../../../common';
import type { RewardStep } from '../../../../actors/task/task.definition';
import { TASK_REWARD_ERRORS } from './task.errors';

/** What a step handler knows of the reward it runs in. */
export interface StepContext {
  userId: string;
  merchantId: string;
  /** `<rewardKey>#<step index>`: the handler's idempotency key (it grants at most once per step key). */
  stepKey: string;
  /** The task's call key `<taskId>#s<stage>`. */
  rewardKey: string;
  taskId: string;
  /** The reward call's clock reading (ms), the same for every step of one run. */
  now: number;
  /** Aborted when the call must stop (the actor's lease was lost): a handler gives up promptly. */
  signal: AbortSignal;
}

/**
 * One kind of reward step. `run` does the step at most once per `ctx.stepKey` and returns its reference (a
 * grant, a coupon code, a delivery id, an HTTP status); run again with the same key, it returns the first
 * reference without doing anything. A business refusal throws TerminalError, a passing failure RetryableError.
 */
export interface RewardStepHandler<S extends RewardStep = RewardStep> {
  readonly type: S['type'];
  run(step: S, ctx: StepContext): Promise<unknown>;
}

/** The handlers a worker runs reward flows with, by step type. */
export class StepRegistry {
  private readonly handlers = new Map<string, RewardStepHandler>();

  /** Adds a handler; a type registers once (a second handler for it is a wiring mistake). */
  register<S extends RewardStep>(handler: RewardStepHandler<S>): this {
    if (this.handlers.has(handler.type)) throw new Error(`a reward step handler for '${handler.type}' is already registered`);
    this.handlers.set(handler.type, handler as unknown as RewardStepHandler);
    return this;
  }

  /** The handler of `type`; none is a TerminalError UNKNOWN_STEP (no retry adds a handler). */
  lookup(type: string): RewardStepHandler {
    const handler = this.handlers.get(type);
    if (!handler) {
      throw new TerminalError(TASK_REWARD_ERRORS.unknownStep, `no reward step handler for '${type}' in this worker (it has ${this.types().join(', ') || 'none'})`);
    }
    return handler;
  }

  /** Registered step types, sorted. */
  types(): string[] {
    return [...this.handlers.keys()].sort();
  }
}
