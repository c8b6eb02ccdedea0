import { Decision, defineActor, TurnContext } from '../../common/actor';
import { failureKind } from '../shared/calls';
import { explainReferral } from './referral.explain';
import { parseReferralMessage, resolveSettings } from './referral.parse';
import {
  callKey,
  cancelRetry,
  grantIdOf,
  planRetry,
  presetTaskClaim,
  redriveSides,
  ReferralEffect,
  reject,
  relationCall,
  rewardedNotice,
  rewardOutcome,
  RewardStepState,
  taskAssignedNotice,
  withSide,
} from './referral.steps';
import {
  AcceptMessage,
  ApplicationCore,
  EstablishedState,
  InitState,
  InviteeRewardResultMessage,
  REFERRAL_REASONS,
  REFERRAL_TIMERS,
  ReferralMessage,
  ReferralRejection,
  ReferralState,
  RelationResultMessage,
  RetryFromOpsMessage,
  RewardSide,
  SIDES,
  SharerRewardResultMessage,
  Side,
  TaskCompletedMessage,
  TaskCompletedState,
  TERMINAL_STATUSES,
  TerminatedRelationState,
  TerminatedRewardState,
  TerminateFromOpsMessage,
  Termination,
} from './referral.types';

type D = Decision<ReferralState, ReferralMessage>;
type RewardReply = SharerRewardResultMessage | InviteeRewardResultMessage;

const HOUR_MS = 3_600_000;
const UNDECIDED: RewardSide = { outcome: 'PENDING', attempts: 0, inFlight: false };

/** True for the states an application never leaves. */
export function isTerminal(state: ReferralState): boolean {
  return TERMINAL_STATUSES.has(state.status);
}

function alreadyTerminal(state: ReferralState): D {
  return reject(ReferralRejection.AlreadyTerminal, `application ${state.applicationId} is ${state.status}, a terminal state; it never reopens`);
}

/** Drops the manual-intervention fields when an application leaves that state. */
function leaveManual<S extends { status: string }>(state: S): Omit<S, 'status' | 'stage' | 'manual'> {
  const { status: _status, stage: _stage, manual: _manual, ...rest } = state as S & { stage?: unknown; manual?: unknown };
  return rest;
}

function onAccept(state: ReferralState, m: AcceptMessage, now: number): D {
  if (isTerminal(state)) return alreadyTerminal(state);
  if (state.status !== 'NEW') {
    return reject(ReferralRejection.AlreadyAccepted, `application ${state.applicationId} was already accepted (status ${state.status})`);
  }
  const core: ApplicationCore = {
    applicationId: state.applicationId,
    activityId: m.activityId,
    sharerId: m.sharerId,
    inviteeId: m.inviteeId,
    ...(m.device !== undefined ? { device: m.device } : {}),
    ...(m.ip !== undefined ? { ip: m.ip } : {}),
    ...(m.sharerDevice !== undefined ? { sharerDevice: m.sharerDevice } : {}),
    ...(m.sharerIp !== undefined ? { sharerIp: m.sharerIp } : {}),
    settings: resolveSettings(m.settings),
    ...(m.presetTask !== undefined ? { presetTask: m.presetTask } : {}),
    acceptedAt: now,
    relation: { outcome: 'PENDING', attempts: 0, inFlight: false },
    retryCount: 0,
    scheduleTime: null,
  };
  if (m.sharerId === m.inviteeId) {
    const relation = { ...core.relation, outcome: 'REJECTED' as const, reason: REFERRAL_REASONS.selfReferral };
    return { state: { ...core, status: 'REJECTED', relation, finishedAt: now }, why: 'self-referral: the sharer invited themselves; rejected before any component call' };
  }
  const init: InitState = { ...core, status: 'INIT', relation: { ...core.relation, attempts: 1, inFlight: true } };
  return { state: init, effects: [relationCall(init)], why: `accepted; recording the relation under key ${callKey(init.applicationId, 'relation')}` };
}

function onRelationResult(state: ReferralState, reply: RelationResultMessage, now: number): D {
  if (state.status === 'NEW') return reject(ReferralRejection.UnexpectedReply, 'no relation call was made: the application was never accepted');
  const key = callKey(state.applicationId, 'relation');
  if (reply.key !== key) return reject(ReferralRejection.KeyMismatch, `a relation reply must carry key ${key}, not ${reply.key}`);
  if (state.status !== 'INIT' && !(state.status === 'MANUAL_INTERVENTION' && state.stage === 'RELATION')) {
    return { state, why: `duplicate relation reply ignored: the relation is already ${state.relation.outcome}` };
  }
  const relation = { ...state.relation, inFlight: false };
  if (reply.ok) {
    const taskDeadline = now + Math.round(state.settings.taskDeadlineHours * HOUR_MS);
    const next: EstablishedState = {
      ...leaveManual(state),
      status: 'RELATION_ESTABLISHED',
      relation: { ...relation, outcome: 'ESTABLISHED' },
      taskDeadline,
      retryCount: 0,
      scheduleTime: null,
    };
    const effects: ReferralEffect[] = [
      ...cancelRetry(state),
      { type: 'timer', key: REFERRAL_TIMERS.deadline, at: taskDeadline + state.settings.completionGraceMs, message: { type: 'TaskDeadline' } },
      taskAssignedNotice(next, taskDeadline),
      ...presetTaskClaim(next, taskDeadline, now),
    ];
    const task = next.presetTask ? `; preset task ${next.presetTask.taskDefId} claimed for the invitee` : '';
    return { state: next, effects, why: `relation recorded; the task counts if it occurs by ${taskDeadline} (inclusive)${task}` };
  }
  const { code, message } = reply.error;
  const kind = failureKind(reply);
  if (kind === 'rejected') {
    const next = { ...leaveManual(state), status: 'REJECTED' as const, relation: { ...relation, outcome: 'REJECTED' as const, reason: code }, scheduleTime: null, finishedAt: now };
    return { state: next, effects: cancelRetry(state), why: `relation refused by the activity: ${code} (${message})` };
  }
  const failed = { ...state, relation: { ...relation, lastError: code } };
  if (failed.status === 'MANUAL_INTERVENTION') return { state: failed, why: `relation call failed again (${code}); waiting for ops` };
  const plan = planRetry(failed, kind, reply.error, now);
  switch (plan.kind) {
    case 'joined':
      return { state: failed, why: `relation call failed (${code}); the pending retry round re-drives it` };
    case 'scheduled':
      return {
        state: { ...failed, retryCount: plan.retryCount, scheduleTime: plan.scheduleTime },
        effects: plan.effects,
        why: `relation call failed (${code}); retry round ${plan.retryCount} at ${plan.scheduleTime}`,
      };
    case 'manual':
      return {
        state: { ...failed, status: 'MANUAL_INTERVENTION', stage: 'RELATION', manual: plan.manual, scheduleTime: null },
        effects: plan.effects,
        why: `relation step needs a person: ${plan.manual.reason} (${plan.manual.detail})`,
      };
  }
}

/**
 * A completion counts when it OCCURRED by the deadline, boundary inclusive (`occurredAt <= taskDeadline`),
 * however late it arrives, as long as the application has not expired yet.
 */
function onTaskCompleted(state: ReferralState, m: TaskCompletedMessage, ctx: TurnContext): D {
  if (isTerminal(state)) return alreadyTerminal(state);
  const eventId = m.eventId ?? ctx.messageId;
  if (state.status === 'TASK_COMPLETED' || (state.status === 'MANUAL_INTERVENTION' && state.stage === 'REWARD')) {
    return eventId === state.completionEventId
      ? reject(ReferralRejection.DuplicateEvent, `completion ${eventId} was already applied`)
      : reject(ReferralRejection.AlreadyCompleted, `the task was already completed by event ${state.completionEventId}; ${eventId} changes nothing`);
  }
  if (state.status !== 'RELATION_ESTABLISHED') {
    return reject(ReferralRejection.NoRelation, `no task runs yet: the relation is not recorded (status ${state.status})`);
  }
  if (m.occurredAt > state.taskDeadline) {
    return reject(ReferralRejection.TaskLate, `the task occurred at ${m.occurredAt}, after the deadline ${state.taskDeadline}; the deadline timer expires the application`);
  }
  const completed: TaskCompletedState = {
    ...state,
    status: 'TASK_COMPLETED',
    completedAt: m.occurredAt,
    completionEventId: eventId,
    sharer: UNDECIDED,
    invitee: UNDECIDED,
    retryCount: 0,
    scheduleTime: null,
  };
  const { state: next, effects } = redriveSides(completed);
  return {
    state: next,
    effects: [{ type: 'cancelTimer', key: REFERRAL_TIMERS.deadline }, ...effects],
    why: `task occurred at ${m.occurredAt}, within the deadline ${state.taskDeadline}; applying both rewards in parallel`,
  };
}

function onTaskDeadline(state: ReferralState, now: number): D {
  if (state.status !== 'RELATION_ESTABLISHED') return { state, why: `task deadline ignored: the application is ${state.status}` };
  const due = state.taskDeadline + state.settings.completionGraceMs;
  if (now < due) return reject(ReferralRejection.DeadlineNotReached, `the task deadline passes at ${due}, not yet at ${now}`);
  return { state: { ...state, status: 'EXPIRED', finishedAt: now }, why: `no completion occurred by the deadline ${state.taskDeadline}; expired without rewards` };
}

function onRetry(state: ReferralState, now: number): D {
  if (state.status !== 'INIT' && state.status !== 'TASK_COMPLETED') return { state, why: `retry ignored: nothing to retry in ${state.status}` };
  if (state.scheduleTime === null) return { state, why: 'retry ignored: no retry round is pending' };
  if (now < state.scheduleTime) return reject(ReferralRejection.RetryNotDue, `the retry round is due at ${state.scheduleTime}, not yet at ${now}`);
  const round = `retry round ${state.retryCount}`;
  if (state.status === 'INIT') {
    if (state.relation.inFlight) return { state: { ...state, scheduleTime: null }, why: `${round}: the relation call is still in flight` };
    const next: InitState = { ...state, scheduleTime: null, relation: { ...state.relation, inFlight: true, attempts: state.relation.attempts + 1 } };
    return { state: next, effects: [relationCall(next)], why: `${round}: re-calling the relation with the same key` };
  }
  const { state: next, effects, sides } = redriveSides({ ...state, scheduleTime: null });
  const what = sides.length > 0 ? `re-calling ${sides.join(' and ')} with the same key` : 'every undecided side is still in flight';
  return { state: next, effects, why: `${round}: ${what}` };
}

function onRewardResult(state: ReferralState, side: Side, reply: RewardReply, now: number): D {
  if (!('sharer' in state)) {
    if (isTerminal(state)) return alreadyTerminal(state);
    return reject(ReferralRejection.UnexpectedReply, `no ${side} reward was applied for: the application is ${state.status}`);
  }
  const key = callKey(state.applicationId, side);
  if (reply.key !== key) return reject(ReferralRejection.KeyMismatch, `a ${side} reply must carry key ${key}, not ${reply.key}`);
  const current = state[side];
  if (current.outcome !== 'PENDING' || (state.status !== 'TASK_COMPLETED' && state.status !== 'MANUAL_INTERVENTION')) {
    return { state, why: `duplicate ${side} reply ignored: the side is already ${current.outcome}` };
  }
  const settled = { ...current, inFlight: false };
  if (reply.ok) {
    const grantId = grantIdOf(reply.value);
    const next = withSide(state, side, { ...settled, outcome: 'GRANTED', grantId });
    return settle(state, next, [rewardedNotice(state, side, grantId)], `${side} reward granted`, now);
  }
  const { code, message } = reply.error;
  const kind = failureKind(reply);
  if (kind === 'rejected') {
    const next = withSide(state, side, { ...settled, outcome: 'REJECTED', reason: code });
    return settle(state, next, [], `${side} reward refused: ${code} (${message})`, now);
  }
  const failed = withSide(state, side, { ...settled, lastError: code });
  if (failed.status === 'MANUAL_INTERVENTION') return { state: failed, why: `${side} reward failed again (${code}); waiting for ops` };
  const plan = planRetry(failed, kind, reply.error, now);
  switch (plan.kind) {
    case 'joined':
      return { state: failed, why: `${side} reward failed (${code}); it joins the pending retry round at ${failed.scheduleTime}` };
    case 'scheduled':
      return {
        state: { ...failed, retryCount: plan.retryCount, scheduleTime: plan.scheduleTime },
        effects: plan.effects,
        why: `${side} reward failed (${code}); retry round ${plan.retryCount} at ${plan.scheduleTime}`,
      };
    case 'manual':
      return {
        state: { ...failed, status: 'MANUAL_INTERVENTION', stage: 'REWARD', manual: plan.manual, scheduleTime: null },
        effects: plan.effects,
        why: `${side} reward needs a person: ${plan.manual.reason} (${plan.manual.detail})`,
      };
  }
}

/** After a side is decided: finish with the pair's outcome once both are, else keep waiting for the other. */
function settle(before: RewardStepState, next: RewardStepState, effects: ReferralEffect[], why: string, now: number): D {
  const outcome = rewardOutcome(next.sharer, next.invitee);
  if (outcome === null) return { state: next, effects, why };
  return {
    state: { ...leaveManual(next), status: outcome, scheduleTime: null, finishedAt: now },
    effects: [...effects, ...cancelRetry(before)],
    why: `${why}; both sides decided: ${outcome}`,
  };
}

function onRetryFromOps(state: ReferralState, m: RetryFromOpsMessage): D {
  if (isTerminal(state)) return alreadyTerminal(state);
  if (state.status !== 'MANUAL_INTERVENTION') {
    return reject(ReferralRejection.NotInManualIntervention, `only an application in MANUAL_INTERVENTION can be retried from ops (status ${state.status})`);
  }
  const who = `retried from ops${m.operator ? ` by ${m.operator}` : ''} after ${state.manual.reason}; retry budget reset`;
  if (state.stage === 'RELATION') {
    const resumed: InitState = { ...leaveManual(state), status: 'INIT', retryCount: 0, scheduleTime: null };
    if (resumed.relation.inFlight) return { state: resumed, why: `${who}; the relation call is still in flight` };
    const next: InitState = { ...resumed, relation: { ...resumed.relation, inFlight: true, attempts: resumed.relation.attempts + 1 } };
    return { state: next, effects: [relationCall(next)], why: `${who}; re-calling the relation with the same key` };
  }
  const resumed: TaskCompletedState = { ...leaveManual(state), status: 'TASK_COMPLETED', retryCount: 0, scheduleTime: null };
  const { state: next, effects, sides } = redriveSides(resumed);
  const what = sides.length > 0 ? `re-calling only ${sides.join(' and ')} with the same key` : 'every undecided side is still in flight';
  return { state: next, effects, why: `${who}; ${what}` };
}

/**
 * Ends an application waiting in MANUAL_INTERVENTION: TERMINATED, each undecided step REJECTED with
 * TERMINATED_BY_OPS, decided sides (a grant) kept, the operator and reason recorded. Refused while a call is
 * still in flight: its reply may be a grant, and a terminated application must never hide one. A side whose
 * last attempt timed out or lost its reply may still have been granted downstream; when in doubt, RetryFromOps
 * (same idempotency key: it finds that grant) is the safe choice.
 */
function onTerminateFromOps(state: ReferralState, m: TerminateFromOpsMessage, now: number): D {
  if (isTerminal(state)) return alreadyTerminal(state);
  if (state.status !== 'MANUAL_INTERVENTION') {
    return reject(ReferralRejection.NotInManualIntervention, `only an application in MANUAL_INTERVENTION can be terminated from ops (status ${state.status})`);
  }
  const reason = m.reason ?? 'terminated from ops';
  const terminated: Termination = { operator: m.operator, reason, at: now, stage: state.stage, manual: state.manual };
  const who = `terminated from ops by ${m.operator} after ${state.manual.reason} (${reason})`;
  const cut = { outcome: 'REJECTED' as const, reason: REFERRAL_REASONS.terminatedByOps };
  if (state.stage === 'RELATION') {
    if (state.relation.inFlight) {
      return reject(ReferralRejection.CallInFlight, 'the relation call is still in flight; terminate once its reply or its deadline has come, so a recorded relation is never hidden');
    }
    const next: TerminatedRelationState = { ...leaveManual(state), status: 'TERMINATED', relation: { ...state.relation, ...cut }, scheduleTime: null, finishedAt: now, terminated };
    return { state: next, effects: cancelRetry(state), why: `${who}; the relation is REJECTED (${cut.reason})` };
  }
  const flying = SIDES.filter((side) => state[side].outcome === 'PENDING' && state[side].inFlight);
  if (flying.length > 0) {
    return reject(ReferralRejection.CallInFlight, `the ${flying.join(' and ')} reward call is still in flight; terminate once its reply or its deadline has come, so a grant is never hidden`);
  }
  const close = (side: RewardSide): RewardSide => (side.outcome === 'PENDING' ? { ...side, ...cut } : side);
  const next: TerminatedRewardState = {
    ...leaveManual(state),
    status: 'TERMINATED',
    sharer: close(state.sharer),
    invitee: close(state.invitee),
    scheduleTime: null,
    finishedAt: now,
    terminated,
  };
  const closed = SIDES.filter((side) => state[side].outcome === 'PENDING');
  const kept = SIDES.filter((side) => state[side].outcome !== 'PENDING').map((side) => `${side} ${state[side].outcome}`);
  const what = `${closed.join(' and ')} REJECTED (${cut.reason})${kept.length > 0 ? `; ${kept.join(', ')} stands` : ''}`;
  return { state: next, effects: cancelRetry(state), why: `${who}; ${what}` };
}

/**
 * The referral application (人传人 申请单): the relation (activity 1), the invitee's task against its
 * deadline, then the sharer and invitee rewards (activities 2 and 3) in parallel and independently, with
 * retry rounds, manual intervention and seven terminal states (TERMINATED only from ops). Pure: time comes
 * from `ctx.now`; every call carries a per-step idempotency key that stays the same across retries, so a step
 * grants at most once.
 */
export const referralActor = defineActor<ReferralState, ReferralMessage>({
  type: 'referral',
  initial: (applicationId) => ({ status: 'NEW', applicationId }),
  parse: parseReferralMessage,
  // Results and timers come only from the runtime: a producer cannot forge a grant or an early deadline.
  internal: ['RelationResult', 'SharerRewardResult', 'InviteeRewardResult', 'TaskDeadline', 'Retry'],
  explain: explainReferral,
  decide(state, message, ctx) {
    switch (message.type) {
      case 'Accept':
        return onAccept(state, message, ctx.now);
      case 'RelationResult':
        return onRelationResult(state, message, ctx.now);
      case 'TaskCompleted':
        return onTaskCompleted(state, message, ctx);
      case 'TaskDeadline':
        return onTaskDeadline(state, ctx.now);
      case 'Retry':
        return onRetry(state, ctx.now);
      case 'SharerRewardResult':
        return onRewardResult(state, 'sharer', message, ctx.now);
      case 'InviteeRewardResult':
        return onRewardResult(state, 'invitee', message, ctx.now);
      case 'RetryFromOps':
        return onRetryFromOps(state, message);
      case 'TerminateFromOps':
        return onTerminateFromOps(state, message, ctx.now);
    }
  },
});
