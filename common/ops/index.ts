/**
 * Operator functions over Redis, shared by the CLI (apps/ops) and the web dashboard: pure functions of an
 * `OpsContext` that return data and never print.
 */
export { OPS_ERRORS, OpsError } from './context';
export type { OpsContext, Progress } from './context';
export { drainFlag, members, status } from './status';
export type { Backlog, BacklogTotals, DrainFlag, MemberStatus, PartitionStatus, SideStreamStatus, StatusOptions, StatusTotals, SystemStatus } from './status';
export { explain, inspect, SUCCESS_STATUSES } from './inspect';
export type { AuditEntry, InspectOptions, Inspection, Why, WhyCode, WhyStep } from './inspect';
export { auditOf } from './audit';
export type { ActorAudit, AuditOptions, AuditReason } from './audit';
export { allManual, listManual, manualReason, retryManual, retryManualMany, terminateManual } from './manual';
export type { AskOptions, BulkOutcome, ManualItem, ManualPage, OpsTurn } from './manual';
export { deadLetterIds, deadSources, deadStreamOf, decodeDeadLetter, listDead, parseDeadSource, purgeDead, replayDead } from './dead-letters';
export type { DeadLetter, DeadList, DeadSource, ListDeadOptions, OriginalField, PurgeOptions, ReplayResult } from './dead-letters';
export { ConfigRegistry, getConfig, listConfig, parseConfigJson, setConfig } from './config';
export type { ConfigEntry, ConfigKind } from './config';
export { drain, heldBy, undrain } from './drain';
export type { DrainResult } from './drain';
export { hashTag, printable } from './streams';
export { parseGroups } from '../redis/stream-info';
export type { GroupInfo } from '../redis/stream-info';
