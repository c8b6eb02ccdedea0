import type { CallReply } from '../../common/actor';
import type { TaskTerms } from './task.definition';

/**
 * The user task actor (`task/<userId>:<taskDefId>:<period>`): one per user, task definition and period.
 * This file is the contract between the pure actor (task.actor.ts), the worker's components
 * (apps/worker/components/task), the receipt router and the gateway.
 */

/** Actor type name. */
export const TASK_ACTOR = 'task';

/** Components the task actor calls; each call's key is the idempotency key of what it does. */
export const TASK_COMPONENTS = {
  /** Runs a stage's reward flow (input RewardCallInput, value RewardCallValue). */
  reward: 'task.reward',
  /** Writes the task into the user's subscription index (input SubscriptionInput). */
  subscribe: 'task.subscribe',
  /** Removes it once the task no longer counts events. */
  unsubscribe: 'task.unsubscribe',
} as const;

/** Durable timer keys. */
export const TASK_TIMERS = { deadline: 'deadline', retry: 'retry', replay: 'replay' } as const;

/** Reason codes the actor records itself (others come from the components, e.g. COUPON_OUT_OF_STOCK). */
export const TASK_REASONS = {
  maxRetries: 'MAX_RETRIES',
  maxReplays: 'MAX_REPLAYS',
  expired: 'DEADLINE_PASSED',
  terminatedByMerchant: 'TERMINATED_BY_MERCHANT',
  terminatedByOps: 'TERMINATED_BY_OPS',
  notEarned: 'NOT_EARNED',
} as const;

/** Period of a non-recurring task. Recurring ones use `d<YYYY-MM-DD>` / `w<YYYY-MM-DD>` (the local start date). */
export const ONCE_PERIOD = 'once';

/** The actor id of a user's task: user, definition and period joined by ':'. */
export function taskActorId(userId: string, taskDefId: string, period: string): string {
  return `${userId}:${taskDefId}:${period}`;
}

/** Where a task came from when another actor assigned it (a referral's preset task); completion is reported back. */
export interface TaskOrigin {
  type: string;
  id: string;
}

/** The user (or an assigning actor) claims the task under the terms frozen from its definition. */
export interface ClaimMessage {
  type: 'Claim';
  userId: string;
  period: string;
  terms: TaskTerms;
  /** When the claim happened (ms): a deadline task's window starts here. */
  claimedAt: number;
  /** A recurring period's local bounds [periodStart, periodEnd) in ms; events outside it do not count. */
  periodStart?: number;
  periodEnd?: number;
  /** Absolute last instant an event counts (inclusive); overrides `terms.withinMs` (a referral's 72 h). */
  deadline?: number;
  /**
   * The Deadline timer fires this long after the deadline (default 0), so an event that occurred in time but
   * arrives late still counts; whether an event counts is decided by its occurrence time either way.
   */
  graceMs?: number;
  /** Report completion to this actor with a TaskCompleted message. */
  origin?: TaskOrigin;
}

/** A completion receipt routed to this task: one upstream event. */
export interface ProgressMessage {
  type: 'Progress';
  /** The upstream event id: the same event counts once however often and in whatever order it arrives. */
  eventId: string;
  event: string;
  /** When the event happened (ms); judged against the deadline and period, not its arrival. */
  occurredAt: number;
  /** What the event counts: 1 for `count` tasks, the event's amount for `amount` tasks (the router extracts it). */
  amount: number;
  /** Auto-enrolment: the claim to apply first when the task has none yet. */
  enrol?: Omit<ClaimMessage, 'type'>;
}

/** Timer: the deadline (or the recurring period's end) passed. */
export interface DeadlineMessage {
  type: 'Deadline';
}
/** Timer: the pending retry round of failed reward calls is due. */
export interface RetryMessage {
  type: 'Retry';
}
/** Timer: the scheduled replay of a FAILED task, or of a TERMINATED one with earned rewards. */
export interface ReplayMessage {
  type: 'Replay';
}
/** The merchant ended the task (definition ENDED) or an operator terminated this one. */
export interface TerminateMessage {
  type: 'Terminate';
  by: 'merchant' | 'ops';
  operator: string;
  reason?: string;
}
/** Ops: re-drive a task in manual intervention with a fresh retry and replay budget. */
export interface RetryFromOpsMessage {
  type: 'RetryFromOps';
  operator?: string;
}

/** Input of `task.reward` (one stage's reward flow); the call key `<taskId>#s<stage>` is the idempotency key. */
export interface RewardCallInput {
  taskId: string;
  userId: string;
  merchantId: string;
  taskDefId: string;
  period: string;
  stage: number;
  threshold: number;
  flow: string;
}
/** What a step handler reports; kept in the task's stage (its history of what was granted). */
export interface StepOutcome {
  index: number;
  type: string;
  /** The handler's reference (a grant id, coupon code, delivery id, HTTP status). */
  ref?: unknown;
}
/** Value of a successful `task.reward` call. */
export interface RewardCallValue {
  flow: string;
  flowVersion: number;
  steps: StepOutcome[];
}
/** Input of `task.subscribe` / `task.unsubscribe`. */
export interface SubscriptionInput {
  userId: string;
  taskId: string;
  events: string[];
  /** Last instant an event can still count (ms), or null while unbounded; the index drops the entry after it. */
  until: number | null;
}

export type RewardResultMessage = CallReply<'RewardResult', RewardCallValue>;
export type SubscriptionResultMessage = CallReply<'SubscriptionResult'>;

/** Every message a user task accepts, tagged by `type`. */
export type TaskMessage =
  | ClaimMessage
  | ProgressMessage
  | DeadlineMessage
  | RetryMessage
  | ReplayMessage
  | TerminateMessage
  | RetryFromOpsMessage
  | RewardResultMessage
  | SubscriptionResultMessage;

/** One stage of a task: locked until its threshold is reached, then its reward flow runs once. */
export interface StageState {
  threshold: number;
  flow?: string;
  /** LOCKED: not reached; EARNED: reached, reward pending; GRANTED: the flow ran; FAILED: it could not run (see reason). */
  status: 'LOCKED' | 'EARNED' | 'GRANTED' | 'FAILED';
  earnedAt?: number;
  attempts: number;
  inFlight: boolean;
  /** The code of the last failure, and the reason a FAILED stage failed. */
  lastError?: string;
  reason?: string;
  /** The flow's outcome when GRANTED: which flow version ran and what each step granted. */
  outcome?: RewardCallValue;
}

/** Why a task waits for a person, shown in ops. */
export interface TaskManual {
  reason: string;
  detail: string;
  since: number;
}

/** Who ended a task, when and why. */
export interface TaskTermination {
  by: 'merchant' | 'ops';
  operator: string;
  reason?: string;
  at: number;
  /** Set when the task was waiting in manual intervention: it is closed as it stands, with no further replay. */
  manual?: TaskManual;
}

/** The task's entry in the user's subscription index: the call in flight and failures since the last success. */
export interface SubscriptionCalls {
  inFlight?: 'subscribe' | 'unsubscribe';
  /** Failed calls since the last success; the retry round re-drives them up to `reward.maxRetries` times. */
  failures: number;
  lastError?: string;
}

/** Everything a claimed task carries in every later state. */
export interface TaskCore {
  taskId: string;
  userId: string;
  period: string;
  terms: TaskTerms;
  claimedAt: number;
  /** Last instant (inclusive) an event counts, or null. */
  deadline: number | null;
  /** The Deadline timer fires at deadline + graceMs + 1 (see ClaimMessage.graceMs). */
  graceMs?: number;
  periodStart?: number;
  periodEnd?: number;
  origin?: TaskOrigin;
  /** Counted so far (events or amount). */
  progress: number;
  /** Ids of the events counted, newest last (bounded; see COUNTED_EVENTS_KEPT). */
  counted: string[];
  stages: StageState[];
  /** Occurrence time of the event that completed the last stage. */
  completedAt?: number;
  /** Retry rounds used since the last progress of the reward step. */
  retryCount: number;
  /** Scheduled replays used. */
  replays: number;
  /** When the pending replay fires, if one is pending. */
  replayAt?: number;
  /** When the pending retry round fires, or null. */
  scheduleTime: number | null;
  /** The subscribe call succeeded and no unsubscribe has since. */
  subscribed: boolean;
  subscription?: SubscriptionCalls;
  terminated?: TaskTermination;
  /** When counting ended without completion (the deadline passed, or the task was terminated), or the task was REWARDED. */
  finishedAt?: number;
}

/** Event ids a task keeps to count each event once (events beyond this still dedup by the runtime's window). */
export const COUNTED_EVENTS_KEPT = 1_000;

/** Progress that arrived before the claim was applied (a claim and its first events can race); applied on claim. */
export const EARLY_PROGRESS_KEPT = 32;

export interface NewTaskState {
  status: 'NEW';
  taskId: string;
  early: ProgressMessage[];
  /** Terminated before any claim: later claims and progress are refused (the actor's status shows TERMINATED). */
  terminated?: TaskTermination;
}
export interface ActiveTaskState extends TaskCore {
  /**
   * IN_PROGRESS: claimed, counting events. COMPLETED: the last stage was reached, rewards pending.
   * REWARDED: every stage's reward ran (terminal). FAILED: counting is over and a stage's reward could not be
   * granted; the replay re-drives it. EXPIRED: the deadline or period passed before completion (terminal once
   * earned rewards are settled). TERMINATED: ended by the merchant or ops (terminal once earned rewards are
   * settled). MANUAL_INTERVENTION: replays exhausted or a system failure.
   */
  status: 'IN_PROGRESS' | 'COMPLETED' | 'REWARDED' | 'FAILED' | 'EXPIRED' | 'TERMINATED' | 'MANUAL_INTERVENTION';
  manual?: TaskManual;
}
export type TaskState = NewTaskState | ActiveTaskState;

/** Codes of typed rejections. */
export enum TaskRejection {
  NotClaimed = 'NOT_CLAIMED',
  AlreadyClaimed = 'ALREADY_CLAIMED',
  DuplicateEvent = 'DUPLICATE_EVENT',
  NotListening = 'EVENT_NOT_COUNTED',
  OutsidePeriod = 'OUTSIDE_PERIOD',
  Late = 'AFTER_DEADLINE',
  NotCounting = 'NOT_COUNTING',
  AlreadyTerminal = 'ALREADY_TERMINAL',
  NotInManualIntervention = 'NOT_IN_MANUAL_INTERVENTION',
  UnexpectedReply = 'UNEXPECTED_REPLY',
  NothingToReplay = 'NOTHING_TO_REPLAY',
}

/** What the gateway and ops show of a task. */
export interface TaskView {
  taskId: string;
  userId: string;
  taskDefId: string;
  period: string;
  status: TaskState['status'];
  version: number;
  progress: number;
  target: number;
  deadline: number | null;
  stages: Array<{ threshold: number; status: StageState['status']; reason?: string; outcome?: RewardCallValue }>;
}
