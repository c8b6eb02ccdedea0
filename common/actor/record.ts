import type { Effect } from './define-actor';

/**
 * One line of an actor's history: what happened and why. Kept out of the record (which is rewritten every
 * turn): the commit script appends it to the actor's bounded history list and to the audit stream.
 */
export interface HistoryEntry {
  at: number;
  message: string;
  messageId: string;
  from: string;
  to: string;
  why?: string;
  rejected?: { code: string; reason: string };
}

/**
 * What the runtime stores per actor. `version` is the fencing token checked by the commit script;
 * `scheduleTime` is the actor's score in the due index (the earliest timer or call deadline).
 */
export interface ActorRecord<S = unknown> {
  version: number;
  state: S;
  status: string;
  scheduleTime: number | null;
  retryCount: number;
  timers: Record<string, { at: number; message: unknown }>;
  calls: Record<string, { at: number; reply: string }>;
  /** 53-bit hashes of the ids of the last messages applied (dedup window), newest last. */
  seen: number[];
  createdAt: number;
  updatedAt: number;
}

export function newRecord<S>(state: S, status: string, now: number): ActorRecord<S> {
  return {
    version: 0,
    state,
    status,
    scheduleTime: null,
    retryCount: 0,
    timers: {},
    calls: {},
    seen: [],
    createdAt: now,
    updatedAt: now,
  };
}

export type CallEffect = Extract<Effect, { type: 'call' }>;
