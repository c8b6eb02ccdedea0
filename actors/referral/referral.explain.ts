import {
  ApplicationCore,
  ManualIntervention,
  REFERRAL_REASONS,
  ReferralState,
  RelationStep,
  RewardSide,
  Side,
  SIDES,
  Termination,
} from './referral.types';

/** One reason an application is not (or not yet) rewarded: a machine-readable code, a sentence, when it happened. */
export interface ReferralReason {
  code: string;
  detail: string;
  at?: number;
}

/** Codes the explanation itself gives (the others are the components' and the actor's own reason codes). */
export const REFERRAL_EXPLAIN_CODES = {
  notAccepted: 'NOT_ACCEPTED',
  relationPending: 'RELATION_PENDING',
  taskNotCompleted: 'TASK_NOT_COMPLETED',
  taskExpired: 'TASK_EXPIRED',
  rewardPending: 'REWARD_PENDING',
} as const;

const iso = (ms: number): string => new Date(ms).toISOString();
const attempts = (n: number): string => `${n} attempt${n === 1 ? '' : 's'}`;

/** The attempts of a call step and its last error, as one clause: "2 attempts, last error ACTIVITY_UNAVAILABLE". */
function tried(step: RelationStep | RewardSide): string {
  return `${attempts(step.attempts)}${step.lastError ? `, last error ${step.lastError}` : ''}`;
}

/** "; retry round 2 at <time>" while a retry round is pending. */
function nextRound(app: ApplicationCore): string {
  return app.scheduleTime !== null ? `; retry round ${app.retryCount} at ${iso(app.scheduleTime)}` : '';
}

function relationReasons(state: Exclude<ReferralState, { status: 'NEW' }>): ReferralReason[] {
  const relation = state.relation;
  if (relation.outcome === 'ESTABLISHED') return [];
  if (relation.outcome === 'REJECTED') {
    const code = relation.reason ?? 'REJECTED';
    if (code === REFERRAL_REASONS.terminatedByOps) {
      return [{ code, detail: `relation not recorded: closed when ops terminated the application (${tried(relation)})` }];
    }
    const detail = `relation refused by the activity: ${code} (${tried(relation)}); no task and no reward follow`;
    return [{ code, detail, ...(state.status === 'REJECTED' ? { at: state.finishedAt } : {}) }];
  }
  const waiting = relation.inFlight ? 'the call is in flight' : 'no call is in flight';
  return [{ code: relation.lastError ?? REFERRAL_EXPLAIN_CODES.relationPending, detail: `relation not recorded yet: ${waiting} (${tried(relation)})${nextRound(state)}` }];
}

function sideReason(state: ApplicationCore, side: Side, step: RewardSide): ReferralReason[] {
  switch (step.outcome) {
    case 'GRANTED':
      return [];
    case 'REJECTED': {
      const code = step.reason ?? 'REJECTED';
      const why = code === REFERRAL_REASONS.terminatedByOps ? 'closed when ops terminated the application' : `refused by the activity with ${code}`;
      return [{ code, detail: `${side} reward not granted: ${why} (${tried(step)})` }];
    }
    case 'PENDING': {
      const waiting = step.inFlight ? 'the call is in flight' : 'no call is in flight';
      return [{ code: step.lastError ?? REFERRAL_EXPLAIN_CODES.rewardPending, detail: `${side} reward not granted yet: ${waiting} (${tried(step)})${nextRound(state)}` }];
    }
  }
}

function manualReason(manual: ManualIntervention, stage: string): ReferralReason {
  return { code: manual.reason, detail: `waiting for a person in the ${stage.toLowerCase()} step: ${manual.detail}`, at: manual.since };
}

function terminationReason(t: Termination): ReferralReason {
  return { code: REFERRAL_REASONS.terminatedByOps, detail: `terminated from ops by ${t.operator}: ${t.reason}`, at: t.at };
}

/**
 * Why a referral application is not rewarded, oldest step first: the relation refused (its reason) or not yet
 * recorded, the task not completed or expired (the deadline, and when it expired), each reward side not granted
 * (its reason code, attempts and last error), manual intervention (reason and detail), termination (by whom,
 * why). Empty for BOTH_REWARDED only: anything short of both grants has a reason. Pure.
 */
export function explainReferral(state: ReferralState): ReferralReason[] {
  if (state.status === 'NEW') {
    return [{ code: REFERRAL_EXPLAIN_CODES.notAccepted, detail: `application ${state.applicationId} was never accepted: no relation, no task, no reward` }];
  }
  const reasons = relationReasons(state);
  if ('taskDeadline' in state && !('completedAt' in state)) {
    if (state.status === 'EXPIRED') {
      reasons.push({
        code: REFERRAL_EXPLAIN_CODES.taskExpired,
        detail: `the invitee's task did not occur by the deadline ${iso(state.taskDeadline)}; expired at ${iso(state.finishedAt)} without rewards`,
        at: state.finishedAt,
      });
    } else {
      reasons.push({ code: REFERRAL_EXPLAIN_CODES.taskNotCompleted, detail: `waiting for the invitee's task: it counts if it occurs by ${iso(state.taskDeadline)}` });
    }
  }
  if ('sharer' in state) for (const side of SIDES) reasons.push(...sideReason(state, side, state[side]));
  if (state.status === 'MANUAL_INTERVENTION') reasons.push(manualReason(state.manual, state.stage));
  if (state.status === 'TERMINATED') reasons.push(manualReason(state.terminated.manual, state.terminated.stage), terminationReason(state.terminated));
  return reasons;
}
