import { assertValidId, PropelError, RetryableError, TerminalError } from '../../../../common';
import type { RedisClient } from '../../../../common';
import { rewardFlowSchema } from '../../../../actors/task/task.definition';
import type { RewardFlow } from '../../../../actors/task/task.definition';
import type { RewardCallInput, RewardCallValue, StepOutcome } from '../../../../actors/task/task.types';
import type { FlowSource, FlowVersion } from './flow-source';
import type { StepRegistry } from './step-registry';
import type { StepResults } from './step-results';
import { TASK_REWARD_ERRORS } from './task.errors';
import type { TaskKeys } from './task.keys';

export interface TaskRewardOptions {
  /** How long the flow pin of a reward is kept (as long as its steps' results); default 30 days. */
  idempotencyTtlS?: number;
  clock?: () => number;
}

/** The key of step `index` of a reward: what its handler is idempotent on. */
export function stepKeyOf(rewardKey: string, index: number): string {
  return `${rewardKey}#${index}`;
}

/**
 * `task.reward`: runs one stage's reward flow, its steps in order, each at most once per reward key.
 *
 * The flow version is pinned to the reward key on the first run (SET NX), so a retry after the merchant
 * changed the flow runs the steps it started with and never mixes two versions. Each step's first result is
 * stored under `<rewardKey>#<index>`: a re-run skips the steps that finished and returns their references, so
 * a passing failure in step i keeps steps before it and the retry resumes at i. A missing flow or one of
 * another merchant is refused before anything is pinned, so a replay after the merchant fixes it can succeed.
 */
export class TaskRewardComponent {
  private readonly ttlS: number;
  private readonly clock: () => number;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: TaskKeys,
    private readonly flows: FlowSource,
    private readonly steps: StepRegistry,
    private readonly results: StepResults,
    options: TaskRewardOptions = {},
  ) {
    this.ttlS = options.idempotencyTtlS ?? 30 * 86_400;
    this.clock = options.clock ?? Date.now;
  }

  /** Runs the flow of `input` under `rewardKey` (the call's idempotency key, `<taskId>#s<stage>`). */
  async run(input: RewardCallInput, rewardKey: string, signal: AbortSignal): Promise<RewardCallValue> {
    assertValidId(input.userId, 'userId');
    assertValidId(input.taskId, 'taskId');
    assertValidId(rewardKey, 'idempotency key');
    const now = this.clock();
    const { version, flow } = await this.resolve(input, rewardKey);
    // Every handler is looked up before any step runs: an unknown type refuses the flow before it grants anything.
    const handlers = flow.steps.map((step) => this.steps.lookup(step.type));
    const stepKeys = flow.steps.map((_, i) => stepKeyOf(rewardKey, i));
    const done = await this.results.many(input.userId, stepKeys);
    const outcomes: StepOutcome[] = [];
    for (let i = 0; i < flow.steps.length; i++) {
      const step = flow.steps[i];
      let ref = done[i];
      if (ref === undefined) {
        const where = `step ${i} (${step.type}) of flow ${flow.id} v${version} for ${rewardKey}`;
        if (signal.aborted) throw new RetryableError(TASK_REWARD_ERRORS.unavailable, `${where} not started: the call was aborted`);
        try {
          ref = await handlers[i].run(step, { userId: input.userId, merchantId: input.merchantId, stepKey: stepKeys[i], rewardKey, taskId: input.taskId, now, signal });
          ref = await this.results.record(input.userId, stepKeys[i], ref);
        } catch (err) {
          throw stepFailure(err, where);
        }
      }
      outcomes.push({ index: i, type: step.type, ref });
    }
    return { flow: input.flow, flowVersion: version, steps: outcomes };
  }

  /** The flow version this reward runs: the pinned one, or the current one, pinned now. */
  private async resolve(input: RewardCallInput, rewardKey: string): Promise<{ version: number; flow: RewardFlow }> {
    const pin = this.keys.rewardPin(input.userId, rewardKey);
    let pinned = await this.redis.get(pin);
    if (pinned === null) {
      const current = this.flows.current(input.flow);
      if (!current) throw new TerminalError(TASK_REWARD_ERRORS.flowNotFound, `reward flow ${input.flow} is not configured`);
      const flow = checkFlow(current, input);
      if ((await this.redis.set(pin, String(current.version), 'EX', this.ttlS, 'NX')) === 'OK') return { version: current.version, flow };
      pinned = await this.redis.get(pin); // another run pinned first: run its version
      if (pinned === null) throw new RetryableError(TASK_REWARD_ERRORS.unavailable, `the flow pin of ${rewardKey} vanished while it was read; try again`);
    }
    const version = Number(pinned);
    const current = this.flows.current(input.flow);
    const found = current?.version === version ? current : await this.flows.at(input.flow, version);
    if (!found) {
      throw new TerminalError(TASK_REWARD_ERRORS.flowNotFound, `reward flow ${input.flow} v${version}, which ${rewardKey} first ran with, is no longer in the configuration history`);
    }
    return { version, flow: checkFlow(found, input) };
  }
}

/** The flow of a stored version, validated and checked to be the task's merchant's. */
function checkFlow(found: FlowVersion, input: RewardCallInput): RewardFlow {
  const parsed = rewardFlowSchema.safeParse(found.value);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new TerminalError(TASK_REWARD_ERRORS.flowInvalid, `reward flow ${input.flow} v${found.version} is invalid: ${problems}`);
  }
  if (parsed.data.merchantId !== input.merchantId) {
    throw new TerminalError(
      TASK_REWARD_ERRORS.flowMerchantMismatch,
      `reward flow ${input.flow} belongs to merchant ${parsed.data.merchantId}, not to ${input.merchantId} whose task ${input.taskId} earned the reward`,
    );
  }
  return parsed.data;
}

/** A step's failure as the call reports it: its code kept, its message naming the step; terminal stays terminal. */
function stepFailure(err: unknown, where: string): PropelError {
  const message = `${where}: ${err instanceof Error ? err.message : String(err)}`;
  if (err instanceof TerminalError) return new TerminalError(err.code, message, { cause: err });
  if (err instanceof RetryableError) return new RetryableError(err.code, message, err.retryAfterMs, { cause: err });
  if (err instanceof PropelError) return new TerminalError(err.code, message, { cause: err });
  return new RetryableError(TASK_REWARD_ERRORS.unavailable, message, 0, { cause: err });
}
