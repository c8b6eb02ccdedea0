export { ActivityComponent } from './activity.component';
export type { ActivityComponentOptions, ActivityFaults, RelationResult } from './activity.component';
export { components } from './activity.components';
export { activityConfigKind } from './activity.config';
export { ActivityKeys } from './activity.keys';
export { bucketOrder, inAudience, periodKeys, pureVerdict, splitBudget } from './activity.rules';
export { ACTIVITY_ERRORS, activitySchema, parseActivity, REJECTION_CODES, REJECTION_REASONS } from './activity.types';
export type { Activity, ActivityInput, ApplyRequest, ApplyResult, ConsultResult, Grant, Prize, RejectionCode, Relation, RelationRequest, SharerInfo } from './activity.types';
