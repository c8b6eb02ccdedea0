import type { Effect } from './define-actor';

/** One line of an actor's bounded history: what happened and why. */
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
  /** Ids of the last messages applied (dedup window), newest last. */
  seen: string[];
  history: HistoryEntry[];
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
    history: [],
    createdAt: now,
    updatedAt: now,
  };
}

export type CallEffect = Extract<Effect, { type: 'call' }>;
