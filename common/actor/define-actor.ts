import type { ActorRef } from '../partitioning';

/** What a turn knows besides state and message. Time comes in here; actors never read a clock. */
export interface TurnContext {
  now: number;
  self: ActorRef;
  messageId: string;
}

/** The answer to a `call` effect, delivered to the actor as a message of type `reply`. */
export type CallReply<Type extends string = string, Value = unknown> =
  | { type: Type; key: string; ok: true; value: Value }
  | { type: Type; key: string; ok: false; error: { code: string; message: string; retryable: boolean } };

/**
 * Effects are data: the runtime carries them out after the turn commits.
 * - send: a message to another actor (same partition: straight to its inbox; else through the outbox relay)
 * - timer / cancelTimer: a durable timer in the due index; `message` comes back at `at`
 * - call: a component call under the actor lease (lock_time); its result comes back as `reply`
 * - emit: a payload on a named stream (notifications, integrations)
 */
export type Effect<M = unknown> =
  | { type: 'send'; to: ActorRef; message: unknown }
  | { type: 'timer'; key: string; at: number; message: M }
  | { type: 'cancelTimer'; key: string }
  | { type: 'call'; key: string; component: string; input: unknown; reply: string }
  | { type: 'emit'; stream: string; payload: unknown };

/** A typed refusal: the message is not legal in this state. Recorded in history with its reason. */
export interface Rejection {
  rejected: { code: string; reason: string };
}

export interface Transition<S, M> {
  state: S;
  effects?: Effect<M>[];
  /** Why this happened, kept in the actor's bounded history. */
  why?: string;
}

export type Decision<S, M> = Transition<S, M> | Rejection;

export function isRejection<S, M>(d: Decision<S, M>): d is Rejection {
  return (d as Rejection).rejected !== undefined;
}

export interface ActorDefinition<S = unknown, M extends { type: string } = { type: string }> {
  /** Actor type, part of every key and pattern (`actor:<type>`). */
  readonly type: string;
  initial(id: string): S;
  /** Pure: the same state, message and context always give the same decision. */
  decide(state: S, message: M, ctx: TurnContext): Decision<S, M>;
  /** Checks an incoming message's shape; throws (a TerminalError) for messages that can never apply. */
  parse?(message: unknown): M;
  /** A short status for ops (defaults to `state.status` when the state has one). */
  status?(state: S): string;
  /**
   * Message types only the actor's own timers and call replies may deliver. One arriving any other way (a
   * producer, the ingest stream, another actor) is refused as INVALID_MESSAGE: nobody outside can forge a
   * reward result or fire a deadline early.
   */
  internal?: readonly M['type'][];
  /**
   * The chain of reasons for anything not rewarded, oldest first; empty when nothing is missing. Pure, like
   * `decide`: ops (`ops audit`, `/ops/api/audit`) call it on the stored state to say why, by code.
   */
  explain?(state: S): Array<{ code: string; detail: string; at?: number }>;
}

export type StateOf<D> = D extends ActorDefinition<infer S, any> ? S : never;
export type MessageOf<D> = D extends ActorDefinition<any, infer M> ? M : never;

/** Defines an actor; the returned object's type gives senders typed messages without code generation. */
export function defineActor<S, M extends { type: string }>(definition: ActorDefinition<S, M>): ActorDefinition<S, M> {
  if (!/^[a-z][a-z0-9_.-]{0,63}$/.test(definition.type)) {
    throw new Error(`actor type ${JSON.stringify(definition.type)} must match ^[a-z][a-z0-9_.-]{0,63}$`);
  }
  return Object.freeze({ ...definition });
}
