import { randomBytes } from 'node:crypto';
import { TerminalError } from '../../../../../common';
import type { RewardStep } from '../../../../../actors/task/task.definition';
import type { RewardStepHandler, StepContext } from '../step-registry';
import { TASK_REWARD_ERRORS } from '../task.errors';
import type { TaskLedgerEntry } from '../task.rewards';
import { taskScripts } from '../task.scripts';
import type { StepDeps } from './step-deps';

type CouponStepConfig = Extract<RewardStep, { type: 'coupon' }>;

/** What a coupon step returns: the template and the code issued to the user. */
export interface CouponRef {
  template: string;
  code: string;
}

/** A fresh coupon code: 12 upper-case hex characters after the template (unguessable, never parsed). */
export function newCouponCode(template: string): string {
  return `${template}-${randomBytes(6).toString('hex').toUpperCase()}`;
}

/**
 * `coupon`: issues one coupon of the step's template. The stock counter lives in the template's slot and the
 * ledger in the user's, so no one script can do both: the step first reserves a unit in the template's slot,
 * idempotently per step key (reserveCoupon-2.lua keeps the code it issued), then records the coupon in the
 * user's ledger, idempotently too (grantStep-3.lua). A crash between the two re-runs into the same reservation
 * and the same code; a template whose stock is spent refuses with COUPON_OUT_OF_STOCK.
 */
export class CouponStep implements RewardStepHandler<CouponStepConfig> {
  readonly type = 'coupon';

  constructor(
    private readonly deps: StepDeps,
    private readonly newCode: (template: string) => string = newCouponCode,
  ) {}

  async run(step: CouponStepConfig, ctx: StepContext): Promise<CouponRef> {
    const { keys, redis, ttlS, ledgerMax } = this.deps;
    const done = await this.deps.results.get(ctx.userId, ctx.stepKey);
    if (done !== undefined) return done as CouponRef;
    const reply = await taskScripts(redis).reserveCoupon(
      keys.couponIssued(ctx.merchantId, step.template), keys.couponReservation(ctx.merchantId, step.template, ctx.stepKey),
      step.stock ?? 0, this.newCode(step.template), ttlS,
    );
    if (reply[0] !== 1) {
      throw new TerminalError(TASK_REWARD_ERRORS.couponOutOfStock, `coupon template ${step.template} of merchant ${ctx.merchantId} has issued its whole stock of ${step.stock}`);
    }
    const ref: CouponRef = { template: step.template, code: String(reply[1]) };
    const entry: TaskLedgerEntry = { key: ctx.stepKey, type: 'coupon', template: step.template, code: ref.code, taskId: ctx.taskId, merchantId: ctx.merchantId, at: ctx.now };
    const [stored] = await taskScripts(redis).grantStep(
      keys.stepResult(ctx.userId, ctx.stepKey), keys.balances(ctx.userId), keys.ledger(ctx.userId),
      '', 0, JSON.stringify(ref), JSON.stringify(entry), ttlS, ledgerMax,
    );
    return JSON.parse(stored) as CouponRef;
  }
}
