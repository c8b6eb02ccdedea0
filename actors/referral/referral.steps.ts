import type { Effect, Rejection } from '../../common/actor';
import { NOTIFICATION_STREAM } from '../shared/notifications';
import { messageHash } from '../../common/actor/turn';
import { ClaimMessage, TASK_ACTOR, taskActorId } from '../task/task.types';
import { backoffMs } from '../shared/calls';
import {
  ApplicationCore,
  ManualIntervention,
  REFERRAL_COMPONENTS,
  REFERRAL_REASONS,
  REFERRAL_TIMERS,
  ReferralMessage,
  ReferralRejection,
  ManualRewardState,
  REWARD_REPLY,
  RewardOutcome,
  RewardSide,
  Side,
  SIDES,
  TaskCompletedState,
} from './referral.types';

export type ReferralEffect = Effect<ReferralMessage>;

/** A typed rejection with a sentence a person can act on. */
export function reject(code: ReferralRejection, reason: string): Rejection {
  return { rejected: { code, reason } };
}

/** The idempotency key of a step: the same on every retry, so a retried call never grants twice. */
export function callKey(applicationId: string, step: 'relation' | Side): string {
  return `${applicationId}:${step}`;
}


/** Reward outcome from the pair of sides, or null while a side is undecided. */
export function rewardOutcome(sharer: RewardSide, invitee: RewardSide): RewardOutcome | null {
  if (sharer.outcome === 'PENDING' || invitee.outcome === 'PENDING') return null;
  const s = sharer.outcome === 'GRANTED';
  const i = invitee.outcome === 'GRANTED';
  return s && i ? 'BOTH_REWARDED' : s ? 'SHARER_ONLY' : i ? 'INVITEE_ONLY' : 'NEITHER';
}

/** Activity 1: record the relation (the component runs the risk and audience checks). */
export function relationCall(app: ApplicationCore): ReferralEffect {
  return {
    type: 'call',
    key: callKey(app.applicationId, 'relation'),
    component: REFERRAL_COMPONENTS.relation,
    reply: 'RelationResult',
    input: {
      applicationId: app.applicationId,
      activityId: app.activityId,
      sharerId: app.sharerId,
      inviteeId: app.inviteeId,
      ...devices(app),
    },
  };
}

/** The devices and IPs the risk checks compare, where they were given. */
function devices(app: ApplicationCore): Partial<Pick<ApplicationCore, 'device' | 'ip' | 'sharerDevice' | 'sharerIp'>> {
  const out: Partial<Pick<ApplicationCore, 'device' | 'ip' | 'sharerDevice' | 'sharerIp'>> = {};
  for (const field of ['device', 'ip', 'sharerDevice', 'sharerIp'] as const) if (app[field] !== undefined) out[field] = app[field];
  return out;
}

/** Activity 2 (sharer) or 3 (invitee): apply for that side's reward. */
export function rewardCall(app: ApplicationCore & { completedAt: number }, side: Side): ReferralEffect {
  return {
    type: 'call',
    key: callKey(app.applicationId, side),
    component: REFERRAL_COMPONENTS.reward,
    reply: REWARD_REPLY[side],
    input: {
      applicationId: app.applicationId,
      activityId: app.activityId,
      side,
      userId: side === 'sharer' ? app.sharerId : app.inviteeId,
      sharerId: app.sharerId,
      inviteeId: app.inviteeId,
      completedAt: app.completedAt,
      // The invitee side repeats the risk checks at grant time, so a flag-only policy's flags reach the grant.
      ...(side === 'invitee' ? devices(app) : {}),
    },
  };
}

/**
 * The period of an application's preset task: one user task per application. Application ids hold ':', which a
 * task id's period may not, so the period is a 53-bit hash of the id (the invitee and task are in the task id).
 */
export function presetTaskPeriod(applicationId: string): string {
  return `ref-${messageHash(applicationId).toString(36)}`;
}

/**
 * Claims the activity's preset task for the invitee as a user task (the task center's `task` actor), with the
 * application's deadline; the task reports its completion back with TaskCompleted. None without a preset task.
 */
export function presetTaskClaim(app: ApplicationCore, taskDeadline: number, now: number): ReferralEffect[] {
  if (!app.presetTask) return [];
  const period = presetTaskPeriod(app.applicationId);
  const claim: ClaimMessage = {
    type: 'Claim',
    userId: app.inviteeId,
    period,
    terms: app.presetTask,
    claimedAt: now,
    deadline: taskDeadline,
    graceMs: app.settings.completionGraceMs,
    origin: { type: 'referral', id: app.applicationId },
  };
  return [{ type: 'send', to: { type: TASK_ACTOR, id: taskActorId(app.inviteeId, app.presetTask.taskDefId, period) }, message: claim }];
}

/** Tells the invitee the task and its deadline. `notificationId` lets the notifier drop repeats. */
export function taskAssignedNotice(app: ApplicationCore, taskDeadline: number): ReferralEffect {
  return {
    type: 'emit',
    stream: NOTIFICATION_STREAM,
    payload: {
      notificationId: `${app.applicationId}:task-assigned`,
      kind: 'REFERRAL_TASK_ASSIGNED',
      applicationId: app.applicationId,
      activityId: app.activityId,
      userId: app.inviteeId,
      taskDeadline,
    },
  };
}

/** Tells one side its reward was granted; emitted once, when that side is granted. */
export function rewardedNotice(app: ApplicationCore, side: Side, grantId: unknown): ReferralEffect {
  return {
    type: 'emit',
    stream: NOTIFICATION_STREAM,
    payload: {
      notificationId: `${app.applicationId}:rewarded:${side}`,
      kind: 'REFERRAL_REWARDED',
      applicationId: app.applicationId,
      activityId: app.activityId,
      side,
      userId: side === 'sharer' ? app.sharerId : app.inviteeId,
      grantId,
    },
  };
}

/** Cancels the pending retry round's timer, if one is pending (`scheduleTime` and the timer move together). */
export function cancelRetry(app: ApplicationCore): ReferralEffect[] {
  return app.scheduleTime === null ? [] : [{ type: 'cancelTimer', key: REFERRAL_TIMERS.retry }];
}

/** The grant reference in a successful reply: `value.grantId` when present, else the value itself. */
export function grantIdOf(value: unknown): unknown {
  if (typeof value === 'object' && value !== null && 'grantId' in value) return (value as { grantId: unknown }).grantId;
  return value;
}

/** The next step after a transient or system failure: join the pending round, schedule one, or stop for a person. */
export type RetryPlan =
  | { kind: 'joined' }
  | { kind: 'scheduled'; retryCount: number; scheduleTime: number; effects: ReferralEffect[] }
  | { kind: 'manual'; manual: ManualIntervention; effects: ReferralEffect[] };

/**
 * Plans compensation after a failed call. One retry round re-drives every undecided step, so a second
 * failure while a round is pending joins it instead of spending another retry.
 */
export function planRetry(app: ApplicationCore, kind: 'transient' | 'system', error: { code: string; message: string }, now: number): RetryPlan {
  if (kind === 'system') {
    return { kind: 'manual', manual: { reason: error.code, detail: error.message, since: now }, effects: cancelRetry(app) };
  }
  if (app.scheduleTime !== null) return { kind: 'joined' };
  if (app.retryCount >= app.settings.maxRetries) {
    const detail = `${app.retryCount} retry rounds used (max ${app.settings.maxRetries}); last error ${error.code}: ${error.message}`;
    return { kind: 'manual', manual: { reason: REFERRAL_REASONS.maxRetries, detail, since: now }, effects: [] };
  }
  const retryCount = app.retryCount + 1;
  const scheduleTime = now + backoffMs(app.settings, retryCount);
  return { kind: 'scheduled', retryCount, scheduleTime, effects: [{ type: 'timer', key: REFERRAL_TIMERS.retry, at: scheduleTime, message: { type: 'Retry' } }] };
}

/** A state in the reward step: the sides are still being applied. */
export type RewardStepState = TaskCompletedState | ManualRewardState;

/** The state with one side replaced. */
export function withSide<S extends RewardStepState>(state: S, side: Side, value: RewardSide): S {
  return side === 'sharer' ? { ...state, sharer: value } : { ...state, invitee: value };
}

/** Re-issues the reward calls of sides that are undecided and not waiting for a reply; the same keys every time. */
export function redriveSides<S extends RewardStepState>(state: S): { state: S; effects: ReferralEffect[]; sides: Side[] } {
  const sides = SIDES.filter((side) => state[side].outcome === 'PENDING' && !state[side].inFlight);
  let next = state;
  for (const side of sides) next = withSide(next, side, { ...next[side], inFlight: true, attempts: next[side].attempts + 1 });
  return { state: next, effects: sides.map((side) => rewardCall(state, side)), sides };
}
