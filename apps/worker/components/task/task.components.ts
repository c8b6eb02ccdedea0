import type { Component, RedisClient } from '../../../../common';
import { TASK_COMPONENTS } from '../../../../actors/task/task.types';
import type { FlowSource } from './flow-source';
import { TaskRewardComponent } from './reward.component';
import { StepRegistry } from './step-registry';
import { StepResults } from './step-results';
import { BalanceStep } from './steps/balance.step';
import { CouponStep, newCouponCode } from './steps/coupon.step';
import { NotifyStep } from './steps/notify.step';
import type { StepDeps } from './steps/step-deps';
import { WebhookStep } from './steps/webhook.step';
import { parseInput, rewardCallInputSchema, subscriptionInputSchema, unsubscriptionInputSchema } from './task.inputs';
import type { TaskKeys } from './task.keys';
import { SubscriptionIndex } from './subscriptions';

/** Defaults of the task components. */
export const TASK_COMPONENT_DEFAULTS = {
  /** Step results, flow pins, coupon reservations and notification marks are kept 30 days. */
  idempotencyTtlS: 30 * 86_400,
  /** Ledger entries kept per user. */
  ledgerMax: 1_000,
} as const;

export interface TaskComponentOptions {
  idempotencyTtlS?: number;
  ledgerMax?: number;
  /** Injected for tests; Node's global fetch otherwise. */
  fetch?: typeof fetch;
  newCouponCode?: (template: string) => string;
}

/** What the task components need; `steps` replaces the built-in handlers (add one with `builtInSteps(...).register`). */
export interface TaskComponentDeps {
  redis: RedisClient;
  keys: TaskKeys;
  flows: FlowSource;
  steps?: StepRegistry;
  clock?: () => number;
  options?: TaskComponentOptions;
}

/** The stores the built-in handlers share, from the deps' connection, keys and options. */
function stepDeps(redis: RedisClient, keys: TaskKeys, options: TaskComponentOptions = {}): StepDeps {
  const ttlS = options.idempotencyTtlS ?? TASK_COMPONENT_DEFAULTS.idempotencyTtlS;
  return { redis, keys, ttlS, ledgerMax: options.ledgerMax ?? TASK_COMPONENT_DEFAULTS.ledgerMax, results: new StepResults(redis, keys, ttlS) };
}

/** A registry with the five built-in handlers: points, growth, coupon, notify, webhook. */
export function builtInSteps(redis: RedisClient, keys: TaskKeys, options: TaskComponentOptions = {}): StepRegistry {
  const deps = stepDeps(redis, keys, options);
  return new StepRegistry()
    .register(new BalanceStep('points', deps))
    .register(new BalanceStep('growth', deps))
    .register(new CouponStep(deps, options.newCouponCode ?? newCouponCode))
    .register(new NotifyStep(deps))
    .register(new WebhookStep(deps, options.fetch ?? fetch));
}

/**
 * The task center's components as the runtime calls them (TASK_COMPONENTS): `task.reward` runs a stage's
 * reward flow under the call's idempotency key; `task.subscribe` / `task.unsubscribe` write the subscription
 * index. Bad input and business refusals throw TerminalError, passing failures RetryableError.
 */
export function taskComponents(deps: TaskComponentDeps): Record<string, Component> {
  const { redis, keys, options = {} } = deps;
  const { results, ttlS } = stepDeps(redis, keys, options);
  const reward = new TaskRewardComponent(redis, keys, deps.flows, deps.steps ?? builtInSteps(redis, keys, options), results, {
    idempotencyTtlS: ttlS,
    ...(deps.clock ? { clock: deps.clock } : {}),
  });
  const index = new SubscriptionIndex(redis, keys, deps.clock ? { clock: deps.clock } : {});
  return {
    [TASK_COMPONENTS.reward]: (input, ctx) => reward.run(parseInput(rewardCallInputSchema, input, TASK_COMPONENTS.reward), ctx.idempotencyKey, ctx.signal),
    [TASK_COMPONENTS.subscribe]: async (input) => {
      const req = parseInput(subscriptionInputSchema, input, TASK_COMPONENTS.subscribe);
      await index.subscribe(req);
      return { taskId: req.taskId, subscribed: true };
    },
    [TASK_COMPONENTS.unsubscribe]: async (input) => {
      const req = parseInput(unsubscriptionInputSchema, input, TASK_COMPONENTS.unsubscribe);
      await index.unsubscribe(req);
      return { taskId: req.taskId, subscribed: false };
    },
  };
}
