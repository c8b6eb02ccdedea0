import { iso, phaseOf, targetOf } from './task.steps';
import { ActiveTaskState, StageState, TASK_REASONS, TaskRejection, TaskState, TaskTermination } from './task.types';

/** One reason a task is not (or not yet) rewarded: a machine-readable code, a sentence, when it happened. */
export interface TaskReason {
  code: string;
  detail: string;
  at?: number;
}

/** Codes the explanation itself gives (the others are the actor's reason codes and the components' error codes). */
export const TASK_EXPLAIN_CODES = {
  notClaimed: TaskRejection.NotClaimed,
  rewardPending: 'REWARD_PENDING',
  notSubscribed: 'NOT_SUBSCRIBED',
} as const;

const attempts = (n: number): string => `${n} attempt${n === 1 ? '' : 's'}`;

function tried(stage: StageState): string {
  return `${attempts(stage.attempts)}${stage.lastError ? `, last error ${stage.lastError}` : ''}`;
}

function terminationReason(t: TaskTermination): TaskReason {
  const code = t.by === 'merchant' ? TASK_REASONS.terminatedByMerchant : TASK_REASONS.terminatedByOps;
  const manual = t.manual ? `; it was waiting for a person (${t.manual.reason}: ${t.manual.detail}) and was closed as it stood` : '';
  return { code, detail: `terminated by ${t.by} ${t.operator}${t.reason ? `: ${t.reason}` : ''}${manual}`, at: t.at };
}

function stageReason(state: ActiveTaskState, stage: StageState, index: number): TaskReason[] {
  const name = `stage ${index} (threshold ${stage.threshold}${stage.flow ? `, flow ${stage.flow}` : ''})`;
  const at = stage.earnedAt !== undefined ? { at: stage.earnedAt } : {};
  switch (stage.status) {
    case 'GRANTED':
      return [];
    case 'LOCKED': {
      const phase = phaseOf(state);
      const when = phase === 'EXPIRED' ? 'when the deadline passed' : phase === 'TERMINATED' ? 'when the task was terminated' : 'yet';
      return [{ code: TASK_REASONS.notEarned, detail: `${name} not reached ${when}: progress ${state.progress} of ${stage.threshold}` }];
    }
    case 'EARNED': {
      const waiting = stage.inFlight
        ? 'its reward call is in flight'
        : state.status === 'MANUAL_INTERVENTION'
          ? 'its reward waits for ops'
          : state.scheduleTime !== null
            ? `retry round ${state.retryCount} at ${iso(state.scheduleTime)}`
            : state.replayAt !== undefined
              ? `replay ${state.replays + 1} at ${iso(state.replayAt)}`
              : 'no call is in flight';
      return [{ code: stage.lastError ?? TASK_EXPLAIN_CODES.rewardPending, detail: `${name} earned, reward not granted yet: ${waiting} (${tried(stage)})`, ...at }];
    }
    case 'FAILED': {
      const code = stage.reason ?? stage.lastError ?? 'FAILED';
      const why = code === TASK_REASONS.maxRetries ? `its retries ran out (max ${state.terms.reward.maxRetries})` : code === TASK_REASONS.terminatedByMerchant || code === TASK_REASONS.terminatedByOps ? 'closed by the termination' : `refused with ${code}`;
      const next = state.replayAt !== undefined ? `; replay ${state.replays + 1} of ${state.terms.reward.maxReplays} at ${iso(state.replayAt)}` : '';
      return [{ code, detail: `${name} reward FAILED: ${why} (${tried(stage)}; ${state.replays} replays used)${next}`, ...at }];
    }
  }
}

/**
 * Why a task is not rewarded, stage by stage: a stage not reached (progress against its threshold, and whether
 * the deadline passed or the task was terminated), a reward pending (in flight, waiting for its retry round or
 * replay, attempts and last error) or FAILED (its code: the component's, MAX_RETRIES, or the termination's, with
 * replays used), then the deadline passing, manual intervention and termination (by whom and why). Empty once
 * REWARDED: every stage earned and granted. Pure.
 */
export function explainTask(state: TaskState): TaskReason[] {
  if (state.status === 'NEW') {
    if (state.terminated) return [terminationReason(state.terminated)];
    const early = state.early.length > 0 ? `; ${state.early.length} early event(s) kept for the claim` : '';
    return [{ code: TASK_EXPLAIN_CODES.notClaimed, detail: `task ${state.taskId} was never claimed${early}` }];
  }
  if (state.status === 'REWARDED') return [];
  const reasons = state.stages.flatMap((stage, i) => stageReason(state, stage, i));
  const phase = phaseOf(state);
  if (phase === 'COUNTING' && !state.subscribed && state.subscription?.lastError) {
    reasons.push({ code: TASK_EXPLAIN_CODES.notSubscribed, detail: `not in the subscription index (${state.subscription.failures} failures, last error ${state.subscription.lastError}): upstream events may not reach the task` });
  }
  if (phase === 'EXPIRED') {
    const deadline = state.deadline !== null ? iso(state.deadline) : 'its deadline';
    reasons.push({ code: TASK_REASONS.expired, detail: `progress ${state.progress} of ${targetOf(state)} when the deadline ${deadline} passed; the task never reopens`, ...(state.finishedAt !== undefined ? { at: state.finishedAt } : {}) });
  }
  if (state.status === 'MANUAL_INTERVENTION' && state.manual) {
    reasons.push({ code: state.manual.reason, detail: `waiting for a person: ${state.manual.detail}`, at: state.manual.since });
  }
  if (state.terminated) reasons.push(terminationReason(state.terminated));
  return reasons;
}
