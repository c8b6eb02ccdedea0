import type { RewardStep } from '../../../../../actors/task/task.definition';
import type { RewardStepHandler, StepContext } from '../step-registry';
import type { TaskLedgerEntry } from '../task.rewards';
import { taskScripts } from '../task.scripts';
import type { StepDeps } from './step-deps';

type BalanceStepConfig = Extract<RewardStep, { type: 'points' | 'growth' }>;

/** What a points or growth step returns: the amount granted and the balance right after. */
export interface BalanceRef {
  amount: number;
  balance: number;
}

/**
 * `points` and `growth`: adds the step's amount to the user's balance, appends the ledger entry and marks the
 * step, in one script in the user's slot (grantStep-3.lua): the same step key returns its first reference and
 * never grants twice, however many runs race.
 */
export class BalanceStep implements RewardStepHandler<BalanceStepConfig> {
  constructor(
    readonly type: BalanceStepConfig['type'],
    private readonly deps: StepDeps,
  ) {}

  async run(step: BalanceStepConfig, ctx: StepContext): Promise<BalanceRef> {
    const { keys, redis, ttlS, ledgerMax } = this.deps;
    const entry: TaskLedgerEntry = { key: ctx.stepKey, type: this.type, amount: step.amount, taskId: ctx.taskId, merchantId: ctx.merchantId, at: ctx.now };
    const [ref] = await taskScripts(redis).grantStep(
      keys.stepResult(ctx.userId, ctx.stepKey), keys.balances(ctx.userId), keys.ledger(ctx.userId),
      this.type, step.amount, '', JSON.stringify(entry), ttlS, ledgerMax,
    );
    return JSON.parse(ref) as BalanceRef;
  }
}
