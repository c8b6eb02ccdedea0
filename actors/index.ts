export { counterActor, parseCounterMessage } from './counter/counter.actor';
export type { CounterMessage, CounterState } from './counter/counter.actor';
export { NOTIFICATION_STREAM } from './shared/notifications';
export { isTerminal as isReferralTerminal, referralActor } from './referral/referral.actor';
export { parseReferralMessage, resolveSettings as resolveReferralSettings } from './referral/referral.parse';
export {
  DEFAULT_REFERRAL_SETTINGS,
  REFERRAL_COMPONENTS,
  REFERRAL_REASONS,
  REFERRAL_TIMERS,
  ReferralRejection,
  TERMINAL_STATUSES as REFERRAL_TERMINAL_STATUSES,
} from './referral/referral.types';
export type { ReferralMessage, ReferralSettings, ReferralState, RewardOutcome, RewardSide, Side as ReferralSide } from './referral/referral.types';
export { explainTask, isTaskTerminal, taskActor, taskView } from './task/task.actor';
export { TASK_EXPLAIN_CODES } from './task/task.explain';
export type { TaskReason } from './task/task.explain';
export { parseTaskMessage } from './task/task.parse';
export { localMidnight, periodBounds, periodOf } from './task/task.period';
export type { LocalDate, Period, PeriodRule } from './task/task.period';
export {
  COUNTED_EVENTS_KEPT,
  EARLY_PROGRESS_KEPT,
  ONCE_PERIOD,
  TASK_ACTOR,
  TASK_COMPONENTS,
  TASK_REASONS,
  TASK_TIMERS,
  taskActorId,
  TaskRejection,
} from './task/task.types';
export type {
  ActiveTaskState,
  ClaimMessage,
  DeadlineMessage as TaskDeadlineMessage,
  NewTaskState,
  ProgressMessage,
  ReplayMessage as TaskReplayMessage,
  RetryFromOpsMessage as TaskRetryFromOpsMessage,
  RetryMessage as TaskRetryMessage,
  RewardCallInput,
  RewardCallValue,
  RewardResultMessage,
  StageState,
  StepOutcome,
  SubscriptionCalls,
  SubscriptionInput,
  SubscriptionResultMessage,
  TaskCore,
  TaskManual,
  TaskMessage,
  TaskOrigin,
  TaskState,
  TaskTermination,
  TaskView,
  TerminateMessage as TaskTerminateMessage,
} from './task/task.types';
export {
  describeIssues as describeDefinitionIssues,
  REWARD_STEP_TYPES,
  rewardFlowSchema,
  rewardPolicySchema,
  rewardStepSchema,
  taskDefinitionSchema,
  termsOf,
} from './task/task.definition';
export type { RewardFlow, RewardFlowInput, RewardPolicy, RewardStep, RewardStepType, TaskDefinition, TaskDefinitionInput, TaskTerms } from './task/task.definition';
export { presetTaskPeriod } from './referral/referral.steps';
