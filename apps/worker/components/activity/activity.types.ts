import { z } from 'zod';
import { TerminalError } from '../../../../common';

/** Machine-readable reasons an application is not granted; each has a sentence in `REJECTION_REASONS`. */
export const REJECTION_CODES = [
  'ACTIVITY_PAUSED',
  'NOT_IN_AUDIENCE',
  'SELF_REFERRAL',
  'RISK_SAME_DEVICE',
  'RISK_SAME_IP',
  'RISK_VELOCITY',
  'CAP_DAY',
  'CAP_WEEK',
  'CAP_TOTAL',
  'BUDGET_TOTAL',
  'BUDGET_DAY',
  'ALREADY_REFERRED',
] as const;
export type RejectionCode = (typeof REJECTION_CODES)[number];

/** A sentence a person can act on, per rejection code. */
export const REJECTION_REASONS: Readonly<Record<RejectionCode, string>> = {
  ACTIVITY_PAUSED: 'the activity is paused',
  NOT_IN_AUDIENCE: "the user is outside the activity's audience",
  SELF_REFERRAL: 'the user cannot refer themselves',
  RISK_SAME_DEVICE: 'the user shares a device with the sharer',
  RISK_SAME_IP: 'the user shares an IP address with the sharer',
  RISK_VELOCITY: 'the user applied too often in the last hour',
  CAP_DAY: "the user reached today's cap for this activity",
  CAP_WEEK: "the user reached this week's cap for this activity",
  CAP_TOTAL: 'the user reached the total cap for this activity',
  BUDGET_TOTAL: "the activity's budget is used up",
  BUDGET_DAY: "the activity's budget for today is used up",
  ALREADY_REFERRED: 'the invitee already has a referral in this activity',
};

/** Codes the component throws for requests that are not business rejections. */
export const ACTIVITY_ERRORS = {
  notFound: 'ACTIVITY_NOT_FOUND',
  invalid: 'INVALID_ACTIVITY',
  unavailable: 'ACTIVITY_UNAVAILABLE',
  lostReply: 'ACTIVITY_REPLY_LOST',
} as const;

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const count = z.number().int().positive();
const tags = z.array(z.string().min(1)).optional();
const riskAction = z.enum(['reject', 'flag', 'off']);
const audienceRule = z.object({ anyOf: tags, allOf: tags, noneOf: tags }).strict();

/**
 * An activity definition. An audience rule is data: tags the user must carry (`anyOf`: at least one, `allOf`:
 * every one, `noneOf`: none); an empty rule admits everyone. `audience` decides who may be rewarded (each side
 * at activities 2 and 3), `inviteeAudience` who may be invited (activity 1, e.g. only new users). A user's
 * tags come from the request's `attributes.tags` or else from the crowd store (ActivityComponent.setUserTags).
 */
export const activitySchema = z
  .object({
    id: z.string().min(1).max(128).regex(/^[^{}\s\u0000-\u001f\u007f]+$/, "must not contain '{', '}', spaces or control characters"),
    status: z.enum(['ACTIVE', 'PAUSED']).default('ACTIVE'),
    timeZone: z.string().refine(isTimeZone, 'must be an IANA time zone, e.g. Asia/Shanghai'),
    audience: audienceRule.default({}),
    inviteeAudience: audienceRule.default({}),
    risk: z
      .object({
        selfReferral: z.literal('reject').default('reject'),
        sameDevice: riskAction.default('reject'),
        sameIp: riskAction.default('reject'),
        velocityPerHour: count.optional(),
      })
      .strict()
      .default({ selfReferral: 'reject', sameDevice: 'reject', sameIp: 'reject' }),
    caps: z.object({ perDay: count.optional(), perWeek: count.optional(), total: count.optional() }).strict().default({}),
    budget: z.object({ total: count, perDay: count.optional() }).strict(),
    budgetBuckets: z.number().int().min(1).max(64).default(1),
    prize: z.object({ kind: z.enum(['points', 'coupon', 'cashback']), amount: z.number().positive() }).strict(),
    /**
     * The preset task the invitee must complete (a task definition id in the task center, e.g. "use the coupon"):
     * the gateway freezes its terms into the Accept, and the application claims it as a user task for the invitee.
     * Without it the upstream reports TaskCompleted to the application itself.
     */
    presetTask: z.string().min(1).max(64).regex(/^[A-Za-z0-9_.-]+$/, 'a task definition id: letters, digits, ".", "_" and "-"').optional(),
  })
  .strict();

/** What `define` accepts (defaults may be left out). */
export type ActivityInput = z.input<typeof activitySchema>;
/** A validated activity definition with every default filled in. */
export type Activity = z.output<typeof activitySchema>;
export type Prize = Activity['prize'];

/** Validates a definition; throws a TerminalError naming every problem (path: message). */
export function parseActivity(input: unknown): Activity {
  const parsed = activitySchema.safeParse(input);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
  throw new TerminalError(ACTIVITY_ERRORS.invalid, `invalid activity definition: ${problems.join('; ')}`);
}

/** The sharer of a referral, as the risk policy compares them with the applicant. */
export interface SharerInfo {
  userId: string;
  device?: string;
  ip?: string;
}

/** One application for an activity's prize. `idempotencyKey` makes a retry return the first result. */
export interface ApplyRequest {
  activityId: string;
  userId: string;
  idempotencyKey: string;
  /** User attributes the audience rule reads; `tags` is the list it matches. */
  attributes?: { tags?: string[] } & Record<string, unknown>;
  device?: string;
  ip?: string;
  sharer?: SharerInfo;
}

/** One grant, as written to the user's ledger and stored under the idempotency key. */
export interface Grant {
  grantId: string;
  activityId: string;
  userId: string;
  prize: Prize;
  at: number;
  key: string;
  /** Risk flags of flag-only policies (RISK_SAME_DEVICE, RISK_SAME_IP); absent when none. */
  flags?: string[];
}

/** The answer to `apply` (`replayed`: the first result of this idempotency key, nothing evaluated again). */
export type ApplyResult =
  | { ok: true; grant: Grant; replayed: boolean }
  | { ok: false; code: RejectionCode; reason: string; replayed: boolean };

/** The answer to `consult`: would an application pass now (nothing written). */
export type ConsultResult = { ok: true; flags: string[] } | { ok: false; code: RejectionCode; reason: string };

/** The sharer -> invitee relation request (the input `activity.applyRelation` receives). */
export interface RelationRequest {
  activityId: string;
  sharerId: string;
  inviteeId: string;
  /** The invitee's device and IP, compared with the sharer's by the activity's risk policy. */
  device?: string;
  ip?: string;
  sharerDevice?: string;
  sharerIp?: string;
  /** The invitee's crowd tags for `inviteeAudience`; read from the crowd store when absent. */
  tags?: string[];
}

/** The sharer -> invitee relation recorded by `applyRelation`: the request (without tags) and the outcome. */
export interface Relation extends Omit<RelationRequest, 'tags'> {
  /** Risk flags of flag-only policies at the relation step; absent when none. */
  flags?: string[];
  at: number;
  key: string;
}
