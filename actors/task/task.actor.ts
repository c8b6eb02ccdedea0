import { Decision, defineActor } from '../../common/actor';
import { failureKind } from '../shared/calls';
import { explainTask } from './task.explain';
import { parseTaskMessage } from './task.parse';
import {
  addProgress,
  Draft,
  earnStages,
  finish,
  isClosed,
  iso,
  phaseOf,
  phaseStatus,
  planRetry,
  redriveStages,
  reject,
  stageIndexOf,
  subscriptionKey,
  syncSubscription,
  targetOf,
  toManual,
  withStage,
} from './task.steps';
import {
  ActiveTaskState,
  ClaimMessage,
  COUNTED_EVENTS_KEPT,
  EARLY_PROGRESS_KEPT,
  NewTaskState,
  ProgressMessage,
  RetryFromOpsMessage,
  RewardResultMessage,
  StageState,
  SubscriptionResultMessage,
  TASK_ACTOR,
  TASK_REASONS,
  TASK_TIMERS,
  TaskMessage,
  TaskRejection,
  TaskState,
  TaskTermination,
  TerminateMessage,
} from './task.types';

export { explainTask } from './task.explain';
export { isTaskTerminal } from './task.steps';
export { taskView } from './task.view';

type D = Decision<TaskState, TaskMessage>;
type Refusal = { code: TaskRejection; reason: string };

const draftOf = (state: ActiveTaskState): Draft => ({ state, effects: [], notes: [] });

function alreadyTerminal(state: TaskState): D {
  return reject(TaskRejection.AlreadyTerminal, `task ${state.taskId} is ${state.status === 'NEW' ? 'TERMINATED' : state.status}, a terminal state; it never reopens`);
}

function notClaimed(state: NewTaskState, what: string): D {
  return state.terminated ? alreadyTerminal(state) : reject(TaskRejection.NotClaimed, `task ${state.taskId} was never claimed: ${what}`);
}

/**
 * The claim: terms frozen, the deadline fixed (the claim's own, else `withinMs` after claiming, else the end of
 * the recurring period, else none), the Deadline timer set just after it (+ grace) so an event occurring exactly
 * at the deadline counts, and the task written into the user's subscription index.
 */
function claim(taskId: string, m: Omit<ClaimMessage, 'type'>): Draft {
  const deadline = m.deadline ?? (m.terms.withinMs !== undefined ? m.claimedAt + m.terms.withinMs : m.periodEnd !== undefined ? m.periodEnd - 1 : null);
  const graceMs = m.graceMs ?? 0;
  const state: ActiveTaskState = {
    status: 'IN_PROGRESS',
    taskId,
    userId: m.userId,
    period: m.period,
    terms: m.terms,
    claimedAt: m.claimedAt,
    deadline,
    ...(m.graceMs !== undefined ? { graceMs: m.graceMs } : {}),
    ...(m.periodStart !== undefined ? { periodStart: m.periodStart, periodEnd: m.periodEnd } : {}),
    ...(m.origin !== undefined ? { origin: m.origin } : {}),
    progress: 0,
    counted: [],
    stages: m.terms.stages.map((s): StageState => ({ threshold: s.threshold, ...(s.flow !== undefined ? { flow: s.flow } : {}), status: 'LOCKED', attempts: 0, inFlight: false })),
    retryCount: 0,
    replays: 0,
    scheduleTime: null,
    subscribed: false,
  };
  const d = draftOf(state);
  if (deadline !== null) d.effects.push({ type: 'timer', key: TASK_TIMERS.deadline, at: deadline + graceMs + 1, message: { type: 'Deadline' } });
  d.notes.push(`claimed under ${m.terms.taskDefId} v${m.terms.version} (${m.terms.type}, target ${targetOf(state)}); ${deadline === null ? 'no deadline' : `events count if they occur by ${iso(deadline)} (inclusive)`}`);
  return d;
}

/** Applies buffered early progress right after a claim, in arrival order; what does not count is noted. */
function applyEarly(d: Draft, early: ProgressMessage[]): void {
  for (const m of early) {
    const refused = count(d, m);
    if (refused) d.notes.push(`early event ${m.eventId} not counted: ${refused.code} (${refused.reason})`);
  }
}

/**
 * Counts one event, judged by when it OCCURRED (inside the period, at or before the deadline), not when it
 * arrived, and once per event id. Progress is a sum, and stage thresholds are checked after each counted event,
 * so any order of the same events earns the same stages, each once. Reaching the last threshold completes the task.
 */
function count(d: Draft, m: ProgressMessage): Refusal | null {
  const s = d.state;
  if (s.counted.includes(m.eventId)) return { code: TaskRejection.DuplicateEvent, reason: `event ${m.eventId} was already counted` };
  if (phaseOf(s) !== 'COUNTING') return { code: TaskRejection.NotCounting, reason: `the task no longer counts events (status ${s.status})` };
  if (!s.terms.events.includes(m.event)) return { code: TaskRejection.NotListening, reason: `${m.event} is not one of the events this task counts (${s.terms.events.join(', ')})` };
  if (s.periodStart !== undefined && s.periodEnd !== undefined && (m.occurredAt < s.periodStart || m.occurredAt >= s.periodEnd)) {
    return { code: TaskRejection.OutsidePeriod, reason: `event ${m.eventId} occurred at ${iso(m.occurredAt)}, outside the period ${s.period} [${iso(s.periodStart)}, ${iso(s.periodEnd)})` };
  }
  if (s.deadline !== null && m.occurredAt > s.deadline) {
    return { code: TaskRejection.Late, reason: `event ${m.eventId} occurred at ${iso(m.occurredAt)}, after the deadline ${iso(s.deadline)}` };
  }
  const amount = s.terms.measure === 'count' ? 1 : m.amount;
  const counted = s.counted.length >= COUNTED_EVENTS_KEPT ? [...s.counted.slice(s.counted.length - COUNTED_EVENTS_KEPT + 1), m.eventId] : [...s.counted, m.eventId];
  d.state = { ...s, progress: addProgress(s.progress, amount), counted };
  d.notes.push(`event ${m.eventId} (${m.event}, occurred ${iso(m.occurredAt)}) counted ${amount}: progress ${d.state.progress} of ${targetOf(s)}`);
  earnStages(d, m.occurredAt);
  if (d.state.stages[d.state.stages.length - 1].status !== 'LOCKED') complete(d, m.occurredAt);
  return null;
}

/** The last threshold is reached: counting stops, the deadline timer goes, the assigning actor hears of it once. */
function complete(d: Draft, occurredAt: number): void {
  const s = d.state;
  d.state = { ...s, completedAt: occurredAt };
  if (s.deadline !== null) d.effects.push({ type: 'cancelTimer', key: TASK_TIMERS.deadline });
  if (s.origin) {
    d.effects.push({ type: 'send', to: { type: s.origin.type, id: s.origin.id }, message: { type: 'TaskCompleted', occurredAt, eventId: `task:${s.taskId}` } });
  }
  d.notes.push(`task completed at ${iso(occurredAt)}${s.origin ? `; reported to ${s.origin.type}/${s.origin.id}` : ''}`);
}

function onClaim(state: TaskState, m: ClaimMessage, now: number): D {
  if (state.status !== 'NEW') return reject(TaskRejection.AlreadyClaimed, `task ${state.taskId} was already claimed (status ${state.status})`);
  if (state.terminated) return alreadyTerminal(state);
  const d = claim(state.taskId, m);
  applyEarly(d, state.early);
  return finish(d, 'NEW', now);
}

/**
 * Progress before any claim: with `enrol` (auto-enrolment) it claims first; without, it is kept (a claim and
 * its first events can race) and applied when the claim comes, up to EARLY_PROGRESS_KEPT events.
 */
function onProgress(state: TaskState, m: ProgressMessage, now: number): D {
  if (state.status !== 'NEW') {
    const d = draftOf(state);
    const refused = count(d, m);
    return refused ? reject(refused.code, refused.reason) : finish(d, state.status, now);
  }
  if (state.terminated) return alreadyTerminal(state);
  if (m.enrol) {
    const d = claim(state.taskId, m.enrol);
    d.notes[0] = `auto-enrolled by event ${m.eventId}: ${d.notes[0]}`;
    applyEarly(d, state.early);
    const refused = count(d, m);
    if (refused) d.notes.push(`event ${m.eventId} not counted: ${refused.code} (${refused.reason})`);
    return finish(d, 'NEW', now);
  }
  if (state.early.some((e) => e.eventId === m.eventId)) return reject(TaskRejection.DuplicateEvent, `event ${m.eventId} is already kept for the claim`);
  if (state.early.length >= EARLY_PROGRESS_KEPT) {
    return reject(TaskRejection.NotClaimed, `task ${state.taskId} was never claimed and already keeps ${EARLY_PROGRESS_KEPT} early events; ${m.eventId} is not kept`);
  }
  return { state: { ...state, early: [...state.early, m] }, why: `event ${m.eventId} arrived before the claim; kept (${state.early.length + 1} of ${EARLY_PROGRESS_KEPT}) and applied when the claim comes` };
}

/** The Deadline timer (deadline + grace): counting ends for good; rewards already earned still settle. */
function onDeadline(state: TaskState, now: number): D {
  if (state.status === 'NEW') return notClaimed(state, 'no deadline runs');
  if (phaseOf(state) !== 'COUNTING' || state.deadline === null) return { state, why: `deadline timer ignored: the task no longer counts events (status ${state.status})` };
  const due = state.deadline + (state.graceMs ?? 0) + 1;
  if (now < due) return { state, why: `deadline timer ignored: it is due at ${iso(due)}, not yet at ${iso(now)}` };
  const d = draftOf({ ...state, finishedAt: now });
  d.notes.push(`${TASK_REASONS.expired}: progress ${state.progress} of ${targetOf(state)} by the deadline ${iso(state.deadline)}; expired, and it never reopens`);
  return finish(d, state.status, now);
}

/** The retry round: re-calls every earned stage waiting for it, and a failed subscription call, with the same keys. */
function onRetry(state: TaskState, now: number): D {
  if (state.status === 'NEW') return notClaimed(state, 'nothing to retry');
  if (state.scheduleTime === null) return { state, why: 'retry ignored: no retry round is pending' };
  const d = draftOf({ ...state, scheduleTime: null });
  const round = `retry round ${state.retryCount}`;
  if (state.status !== 'MANUAL_INTERVENTION' && !isClosed(state)) {
    const stages = redriveStages(d);
    d.notes.push(stages.length > 0 ? `${round}: re-calling stage ${stages.join(', ')} with the same key` : `${round}: no stage waits for it`);
  } else {
    d.notes.push(`${round}: ${isClosed(state) ? 'the task is closed, no stage is re-driven' : 'the stages wait for ops'}`);
  }
  syncSubscription(d, 'retry');
  return finish(d, state.status, now);
}

/**
 * The replay: every FAILED stage (and any earned one not running) back to EARNED with fresh attempts, its
 * call re-issued with the SAME key, so the components' idempotency grants it at most once. Drives FAILED tasks,
 * and EXPIRED or TERMINATED ones whose rewards were earned, to their reward.
 */
function onReplay(state: TaskState, now: number): D {
  if (state.status === 'NEW') return notClaimed(state, 'nothing to replay');
  const s: ActiveTaskState = { ...state, replayAt: undefined };
  const due = s.stages.some((x) => x.status === 'FAILED' || (x.status === 'EARNED' && !x.inFlight));
  if (state.status === 'MANUAL_INTERVENTION' || isClosed(s) || !due) {
    return { state: s, why: `replay ignored: nothing to replay (status ${state.status})` };
  }
  const replays = s.replays + 1;
  const stages = s.stages.map((x): StageState => (x.status === 'FAILED' || (x.status === 'EARNED' && !x.inFlight) ? { ...x, status: 'EARNED', attempts: 0, reason: undefined } : x));
  const d = draftOf({ ...s, replays, stages, retryCount: 0 });
  const indexes = redriveStages(d);
  d.notes.push(`replay ${replays} of ${s.terms.reward.maxReplays}: re-calling stage ${indexes.join(', ')} with the same key`);
  return finish(d, state.status, now);
}

function onRewardResult(state: TaskState, reply: RewardResultMessage, now: number): D {
  if (state.status === 'NEW') return reject(TaskRejection.UnexpectedReply, `no reward call was made: task ${state.taskId} was never claimed`);
  const index = stageIndexOf(state, reply.key);
  if (index === undefined || !state.stages[index].inFlight) {
    return reject(TaskRejection.UnexpectedReply, `no reward call is in flight under key ${reply.key}`);
  }
  const stage: StageState = { ...state.stages[index], inFlight: false };
  const d = draftOf(state);
  const what = `stage ${index} reward (flow ${stage.flow}, attempt ${stage.attempts})`;
  if (reply.ok) {
    d.state = withStage({ ...state, retryCount: 0 }, index, { ...stage, status: 'GRANTED', reason: undefined, outcome: reply.value });
    d.notes.push(`${what} granted${reply.value?.flowVersion !== undefined ? ` by flow version ${reply.value.flowVersion}` : ''}`);
    return finish(d, state.status, now);
  }
  const { code, message } = reply.error;
  const kind = failureKind(reply);
  const fail = (reason: string) => (d.state = withStage(d.state, index, { ...stage, status: 'FAILED', lastError: code, reason }));
  if (kind === 'rejected') {
    fail(code);
    d.notes.push(`${what} refused: ${code} (${message}); the stage FAILED`);
  } else if (isClosed(state)) {
    fail(code);
    d.notes.push(`${what} failed (${code}); the task was closed by its termination, so no retry`);
  } else if (kind === 'system') {
    d.state = withStage(d.state, index, { ...stage, lastError: code });
    d.notes.push(`${what} failed: ${code} (${message}), a system failure retrying cannot fix`);
    if (state.status !== 'MANUAL_INTERVENTION') toManual(d, code, `stage ${index}: ${message}`, now);
  } else if (stage.attempts > state.terms.reward.maxRetries) {
    fail(TASK_REASONS.maxRetries);
    d.notes.push(`${what} failed (${code}); ${stage.attempts - 1} retries used (max ${state.terms.reward.maxRetries}): the stage FAILED`);
  } else {
    d.state = withStage(d.state, index, { ...stage, lastError: code });
    d.notes.push(`${what} failed (${code}: ${message})`);
    if (state.status !== 'MANUAL_INTERVENTION') planRetry(d, now);
  }
  return finish(d, state.status, now);
}

function onSubscriptionResult(state: TaskState, reply: SubscriptionResultMessage, now: number): D {
  if (state.status === 'NEW') return reject(TaskRejection.UnexpectedReply, `no subscription call was made: task ${state.taskId} was never claimed`);
  const kind = reply.key === subscriptionKey(state.taskId, 'subscribe') ? 'subscribe' : reply.key === subscriptionKey(state.taskId, 'unsubscribe') ? 'unsubscribe' : undefined;
  const sub = state.subscription ?? { failures: 0 };
  if (kind === undefined || sub.inFlight !== kind) return reject(TaskRejection.UnexpectedReply, `no subscription call is in flight under key ${reply.key}`);
  const d = draftOf(state);
  if (reply.ok) {
    d.state = { ...state, subscribed: kind === 'subscribe', subscription: { failures: 0 } };
    d.notes.push(kind === 'subscribe' ? 'subscribed: the receipt router routes its events here' : 'unsubscribed');
    return finish(d, state.status, now);
  }
  const failures = sub.failures + 1;
  d.state = { ...state, subscription: { failures, lastError: reply.error.code } };
  d.notes.push(`${kind} failed (${reply.error.code}: ${reply.error.message}); counting goes on`);
  if (failures <= state.terms.reward.maxRetries) planRetry(d, now);
  else d.notes.push(`${failures} subscription failures: no more retries (the index drops the entry after ${state.deadline === null ? 'nothing: it stays' : iso(state.deadline)})`);
  return finish(d, state.status, now);
}

/**
 * The merchant or ops end the task: counting stops; earned rewards still settle (calls in flight continue, the
 * retry round and the replay finish them). From manual intervention the task is closed as it stands instead:
 * stages not granted are FAILED with the termination's reason and nothing is re-driven.
 */
function onTerminate(state: TaskState, m: TerminateMessage, now: number): D {
  const termination: TaskTermination = { by: m.by, operator: m.operator, ...(m.reason !== undefined ? { reason: m.reason } : {}), at: now };
  const code = m.by === 'merchant' ? TASK_REASONS.terminatedByMerchant : TASK_REASONS.terminatedByOps;
  const who = `terminated by ${m.by} ${m.operator}${m.reason ? ` (${m.reason})` : ''}`;
  if (state.status === 'NEW') {
    if (state.terminated) return alreadyTerminal(state);
    return { state: { status: 'NEW', taskId: state.taskId, early: [], terminated: termination }, why: `${who} before any claim: ${code}; claims and progress are refused from now on` };
  }
  if (state.status === 'REWARDED' || state.status === 'EXPIRED' || state.status === 'TERMINATED') return alreadyTerminal(state);
  const counting = phaseOf(state) === 'COUNTING';
  const { manual, ...rest } = state;
  const d = draftOf({ ...rest, status: 'TERMINATED', terminated: termination, ...(counting ? { finishedAt: now } : {}) });
  if (counting && state.deadline !== null) d.effects.push({ type: 'cancelTimer', key: TASK_TIMERS.deadline });
  if (manual) {
    const close = (x: StageState): StageState => (x.status === 'FAILED' || (x.status === 'EARNED' && !x.inFlight) ? { ...x, status: 'FAILED', reason: code } : x);
    d.state = { ...d.state, terminated: { ...termination, manual }, stages: state.stages.map(close) };
    d.notes.push(`${who} while waiting for a person (${manual.reason}): ${code}; closed as it stands, stages not granted are FAILED`);
  } else {
    const earned = state.stages.flatMap((x, i) => (x.status === 'EARNED' || x.status === 'FAILED' ? [i] : []));
    d.notes.push(`${who}: ${code}${counting ? '; counting stopped' : ''}${earned.length > 0 ? `; earned stage ${earned.join(', ')} still settle` : ''}`);
  }
  return finish(d, state.status, now);
}

/** Ops re-drive a task in manual intervention with fresh retries and replays; granted stages stay granted. */
function onRetryFromOps(state: TaskState, m: RetryFromOpsMessage, now: number): D {
  if (state.status === 'NEW' && state.terminated) return alreadyTerminal(state);
  if (state.status !== 'MANUAL_INTERVENTION') {
    return reject(TaskRejection.NotInManualIntervention, `only a task in MANUAL_INTERVENTION can be retried from ops (status ${state.status})`);
  }
  const { manual, ...rest } = state;
  const stages = state.stages.map((x): StageState => (x.status === 'FAILED' || (x.status === 'EARNED' && !x.inFlight) ? { ...x, status: 'EARNED', attempts: 0, reason: undefined } : x));
  const sub = state.subscription;
  const resumed: ActiveTaskState = {
    ...rest,
    status: phaseStatus(phaseOf(state)),
    stages,
    retryCount: 0,
    replays: 0,
    ...(sub ? { subscription: { ...sub, failures: 0 } } : {}),
  };
  const d = draftOf(resumed);
  const indexes = redriveStages(d);
  d.notes.push(`retried from ops${m.operator ? ` by ${m.operator}` : ''} after ${manual?.reason}; retries and replays reset${indexes.length > 0 ? `; re-calling stage ${indexes.join(', ')} with the same key` : ''}`);
  return finish(d, state.status, now);
}

/**
 * The user task (`task/<userId>:<taskDefId>:<period>`): claimed (or auto-enrolled), counts upstream events
 * by occurrence time against its period and deadline, earns each stage once, runs each stage's reward flow
 * through `task.reward` with a fixed idempotency key, retries transient failures in rounds, replays FAILED and
 * terminated-with-earned-rewards tasks on a schedule, and goes to manual intervention when replays run out or a
 * system failure needs a person. Pure: time comes from `ctx.now`.
 */
export const taskActor = defineActor<TaskState, TaskMessage>({
  type: TASK_ACTOR,
  initial: (taskId) => ({ status: 'NEW', taskId, early: [] }),
  parse: parseTaskMessage,
  // Timers and call results come only from the runtime: nobody can forge a grant or fire a deadline early.
  internal: ['Deadline', 'Retry', 'Replay', 'RewardResult', 'SubscriptionResult'],
  status: (state) => (state.status === 'NEW' && state.terminated ? 'TERMINATED' : state.status),
  explain: explainTask,
  decide(state, message, ctx) {
    switch (message.type) {
      case 'Claim':
        return onClaim(state, message, ctx.now);
      case 'Progress':
        return onProgress(state, message, ctx.now);
      case 'Deadline':
        return onDeadline(state, ctx.now);
      case 'Retry':
        return onRetry(state, ctx.now);
      case 'Replay':
        return onReplay(state, ctx.now);
      case 'RewardResult':
        return onRewardResult(state, message, ctx.now);
      case 'SubscriptionResult':
        return onSubscriptionResult(state, message, ctx.now);
      case 'Terminate':
        return onTerminate(state, message, ctx.now);
      case 'RetryFromOps':
        return onRetryFromOps(state, message, ctx.now);
    }
  },
});
