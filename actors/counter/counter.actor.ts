import { defineActor } from '../../common/actor';

/** A counter: the smallest actor that exercises state, rejection, timers and cross-actor sends. */
export interface CounterState {
  status: 'active';
  count: number;
  /** Increments and resets applied. */
  applied: number;
  /** Highest `seq` seen on an increment, and how many arrived below it: lets tests check per-actor order. */
  lastSeq: number;
  outOfOrder: number;
}

export type CounterMessage =
  | { type: 'increment'; by: number; seq?: number }
  | { type: 'reset' }
  | { type: 'incrementLater'; by: number; at: number }
  | { type: 'forward'; to: string; by: number };

const MAX_STEP = 1_000_000;

function isStep(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && Math.abs(n) <= MAX_STEP;
}

/** Rejects malformed messages up front; they are dead-lettered with this reason, never retried. */
export function parseCounterMessage(raw: unknown): CounterMessage {
  const m = raw as Record<string, unknown> | null;
  if (typeof m !== 'object' || m === null) throw new TypeError('a counter message must be an object');
  switch (m.type) {
    case 'increment':
      if (!isStep(m.by)) throw new TypeError(`increment.by must be an integer within ±${MAX_STEP}`);
      return { type: 'increment', by: m.by, ...(typeof m.seq === 'number' ? { seq: m.seq } : {}) };
    case 'reset':
      return { type: 'reset' };
    case 'incrementLater':
      if (!isStep(m.by) || typeof m.at !== 'number') throw new TypeError('incrementLater needs an integer "by" and a time "at" (ms)');
      return { type: 'incrementLater', by: m.by, at: m.at };
    case 'forward':
      if (!isStep(m.by) || typeof m.to !== 'string' || m.to.length === 0) throw new TypeError('forward needs "to" (a counter id) and an integer "by"');
      return { type: 'forward', to: m.to, by: m.by };
    default:
      throw new TypeError(`unknown counter message type ${JSON.stringify(m.type)}`);
  }
}

export const counterActor = defineActor<CounterState, CounterMessage>({
  type: 'counter',
  initial: () => ({ status: 'active', count: 0, applied: 0, lastSeq: 0, outOfOrder: 0 }),
  parse: parseCounterMessage,
  decide(state, message, ctx) {
    switch (message.type) {
      case 'increment': {
        const seq = message.seq;
        const next = { ...state, count: state.count + message.by, applied: state.applied + 1 };
        if (seq !== undefined) {
          if (seq < state.lastSeq) next.outOfOrder = state.outOfOrder + 1;
          else next.lastSeq = seq;
        }
        return { state: next, why: `+${message.by}` };
      }
      case 'reset':
        if (state.count === 0) return { rejected: { code: 'ALREADY_ZERO', reason: 'the counter is already at zero' } };
        return { state: { ...state, count: 0, applied: state.applied + 1 }, why: 'reset' };
      case 'incrementLater':
        return {
          state,
          effects: [{ type: 'timer', key: `later:${ctx.messageId}`, at: message.at, message: { type: 'increment', by: message.by } }],
          why: `increment by ${message.by} at ${message.at}`,
        };
      case 'forward':
        return {
          state,
          effects: [{ type: 'send', to: { type: 'counter', id: message.to }, message: { type: 'increment', by: message.by } }],
          why: `forward +${message.by} to ${message.to}`,
        };
    }
  },
});
