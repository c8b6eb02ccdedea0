import { z } from 'zod';

/**
 * Task definitions and reward flows as merchants configure them (the B side of the task center). Both are
 * stored in the configuration center (common/config-center) with a version and a history; these schemas
 * validate every write, so nothing a worker loads can be malformed.
 */

// Ids that become parts of Redis keys and actor ids: no braces, no control characters, no ':' (the task
// actor id joins user, task and period with ':').
const idPart = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_.-]+$/, 'use letters, digits, ".", "_" and "-" only');

/** Longest event type (`order.paid`) a definition, a claim's terms or a receipt may name. */
export const MAX_EVENT_TYPE_LENGTH = 64;
const EVENT_TYPE = /^[a-z][a-z0-9_.-]*$/;

/** An event type: lower case letters, digits, ".", "_" and "-", starting with a letter, at most 64 characters. */
export function isEventType(value: unknown): value is string {
  return typeof value === 'string' && value.length <= MAX_EVENT_TYPE_LENGTH && EVENT_TYPE.test(value);
}

const eventName = z
  .string()
  .min(1)
  .max(MAX_EVENT_TYPE_LENGTH)
  .regex(EVENT_TYPE, 'an event type is lower case: letters, digits, ".", "_" and "-", starting with a letter');

/** An IANA time zone the runtime's Intl knows (the merchant's: daily and weekly periods follow it, DST included). */
const timeZone = z.string().refine(
  (tz) => {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  },
  { message: 'not an IANA time zone (e.g. "Asia/Shanghai", "Europe/Berlin", "UTC")' },
);

const HOUR_MS = 3_600_000;

/** The largest amount one event may count (and the largest threshold): receipts, progress messages and definitions agree. */
export const MAX_EVENT_AMOUNT = 1e12;

/** How reward calls are retried, and how the scheduled replay re-drives FAILED and TERMINATED tasks. */
export const rewardPolicySchema = z
  .object({
    /** Retry rounds of one stage's reward flow after transient failures, before the stage is FAILED. */
    maxRetries: z.number().int().min(0).max(100).default(5),
    backoffBaseMs: z.number().int().min(1).max(24 * HOUR_MS).default(2_000),
    backoffCapMs: z.number().int().min(1).max(24 * HOUR_MS).default(5 * 60_000),
    /** The replay job re-drives a FAILED task (and a TERMINATED one with earned rewards) this long after. */
    replayIntervalMs: z.number().int().min(1).max(7 * 24 * HOUR_MS).default(10 * 60_000),
    /** Replays before the task goes to manual intervention. */
    maxReplays: z.number().int().min(0).max(100).default(3),
  })
  .strict()
  .refine((p) => p.backoffBaseMs <= p.backoffCapMs, { message: 'backoffBaseMs must not exceed backoffCapMs' });
export type RewardPolicy = z.output<typeof rewardPolicySchema>;

/** One stage: reaching `threshold` (count or amount) earns the reward flow `flow` (none: nothing to grant). */
const stageSchema = z
  .object({
    threshold: z.number().positive().max(MAX_EVENT_AMOUNT),
    flow: idPart.optional(),
  })
  .strict();

const common = {
  id: idPart,
  merchantId: idPart,
  name: z.string().min(1).max(200),
  description: z.string().max(2000).optional(),
  /** ACTIVE: claims and progress count; PAUSED: claims refused, claimed tasks go on; ENDED: the merchant ended it. */
  status: z.enum(['ACTIVE', 'PAUSED', 'ENDED']).default('ACTIVE'),
  /** Event types whose receipts count as progress (the subscription index routes them). */
  events: z.array(eventName).min(1).max(16),
  /** `count`: each event counts 1; `amount`: each event counts its `amountField` (a positive number). */
  measure: z.enum(['count', 'amount']).default('count'),
  amountField: idPart.default('amount'),
  /** `claim`: the user claims first; `auto`: the first matching event enrols the user. */
  enrolment: z.enum(['claim', 'auto']).default('claim'),
  /** The merchant's time zone: recurring periods start at local midnight in it. */
  timeZone: timeZone.default('UTC'),
  /** Claims and auto-enrolment are open in [startsAt, endsAt) (ms since the epoch). */
  startsAt: z.number().int().min(0).optional(),
  endsAt: z.number().int().min(0).optional(),
  reward: rewardPolicySchema.default(() => rewardPolicySchema.parse({})),
};

/** The five task types of the write-up, tagged by `type`. */
export const taskDefinitionSchema = z
  .discriminatedUnion('type', [
    /** Done once: the first counted event completes it. */
    z.object({ ...common, type: z.literal('one-shot'), flow: idPart.optional() }).strict(),
    /** Reach `target` (events counted or amount summed). */
    z.object({ ...common, type: z.literal('cumulative'), target: z.number().positive().max(MAX_EVENT_AMOUNT), flow: idPart.optional() }).strict(),
    /** Several thresholds, ascending; each earns its own reward. */
    z.object({ ...common, type: z.literal('staged'), stages: z.array(stageSchema).min(1).max(20) }).strict(),
    /** Reach `target` within `withinMs` of claiming; the task EXPIRES otherwise. */
    z
      .object({ ...common, type: z.literal('deadline'), target: z.number().positive().max(MAX_EVENT_AMOUNT), withinMs: z.number().int().min(1_000).max(366 * 24 * HOUR_MS), flow: idPart.optional() })
      .strict(),
    /** Reach `target` in each daily or weekly period of the merchant's time zone; each period is a task of its own. */
    z
      .object({
        ...common,
        type: z.literal('recurring'),
        period: z.enum(['daily', 'weekly']),
        /** First day of a weekly period: 1 = Monday … 7 = Sunday (ISO). */
        weekStartsOn: z.number().int().min(1).max(7).default(1),
        target: z.number().positive().max(MAX_EVENT_AMOUNT),
        flow: idPart.optional(),
      })
      .strict(),
  ])
  .superRefine((d, ctx) => {
    if (d.type === 'staged') {
      for (let i = 1; i < d.stages.length; i++) {
        if (!(d.stages[i].threshold > d.stages[i - 1].threshold)) {
          ctx.addIssue({ code: 'custom', path: ['stages', i, 'threshold'], message: 'stage thresholds must strictly increase' });
        }
      }
    }
    if (d.startsAt !== undefined && d.endsAt !== undefined && d.endsAt <= d.startsAt) {
      ctx.addIssue({ code: 'custom', path: ['endsAt'], message: 'endsAt must be after startsAt' });
    }
  });
export type TaskDefinitionInput = z.input<typeof taskDefinitionSchema>;
export type TaskDefinition = z.output<typeof taskDefinitionSchema>;

/** The handlers a reward flow may use; each is idempotent per (reward, step). */
export const REWARD_STEP_TYPES = ['points', 'growth', 'coupon', 'notify', 'webhook'] as const;
export type RewardStepType = (typeof REWARD_STEP_TYPES)[number];

/** One step of a reward flow, tagged by `type`. */
export const rewardStepSchema = z.discriminatedUnion('type', [
  /** Grant `amount` points to the user. */
  z.object({ type: z.literal('points'), amount: z.number().int().positive().max(1e9) }).strict(),
  /** Grant `amount` growth value (membership level progress). */
  z.object({ type: z.literal('growth'), amount: z.number().int().positive().max(1e9) }).strict(),
  /** Issue one coupon of template `template`; `stock` (optional) caps how many the template issues in total. */
  z.object({ type: z.literal('coupon'), template: idPart, stock: z.number().int().positive().max(1e9).optional() }).strict(),
  /** Tell the user (a notification through the notifier). */
  z.object({ type: z.literal('notify'), template: idPart }).strict(),
  /** POST the reward to a merchant's URL with an Idempotency-Key header; 2xx is success. */
  z.object({ type: z.literal('webhook'), url: z.string().url().max(2000), timeoutMs: z.number().int().min(100).max(30_000).default(5_000) }).strict(),
]);
export type RewardStep = z.output<typeof rewardStepSchema>;

/** A reward flow: a configured list of steps, run in order; the flow reloads with the configuration. */
export const rewardFlowSchema = z
  .object({
    id: idPart,
    merchantId: idPart,
    name: z.string().min(1).max(200).optional(),
    steps: z.array(rewardStepSchema).min(1).max(20),
  })
  .strict();
export type RewardFlowInput = z.input<typeof rewardFlowSchema>;
export type RewardFlow = z.output<typeof rewardFlowSchema>;

/** What a user task freezes from its definition when it is claimed (the definition may change later). */
export interface TaskTerms {
  taskDefId: string;
  merchantId: string;
  /** The configuration version the task was claimed under. */
  version: number;
  type: TaskDefinition['type'];
  events: string[];
  measure: 'count' | 'amount';
  amountField: string;
  /** Thresholds in ascending order; the last one completes the task. */
  stages: Array<{ threshold: number; flow?: string }>;
  /** Complete within this long of claiming (deadline tasks; a referral's preset task gets its own deadline). */
  withinMs?: number;
  reward: RewardPolicy;
}

/** The terms a task claimed now under definition `def` (at `version`) keeps for its life. */
export function termsOf(def: TaskDefinition, version: number): TaskTerms {
  const stages = def.type === 'staged' ? def.stages.map((s) => ({ ...s })) : [{ threshold: def.type === 'one-shot' ? 1 : def.target, ...(def.flow ? { flow: def.flow } : {}) }];
  return {
    taskDefId: def.id,
    merchantId: def.merchantId,
    version,
    type: def.type,
    events: [...def.events],
    measure: def.measure,
    amountField: def.amountField,
    stages,
    ...(def.type === 'deadline' ? { withinMs: def.withinMs } : {}),
    reward: { ...def.reward },
  };
}

/** Every problem in a definition, one line each, for HTTP 400s and the ops CLI. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}
