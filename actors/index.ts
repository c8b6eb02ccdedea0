export { counterActor, parseCounterMessage } from './counter/counter.actor';
export type { CounterMessage, CounterState } from './counter/counter.actor';
export { isTerminal as isReferralTerminal, referralActor } from './referral/referral.actor';
export { parseReferralMessage, resolveSettings as resolveReferralSettings } from './referral/referral.parse';
export {
  DEFAULT_REFERRAL_SETTINGS,
  NOTIFICATION_STREAM,
  REFERRAL_COMPONENTS,
  REFERRAL_REASONS,
  REFERRAL_TIMERS,
  ReferralRejection,
  TERMINAL_STATUSES as REFERRAL_TERMINAL_STATUSES,
} from './referral/referral.types';
export type { ReferralMessage, ReferralSettings, ReferralState, RewardOutcome, RewardSide, Side as ReferralSide } from './referral/referral.types';
