import type { CallReply } from '../../common/actor';
import type { TaskTerms } from '../task/task.definition';

/**
 * The activity settings an application is accepted under. They are frozen into the application's state, so
 * changing the activity later never moves an accepted application's deadline or retry budget.
 */
export interface ReferralSettings {
  /** How long the invitee has to complete the task, counted from the moment the relation is recorded. */
  taskDeadlineHours: number;
  /** Retry rounds after a transient failure before the application goes to manual intervention. */
  maxRetries: number;
  /** Backoff of retry round n is `backoffBaseMs × 2^(n−1)`, capped at `backoffCapMs` (no jitter: decide is pure). */
  backoffBaseMs: number;
  backoffCapMs: number;
  /**
   * The expiry timer fires this long after the deadline, so a completion that occurred in time but arrives
   * late still counts. Completions are judged by occurrence time either way; 0 expires at the deadline.
   */
  completionGraceMs: number;
}

/** Settings used where an Accept leaves a field out: the write-up's 72 h task window. */
export const DEFAULT_REFERRAL_SETTINGS: Readonly<ReferralSettings> = Object.freeze({
  taskDeadlineHours: 72,
  maxRetries: 8,
  backoffBaseMs: 5_000,
  backoffCapMs: 10 * 60_000,
  completionGraceMs: 0,
});

/** The two reward sides, applied in parallel and independently (activities 2 and 3). */
export type Side = 'sharer' | 'invitee';
export const SIDES: readonly Side[] = ['sharer', 'invitee'];

/** Components the referral calls; the runtime passes each call's key to the component as its idempotency key. */
export const REFERRAL_COMPONENTS = { relation: 'activity.applyRelation', reward: 'activity.apply' } as const;

/** Durable timer keys: one deadline and at most one pending retry round per application. */
export const REFERRAL_TIMERS = { deadline: 'deadline', retry: 'retry' } as const;

/** What a call step knows about its attempts; `inFlight` keeps a retry from re-calling a step still waiting for its reply. */
interface Attempted {
  attempts: number;
  inFlight: boolean;
  /** Code of the last transient or system failure, for ops. */
  lastError?: string;
}

/** Activity 1: recording the relation between sharer and invitee. */
export interface RelationStep extends Attempted {
  outcome: 'PENDING' | 'ESTABLISHED' | 'REJECTED';
  /** Machine-readable reason when REJECTED (SELF_REFERRAL or the component's code). */
  reason?: string;
}

/** One reward side (activity 2 for the sharer, 3 for the invitee). A decided side never changes again. */
export interface RewardSide extends Attempted {
  outcome: 'PENDING' | 'GRANTED' | 'REJECTED';
  /** Machine-readable reason when REJECTED (the component's code, e.g. FREQUENCY_CAP). */
  reason?: string;
  /** The component's grant reference when GRANTED (`value.grantId`, or the whole value if it has none). */
  grantId?: unknown;
}

/** Everything an accepted application carries in every later state. */
export interface ApplicationCore {
  applicationId: string;
  activityId: string;
  sharerId: string;
  inviteeId: string;
  /** The invitee's device and IP at accept time, and the sharer's at share time: the risk checks compare them. */
  device?: string;
  ip?: string;
  sharerDevice?: string;
  sharerIp?: string;
  settings: ReferralSettings;
  /**
   * The preset task the invitee must complete, frozen from its definition at accept time: on RELATION_ESTABLISHED
   * the application claims it as a user task for the invitee (with the application's deadline), and the task's
   * completion comes back as TaskCompleted. Without it, the upstream reports TaskCompleted itself.
   */
  presetTask?: TaskTerms;
  acceptedAt: number;
  relation: RelationStep;
  /** Retry rounds used in the current step (relation, then rewards); reset when the step changes or ops retry. */
  retryCount: number;
  /** When the pending retry round fires, or null if none is pending. Not the runtime's due-index score. */
  scheduleTime: number | null;
}

interface TaskFields {
  /** Last instant (ms) at which a completion counts: `occurredAt <= taskDeadline`, boundary inclusive. */
  taskDeadline: number;
}

interface RewardFields extends ApplicationCore, TaskFields {
  /** When the task occurred (the event's occurrence time, not its arrival). */
  completedAt: number;
  completionEventId: string;
  sharer: RewardSide;
  invitee: RewardSide;
}

/** Why an application waits for a person, shown in ops. */
export interface ManualIntervention {
  reason: string;
  detail: string;
  since: number;
}

/** The four outcomes of the reward step, from the pair of side outcomes. */
export type RewardOutcome = 'BOTH_REWARDED' | 'SHARER_ONLY' | 'INVITEE_ONLY' | 'NEITHER';

/** Before any Accept: only the id the actor was created with. */
export interface NewState {
  status: 'NEW';
  applicationId: string;
}
/** Accepted; the relation call is in flight or waiting for its retry round. */
export interface InitState extends ApplicationCore {
  status: 'INIT';
}
/** Terminal: the relation step refused the application (see `relation.reason`). */
export interface RejectedState extends ApplicationCore {
  status: 'REJECTED';
  finishedAt: number;
}
/** The relation is recorded; the invitee's task runs until `taskDeadline`. */
export interface EstablishedState extends ApplicationCore, TaskFields {
  status: 'RELATION_ESTABLISHED';
}
/** Terminal: the deadline passed without a completion that occurred in time. */
export interface ExpiredState extends ApplicationCore, TaskFields {
  status: 'EXPIRED';
  finishedAt: number;
}
/** The task is done; the two reward sides are being applied. */
export interface TaskCompletedState extends RewardFields {
  status: 'TASK_COMPLETED';
}
/** Terminal: both sides decided. */
export interface RewardedState extends RewardFields {
  status: RewardOutcome;
  finishedAt: number;
}
/** Stuck in the relation step: past its retry budget, or a failure retrying cannot fix. */
export interface ManualRelationState extends ApplicationCore {
  status: 'MANUAL_INTERVENTION';
  stage: 'RELATION';
  manual: ManualIntervention;
}
/** Stuck in the reward step; decided sides stay decided, `RetryFromOps` re-drives the others. */
export interface ManualRewardState extends RewardFields {
  status: 'MANUAL_INTERVENTION';
  stage: 'REWARD';
  manual: ManualIntervention;
}
export type ManualState = ManualRelationState | ManualRewardState;

/** Who ended an application from ops, when and why (kept in the TERMINATED state). */
export interface Termination {
  operator: string;
  reason: string;
  at: number;
  /** The step the application was stuck in, and why it was waiting for a person. */
  stage: 'RELATION' | 'REWARD';
  manual: ManualIntervention;
}
/** Terminal: ended by an operator while stuck in the relation step; the relation is REJECTED (TERMINATED_BY_OPS). */
export interface TerminatedRelationState extends ApplicationCore {
  status: 'TERMINATED';
  finishedAt: number;
  terminated: Termination;
}
/** Terminal: ended by an operator in the reward step; decided sides stand, undecided ones are REJECTED (TERMINATED_BY_OPS). */
export interface TerminatedRewardState extends RewardFields {
  status: 'TERMINATED';
  finishedAt: number;
  terminated: Termination;
}
export type TerminatedState = TerminatedRelationState | TerminatedRewardState;

/** A referral application, tagged by `status`. */
export type ReferralState =
  | NewState
  | InitState
  | RejectedState
  | EstablishedState
  | ExpiredState
  | TaskCompletedState
  | RewardedState
  | ManualState
  | TerminatedState;

/** States an application never leaves. */
export const TERMINAL_STATUSES: ReadonlySet<ReferralState['status']> = new Set([
  'REJECTED',
  'EXPIRED',
  'BOTH_REWARDED',
  'SHARER_ONLY',
  'INVITEE_ONLY',
  'NEITHER',
  'TERMINATED',
]);

/** The invitee accepted the sharer's invitation. */
export interface AcceptMessage {
  type: 'Accept';
  activityId: string;
  sharerId: string;
  inviteeId: string;
  /** The invitee's device and IP, passed to the relation component's risk check (proxy self-referral). */
  device?: string;
  ip?: string;
  /** The sharer's device and IP when the share was created; the risk check compares the invitee's with them. */
  sharerDevice?: string;
  sharerIp?: string;
  settings?: Partial<ReferralSettings>;
  /** The activity's preset task (a task definition's terms); see ApplicationCore.presetTask. */
  presetTask?: TaskTerms;
}
/** The invitee completed the task at `occurredAt`; `eventId` defaults to the delivery's message id. */
export interface TaskCompletedMessage {
  type: 'TaskCompleted';
  occurredAt: number;
  eventId?: string;
}
/** Timer: the task window (plus grace) is over. */
export interface TaskDeadlineMessage {
  type: 'TaskDeadline';
}
/** Timer: the pending retry round is due. */
export interface RetryMessage {
  type: 'Retry';
}
/** Ops: re-drive an application in manual intervention with a fresh retry budget. */
export interface RetryFromOpsMessage {
  type: 'RetryFromOps';
  operator?: string;
}
/** Ops: give up on an application in manual intervention; its undecided steps are REJECTED (TERMINATED_BY_OPS). */
export interface TerminateFromOpsMessage {
  type: 'TerminateFromOps';
  /** Who decided; recorded in the state and the history. */
  operator: string;
  /** Why, in the operator's words (at most 500 characters). */
  reason?: string;
}
export type RelationResultMessage = CallReply<'RelationResult'>;
export type SharerRewardResultMessage = CallReply<'SharerRewardResult'>;
export type InviteeRewardResultMessage = CallReply<'InviteeRewardResult'>;

/** Every message a referral application accepts, tagged by `type`. */
export type ReferralMessage =
  | AcceptMessage
  | RelationResultMessage
  | TaskCompletedMessage
  | TaskDeadlineMessage
  | RetryMessage
  | SharerRewardResultMessage
  | InviteeRewardResultMessage
  | RetryFromOpsMessage
  | TerminateFromOpsMessage;

/** Reply message type per reward side. */
export const REWARD_REPLY: Readonly<Record<Side, 'SharerRewardResult' | 'InviteeRewardResult'>> = {
  sharer: 'SharerRewardResult',
  invitee: 'InviteeRewardResult',
};

/** Codes of typed rejections: the message is not legal in the application's current state. */
export enum ReferralRejection {
  NoApplication = 'NO_APPLICATION',
  AlreadyAccepted = 'ALREADY_ACCEPTED',
  NoRelation = 'NO_RELATION',
  TaskLate = 'TASK_LATE',
  DuplicateEvent = 'DUPLICATE_EVENT',
  AlreadyCompleted = 'ALREADY_COMPLETED',
  AlreadyTerminal = 'ALREADY_TERMINAL',
  NotInManualIntervention = 'NOT_IN_MANUAL_INTERVENTION',
  DeadlineNotReached = 'DEADLINE_NOT_REACHED',
  RetryNotDue = 'RETRY_NOT_DUE',
  UnexpectedReply = 'UNEXPECTED_REPLY',
  KeyMismatch = 'KEY_MISMATCH',
  CallInFlight = 'CALL_IN_FLIGHT',
}

/** Reason codes the actor itself records (others come from the components). */
export const REFERRAL_REASONS = { selfReferral: 'SELF_REFERRAL', maxRetries: 'MAX_RETRIES', terminatedByOps: 'TERMINATED_BY_OPS' } as const;
