export { defineActor, isRejection } from './define-actor';
export type { ActorDefinition, CallReply, Decision, Effect, MessageOf, Rejection, StateOf, Transition, TurnContext } from './define-actor';
export { newRecord } from './record';
export type { ActorRecord, CallEffect, HistoryEntry } from './record';
export { compareEntryIds, runTurn } from './turn';
export type { ActorDelivery, AuditRecord, TurnLimits, TurnMeta, TurnResult } from './turn';
export { actorAddress, parseActorAddress, partitionOf } from '../partitioning';
export type { ActorRef } from '../partitioning';
