import type { Effect, Rejection, Transition } from '../../common/actor';
import { NOTIFICATION_STREAM } from '../shared/notifications';
import { backoffMs } from '../shared/calls';
import {
  ActiveTaskState,
  RewardCallInput,
  StageState,
  SubscriptionInput,
  TASK_COMPONENTS,
  TASK_REASONS,
  TASK_TIMERS,
  TaskCore,
  TaskMessage,
  TaskRejection,
  TaskState,
} from './task.types';

export type TaskEffect = Effect<TaskMessage>;
type Status = ActiveTaskState['status'];

/**
 * A turn in the making: handlers change the state and collect effects and notes, then `finish` brings the
 * subscription and the status in line with the stages, so every transition settles the same way.
 */
export interface Draft {
  state: ActiveTaskState;
  effects: TaskEffect[];
  notes: string[];
}

export const iso = (ms: number): string => new Date(ms).toISOString();

/** A typed rejection with a sentence a person can act on. */
export function reject(code: TaskRejection, reason: string): Rejection {
  return { rejected: { code, reason } };
}

/** A stage's reward call key, `<taskId>#s<index>` (0-based): the same on every retry and replay, so the flow runs at most once. */
export function stageKey(taskId: string, index: number): string {
  return `${taskId}#s${index}`;
}

/** The stage a reward reply's key names, or undefined. */
export function stageIndexOf(state: TaskCore, key: string): number | undefined {
  const prefix = `${state.taskId}#s`;
  if (!key.startsWith(prefix)) return undefined;
  const rest = key.slice(prefix.length);
  if (!/^(0|[1-9][0-9]*)$/.test(rest)) return undefined;
  const index = Number(rest);
  return index < state.stages.length ? index : undefined;
}

/** The key of a subscription call: one per kind, so a subscribe and the unsubscribe that follows never share one. */
export function subscriptionKey(taskId: string, kind: 'subscribe' | 'unsubscribe'): string {
  return `${taskId}#${kind}`;
}


/**
 * Sums progress. Fractional amounts are rounded to 6 decimals after each addition, so the same events give the
 * same progress in any order (0.7 + 0.1 would otherwise miss a threshold of 0.8); integer sums stay exact.
 */
export function addProgress(progress: number, amount: number): number {
  const sum = progress + amount;
  return Number.isInteger(sum) || Math.abs(sum) >= 1e9 ? sum : Math.round(sum * 1e6) / 1e6;
}

/** The last stage's threshold: reaching it completes the task. */
export function targetOf(state: TaskCore): number {
  return state.stages[state.stages.length - 1].threshold;
}

/** Where counting stands, whatever the status shows (manual intervention hides it): from the fields that record it. */
export type Phase = 'COUNTING' | 'COMPLETED' | 'EXPIRED' | 'TERMINATED';
export function phaseOf(state: TaskCore): Phase {
  if (state.terminated) return 'TERMINATED';
  if (state.completedAt !== undefined) return 'COMPLETED';
  if (state.finishedAt !== undefined) return 'EXPIRED';
  return 'COUNTING';
}
const PHASE_STATUS: Readonly<Record<Phase, Status>> = { COUNTING: 'IN_PROGRESS', COMPLETED: 'COMPLETED', EXPIRED: 'EXPIRED', TERMINATED: 'TERMINATED' };
/** The status of a phase while rewards are still settling. */
export function phaseStatus(phase: Phase): Status {
  return PHASE_STATUS[phase];
}

/** A task terminated while in manual intervention is closed as it stands: no retry, no replay. */
export function isClosed(state: TaskCore): boolean {
  return state.terminated?.manual !== undefined;
}

/** True for the states a task never leaves: REWARDED, and EXPIRED or TERMINATED once no earned reward is left to settle. */
export function isTaskTerminal(state: TaskState): boolean {
  if (state.status === 'NEW') return state.terminated !== undefined;
  if (state.status === 'REWARDED') return true;
  if (state.status !== 'EXPIRED' && state.status !== 'TERMINATED') return false;
  return state.stages.every((s) => s.status === 'LOCKED' || s.status === 'GRANTED' || (s.status === 'FAILED' && isClosed(state)));
}

export function withStage(state: ActiveTaskState, index: number, stage: StageState): ActiveTaskState {
  const stages = state.stages.slice();
  stages[index] = stage;
  return { ...state, stages };
}

function rewardCall(state: ActiveTaskState, index: number): TaskEffect {
  const stage = state.stages[index];
  const input: RewardCallInput = {
    taskId: state.taskId,
    userId: state.userId,
    merchantId: state.terms.merchantId,
    taskDefId: state.terms.taskDefId,
    period: state.period,
    stage: index,
    threshold: stage.threshold,
    flow: stage.flow as string,
  };
  return { type: 'call', key: stageKey(state.taskId, index), component: TASK_COMPONENTS.reward, input, reply: 'RewardResult' };
}

/** The last instant the subscription index keeps the entry: the deadline plus its grace, or null while unbounded. */
function until(state: TaskCore): number | null {
  return state.deadline === null ? null : state.deadline + (state.graceMs ?? 0);
}

function subscriptionCall(state: ActiveTaskState, kind: 'subscribe' | 'unsubscribe'): TaskEffect {
  const input: SubscriptionInput = { userId: state.userId, taskId: state.taskId, events: state.terms.events, until: until(state) };
  return { type: 'call', key: subscriptionKey(state.taskId, kind), component: TASK_COMPONENTS[kind], input, reply: 'SubscriptionResult' };
}

/** Starts the reward calls of the given earned stages, each with its own fixed key. */
function callStages(d: Draft, indexes: number[]): void {
  for (const i of indexes) {
    const stage = d.state.stages[i];
    d.state = withStage(d.state, i, { ...stage, inFlight: true, attempts: stage.attempts + 1 });
    d.effects.push(rewardCall(d.state, i));
  }
}

/**
 * Every locked stage whose threshold the progress reached is EARNED at `occurredAt`, each once (progress only
 * grows, and a stage leaves LOCKED for good). Its reward call starts at once, unless the task waits for a person
 * (ops re-drives it); a stage without a flow has nothing to grant and is GRANTED at once.
 */
export function earnStages(d: Draft, occurredAt: number): void {
  const toCall: number[] = [];
  d.state.stages.forEach((stage, i) => {
    if (stage.status !== 'LOCKED' || stage.threshold > d.state.progress) return;
    if (stage.flow === undefined) {
      d.state = withStage(d.state, i, { ...stage, status: 'GRANTED', earnedAt: occurredAt });
      d.notes.push(`stage ${i} (threshold ${stage.threshold}) reached: no reward flow, nothing to grant`);
      return;
    }
    d.state = withStage(d.state, i, { ...stage, status: 'EARNED', earnedAt: occurredAt });
    if (d.state.status === 'MANUAL_INTERVENTION') {
      d.notes.push(`stage ${i} (threshold ${stage.threshold}) earned; its reward waits for ops`);
    } else {
      toCall.push(i);
      d.notes.push(`stage ${i} (threshold ${stage.threshold}) earned; running flow ${stage.flow} under key ${stageKey(d.state.taskId, i)}`);
    }
  });
  callStages(d, toCall);
}

/** Re-issues the calls of earned stages not waiting for a reply, with the same keys. Returns their indexes. */
export function redriveStages(d: Draft): number[] {
  const indexes = d.state.stages.flatMap((s, i) => (s.status === 'EARNED' && !s.inFlight ? [i] : []));
  callStages(d, indexes);
  return indexes;
}

/** The subscription call the task's phase wants, if any: subscribed while counting, removed after. */
function wantedSubscription(state: TaskCore): 'subscribe' | 'unsubscribe' | null {
  if (phaseOf(state) === 'COUNTING') return state.subscribed ? null : 'subscribe';
  // A failed subscribe may still have written the entry (a timeout): remove it to be sure.
  return state.subscribed || (state.subscription?.failures ?? 0) > 0 ? 'unsubscribe' : null;
}

/** A failed subscription call waits for the retry round, within the retry budget. */
function subscriptionWaits(state: TaskCore): boolean {
  const sub = state.subscription;
  return sub !== undefined && sub.inFlight === undefined && sub.failures > 0 && sub.failures <= state.terms.reward.maxRetries && wantedSubscription(state) !== null;
}

/**
 * Brings the subscription index in line with the phase: one call at a time (an unsubscribe waits for a subscribe
 * in flight, so the entry cannot be written after its removal). After a failure only the retry round calls again.
 */
export function syncSubscription(d: Draft, mode: 'auto' | 'retry'): void {
  const sub = d.state.subscription ?? { failures: 0 };
  if (sub.inFlight !== undefined) return;
  const kind = wantedSubscription(d.state);
  if (kind === null) return;
  if (mode === 'auto' ? sub.failures > 0 : sub.failures > d.state.terms.reward.maxRetries) return;
  d.state = { ...d.state, subscription: { ...sub, inFlight: kind } };
  d.effects.push(subscriptionCall(d.state, kind));
  d.notes.push(`${kind === 'subscribe' ? 'subscribing to' : 'unsubscribing from'} ${d.state.terms.events.join(', ')}`);
}

/** Something the retry round would re-drive: an earned stage not in flight (not while a person decides), or the subscription. */
function needsRetry(state: ActiveTaskState): boolean {
  const stages = state.status !== 'MANUAL_INTERVENTION' && !isClosed(state) && state.stages.some((s) => s.status === 'EARNED' && !s.inFlight);
  return stages || subscriptionWaits(state);
}

/** Joins the pending retry round, or schedules the next one with backoff. One round re-drives everything that failed. */
export function planRetry(d: Draft, now: number): void {
  const s = d.state;
  if (s.scheduleTime !== null) {
    d.notes.push(`it joins retry round ${s.retryCount} at ${iso(s.scheduleTime)}`);
    return;
  }
  const retryCount = s.retryCount + 1;
  const scheduleTime = now + backoffMs(s.terms.reward, retryCount);
  d.state = { ...s, retryCount, scheduleTime };
  d.effects.push({ type: 'timer', key: TASK_TIMERS.retry, at: scheduleTime, message: { type: 'Retry' } });
  d.notes.push(`retry round ${retryCount} at ${iso(scheduleTime)}`);
}

/** Stops for a person: the pending retry round (unless the subscription needs it) and replay are cancelled. */
export function toManual(d: Draft, reason: string, detail: string, now: number): void {
  const s = d.state;
  d.state = { ...s, status: 'MANUAL_INTERVENTION', manual: { reason, detail, since: now } };
  if (s.scheduleTime !== null && !needsRetry(d.state)) {
    d.effects.push({ type: 'cancelTimer', key: TASK_TIMERS.retry });
    d.state = { ...d.state, scheduleTime: null, retryCount: 0 };
  }
  if (s.replayAt !== undefined) {
    d.effects.push({ type: 'cancelTimer', key: TASK_TIMERS.replay });
    d.state = { ...d.state, replayAt: undefined };
  }
  d.notes.push(`waiting for a person: ${reason} (${detail})`);
}

function rewardedNotice(state: ActiveTaskState): TaskEffect {
  return {
    type: 'emit',
    stream: NOTIFICATION_STREAM,
    payload: {
      notificationId: `${state.taskId}:rewarded`,
      kind: 'TASK_REWARDED',
      userId: state.userId,
      taskId: state.taskId,
      taskDefId: state.terms.taskDefId,
      merchantId: state.terms.merchantId,
      period: state.period,
      rewards: state.stages.flatMap((s, index) => (s.outcome ? [{ stage: index, flow: s.outcome.flow, flowVersion: s.outcome.flowVersion, steps: s.outcome.steps }] : [])),
    },
  };
}

function failedStages(state: TaskCore): string {
  return state.stages.flatMap((s, i) => (s.status === 'FAILED' ? [`stage ${i} ${s.reason}${s.lastError && s.lastError !== s.reason ? ` (last error ${s.lastError})` : ''}`] : [])).join(', ');
}

/**
 * The status the stages call for, once counting is over and nothing is pending: REWARDED when every stage was
 * earned and granted (the notification goes out once, on entering it); FAILED (a completed task) with a replay
 * scheduled when a stage failed, or manual intervention once the replays are used up; otherwise EXPIRED or
 * TERMINATED as counting ended. While counting, a failed stage gets its replay too.
 */
function settle(d: Draft, before: Status, now: number): void {
  let s = d.state;
  if (s.scheduleTime !== null && !needsRetry(s)) {
    d.effects.push({ type: 'cancelTimer', key: TASK_TIMERS.retry });
    s = { ...s, scheduleTime: null, retryCount: 0 };
  }
  d.state = s;
  if (s.status === 'MANUAL_INTERVENTION') return;
  const phase = phaseOf(s);
  const pending = s.stages.some((x) => x.status === 'EARNED');
  const failed = !isClosed(s) && s.stages.some((x) => x.status === 'FAILED');
  if (failed && (phase === 'COUNTING' || !pending) && s.replayAt === undefined) {
    const policy = s.terms.reward;
    if (s.replays >= policy.maxReplays) {
      toManual(d, TASK_REASONS.maxReplays, `${s.replays} replays used (max ${policy.maxReplays}); ${failedStages(s)}`, now);
      return;
    }
    const replayAt = now + policy.replayIntervalMs;
    s = { ...s, replayAt };
    d.effects.push({ type: 'timer', key: TASK_TIMERS.replay, at: replayAt, message: { type: 'Replay' } });
    d.notes.push(`${failedStages(s)}; replay ${s.replays + 1} of ${policy.maxReplays} at ${iso(replayAt)}`);
  }
  let status: Status;
  if (phase === 'COUNTING' || pending) status = PHASE_STATUS[phase];
  else if (failed) status = phase === 'COMPLETED' ? 'FAILED' : PHASE_STATUS[phase];
  else if (s.stages.every((x) => x.status === 'GRANTED')) status = 'REWARDED';
  else status = PHASE_STATUS[phase];
  if (status === 'REWARDED' || status === 'EXPIRED' || status === 'TERMINATED') s = { ...s, finishedAt: s.finishedAt ?? now };
  d.state = { ...s, status };
  if (status === 'REWARDED' && before !== 'REWARDED') {
    d.effects.push(rewardedNotice(d.state));
    d.notes.push('every stage earned and granted: REWARDED');
  }
}

/** Ends a turn: the subscription follows the phase, the status follows the stages; the notes become the `why`. */
export function finish(d: Draft, before: Status | 'NEW', now: number): Transition<TaskState, TaskMessage> {
  syncSubscription(d, 'auto');
  settle(d, before === 'NEW' ? 'IN_PROGRESS' : before, now);
  return { state: d.state, effects: d.effects, why: d.notes.join('; ') };
}
