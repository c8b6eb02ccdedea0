import type { CallReply } from '../../common/actor';
import { assertValidTypeName } from '../../common/ids';
import { callReply, id, intIn, object, optionalId, optionalTime, positive, Raw, text, time } from '../shared/parse';
import { isEventType, MAX_EVENT_AMOUNT, MAX_EVENT_TYPE_LENGTH } from './task.definition';
import type { RewardPolicy, TaskTerms } from './task.definition';
import type { ClaimMessage, ProgressMessage, RewardCallValue, TaskMessage, TaskOrigin } from './task.types';

const HOUR_MS = 3_600_000;
const MAX_REASON_LENGTH = 500;
/** Above this an amount loses cents in a double; no real event carries it. */
const MAX_EVENTS = 16;
const MAX_STAGES = 20;
const TASK_TYPES: ReadonlySet<string> = new Set(['one-shot', 'cumulative', 'staged', 'deadline', 'recurring']);

function eventName(value: unknown, what: string): string {
  if (!isEventType(value)) {
    throw new TypeError(`${what} must be an event type: lower case letters, digits, ".", "_" and "-", starting with a letter, at most ${MAX_EVENT_TYPE_LENGTH} characters`);
  }
  return value;
}

function rewardPolicy(raw: unknown): RewardPolicy {
  const p = object(raw, 'terms.reward');
  const policy: RewardPolicy = {
    maxRetries: intIn(p.maxRetries, 0, 100, 'terms.reward.maxRetries'),
    backoffBaseMs: intIn(p.backoffBaseMs, 1, 24 * HOUR_MS, 'terms.reward.backoffBaseMs'),
    backoffCapMs: intIn(p.backoffCapMs, 1, 24 * HOUR_MS, 'terms.reward.backoffCapMs'),
    replayIntervalMs: intIn(p.replayIntervalMs, 1, 7 * 24 * HOUR_MS, 'terms.reward.replayIntervalMs'),
    maxReplays: intIn(p.maxReplays, 0, 100, 'terms.reward.maxReplays'),
  };
  if (policy.backoffBaseMs > policy.backoffCapMs) throw new TypeError('terms.reward.backoffBaseMs must not exceed terms.reward.backoffCapMs');
  return policy;
}

function stages(raw: unknown): TaskTerms['stages'] {
  if (!Array.isArray(raw) || raw.length === 0 || raw.length > MAX_STAGES) throw new TypeError(`terms.stages must be an array of 1 to ${MAX_STAGES} stages`);
  return raw.map((s, i) => {
    const stage = object(s, `terms.stages[${i}]`);
    const threshold = positive(stage.threshold, MAX_EVENT_AMOUNT, `terms.stages[${i}].threshold`);
    if (i > 0 && !(threshold > (raw[i - 1] as { threshold: number }).threshold)) {
      throw new TypeError(`terms.stages[${i}].threshold must be above the previous stage's (thresholds strictly increase)`);
    }
    const flow = optionalId(stage, 'flow', `terms.stages[${i}]`);
    return { threshold, ...(flow !== undefined ? { flow } : {}) };
  });
}

/** The terms a claim freezes: the shape `termsOf` builds, checked field by field (unknown fields are dropped). */
export function parseTaskTerms(raw: unknown): TaskTerms {
  return terms(raw);
}

function terms(raw: unknown): TaskTerms {
  const t = object(raw, 'Claim.terms');
  if (typeof t.type !== 'string' || !TASK_TYPES.has(t.type)) throw new TypeError(`terms.type must be one of ${[...TASK_TYPES].join(', ')}`);
  if (!Array.isArray(t.events) || t.events.length === 0 || t.events.length > MAX_EVENTS) throw new TypeError(`terms.events must be an array of 1 to ${MAX_EVENTS} event types`);
  if (t.measure !== 'count' && t.measure !== 'amount') throw new TypeError('terms.measure must be "count" or "amount"');
  const withinMs = t.withinMs === undefined ? undefined : intIn(t.withinMs, 1, 366 * 24 * HOUR_MS, 'terms.withinMs');
  return {
    taskDefId: id(t, 'taskDefId', 'terms'),
    merchantId: id(t, 'merchantId', 'terms'),
    version: intIn(t.version, 0, Number.MAX_SAFE_INTEGER, 'terms.version'),
    type: t.type as TaskTerms['type'],
    events: t.events.map((e, i) => eventName(e, `terms.events[${i}]`)),
    measure: t.measure,
    amountField: id(t, 'amountField', 'terms'),
    stages: stages(t.stages),
    ...(withinMs !== undefined ? { withinMs } : {}),
    reward: rewardPolicy(t.reward),
  };
}

function origin(raw: unknown): TaskOrigin {
  const o = object(raw, 'Claim.origin');
  return { type: assertValidTypeName(o.type, 'Claim.origin.type'), id: id(o, 'id', 'Claim.origin') };
}

/** A claim's body (also a Progress's `enrol`). */
function claim(m: Raw, what: string): Omit<ClaimMessage, 'type'> {
  const periodStart = optionalTime(m, 'periodStart', what);
  const periodEnd = optionalTime(m, 'periodEnd', what);
  if ((periodStart === undefined) !== (periodEnd === undefined)) throw new TypeError(`${what}.periodStart and ${what}.periodEnd come together`);
  if (periodStart !== undefined && periodEnd !== undefined && periodEnd <= periodStart) throw new TypeError(`${what}.periodEnd must be after ${what}.periodStart`);
  const deadline = optionalTime(m, 'deadline', what);
  const graceMs = m.graceMs === undefined ? undefined : intIn(m.graceMs, 0, 24 * HOUR_MS, `${what}.graceMs`);
  return {
    userId: id(m, 'userId', what),
    period: id(m, 'period', what),
    terms: terms(m.terms),
    claimedAt: time(m.claimedAt, `${what}.claimedAt`),
    ...(periodStart !== undefined ? { periodStart, periodEnd } : {}),
    ...(deadline !== undefined ? { deadline } : {}),
    ...(graceMs !== undefined ? { graceMs } : {}),
    ...(m.origin !== undefined ? { origin: origin(m.origin) } : {}),
  };
}

function progress(m: Raw): ProgressMessage {
  return {
    type: 'Progress',
    eventId: id(m, 'eventId', 'Progress'),
    event: eventName(m.event, 'Progress.event'),
    occurredAt: time(m.occurredAt, 'Progress.occurredAt'),
    amount: positive(m.amount, MAX_EVENT_AMOUNT, 'Progress.amount'),
    ...(m.enrol !== undefined ? { enrol: claim(object(m.enrol, 'Progress.enrol'), 'Progress.enrol') } : {}),
  };
}

/**
 * Validates a raw task message and returns it typed; throws a TypeError (or an INVALID_ID TerminalError) with a
 * reason a person can act on, which the runtime dead-letters as INVALID_MESSAGE, so `decide` only sees sane
 * input. A reward result's value is not checked: it reports a grant that happened, and refusing it would lose it.
 */
export function parseTaskMessage(raw: unknown): TaskMessage {
  const m = object(raw, 'a task message');
  switch (m.type) {
    case 'Claim':
      return { type: 'Claim', ...claim(m, 'Claim') };
    case 'Progress':
      return progress(m);
    case 'Terminate': {
      if (m.by !== 'merchant' && m.by !== 'ops') throw new TypeError('Terminate.by must be "merchant" or "ops"');
      const reason = m.reason === undefined ? undefined : text(m.reason, 'Terminate.reason', MAX_REASON_LENGTH);
      return { type: 'Terminate', by: m.by, operator: id(m, 'operator', 'Terminate'), ...(reason !== undefined ? { reason } : {}) };
    }
    case 'RetryFromOps': {
      const operator = optionalId(m, 'operator', 'RetryFromOps');
      return { type: 'RetryFromOps', ...(operator !== undefined ? { operator } : {}) };
    }
    case 'Deadline':
    case 'Retry':
    case 'Replay':
      return { type: m.type };
    case 'RewardResult':
      return callReply(m, 'RewardResult') as CallReply<'RewardResult', RewardCallValue>;
    case 'SubscriptionResult':
      return callReply(m, 'SubscriptionResult');
    default:
      throw new TypeError(`unknown task message type ${JSON.stringify(m.type)?.slice(0, 80)}`);
  }
}
