import { CallReply, Decision, Effect, isRejection, Transition } from '../../common/actor';
import { taskActor } from './task.actor';
import { TaskDefinitionInput, taskDefinitionSchema, termsOf } from './task.definition';
import { periodOf } from './task.period';
import { ActiveTaskState, ClaimMessage, ProgressMessage, TaskMessage, TaskState } from './task.types';

/**
 * Test harness of the task actor specs (not a spec itself): a simulated runtime around `taskActor.decide`, and
 * builders of definitions, claims and events on a fixed clock (T0, Monday 2026-01-05 09:00 UTC).
 */
export const USER = 'alice';
export const HOUR = 3_600_000;
export const MINUTE = 60_000;
/** Monday 2026-01-05 09:00 UTC. */
export const T0 = Date.UTC(2026, 0, 5, 9);
export const POLICY = { maxRetries: 2, backoffBaseMs: 1_000, backoffCapMs: 1_500, replayIntervalMs: 10 * MINUTE, maxReplays: 2 };

export type Call = { key: string; component: string; input: Record<string, unknown>; reply: string };

/**
 * One task actor on a simulated clock: decisions come from `taskActor.decide`, and this harness plays the
 * runtime's part for the effects (durable timers by key, calls pending by key, sends and emits collected).
 */
export class Sim {
  now = T0;
  state: TaskState;
  readonly timers = new Map<string, { at: number; message: TaskMessage }>();
  readonly pending = new Map<string, Call>();
  readonly calls: Call[] = [];
  readonly sends: Array<{ to: unknown; message: Record<string, unknown> }> = [];
  readonly emits: Array<{ stream: string; payload: Record<string, unknown> }> = [];
  readonly whys: string[] = [];
  private seq = 0;

  constructor(readonly id: string) {
    this.state = taskActor.initial(id);
  }

  get active(): ActiveTaskState {
    if (this.state.status === 'NEW') throw new Error('task not claimed');
    return this.state;
  }

  decide(message: TaskMessage): Decision<TaskState, TaskMessage> {
    return taskActor.decide(this.state, message, { now: this.now, self: { type: 'task', id: this.id }, messageId: `m${++this.seq}` });
  }

  /** A message that must be legal: applies the transition and its effects. */
  apply(message: TaskMessage): Transition<TaskState, TaskMessage> {
    const d = this.decide(message);
    if (isRejection(d)) throw new Error(`unexpected rejection of ${message.type}: ${d.rejected.code} (${d.rejected.reason})`);
    expect(d.why).toEqual(expect.any(String));
    this.state = d.state;
    this.whys.push(d.why as string);
    for (const e of (d.effects ?? []) as Effect<TaskMessage>[]) {
      if (e.type === 'timer') this.timers.set(e.key, { at: e.at, message: e.message });
      else if (e.type === 'cancelTimer') this.timers.delete(e.key);
      else if (e.type === 'call') {
        const call = { key: e.key, component: e.component, input: e.input as Record<string, unknown>, reply: e.reply };
        this.pending.set(e.key, call);
        this.calls.push(call);
      } else if (e.type === 'send') this.sends.push({ to: e.to, message: e.message as Record<string, unknown> });
      else this.emits.push({ stream: e.stream, payload: e.payload as Record<string, unknown> });
    }
    return d;
  }

  rejection(message: TaskMessage): { code: string; reason: string } {
    const d = this.decide(message);
    if (!isRejection(d)) throw new Error(`expected a rejection of ${message.type}, got ${d.state.status} (${d.why})`);
    return d.rejected;
  }

  /** The component answers a pending call (the runtime drops replies to calls no longer pending). */
  reply(key: string, outcome: 'ok' | { code: string; retryable: boolean }, value: unknown = { flow: 'f', flowVersion: 1, steps: [] }): Transition<TaskState, TaskMessage> {
    const call = this.pending.get(key);
    if (!call) throw new Error(`no call pending under ${key}`);
    this.pending.delete(key);
    const message: CallReply =
      outcome === 'ok'
        ? { type: call.reply, key, ok: true, value }
        : { type: call.reply, key, ok: false, error: { code: outcome.code, message: `${outcome.code} happened`, retryable: outcome.retryable } };
    return this.apply(message as TaskMessage);
  }

  /** Answers every pending subscription call ok. */
  subscriptionsOk(): void {
    for (const key of [...this.pending.keys()]) if (/#(un)?subscribe$/.test(key)) this.reply(key, 'ok');
  }

  /** Moves the clock to `to`, firing each timer due by then at its own time, in order. */
  advance(to: number): void {
    for (;;) {
      const due = [...this.timers.entries()].filter(([, t]) => t.at <= to).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.now = Math.max(this.now, due[1].at);
      this.apply(due[1].message);
    }
    this.now = Math.max(this.now, to);
  }

  /** Fires the timer under `key` at its time. */
  fire(key: string): void {
    const t = this.timers.get(key);
    if (!t) throw new Error(`no timer ${key}`);
    this.advance(t.at);
  }

  callsTo(key: string): Call[] {
    return this.calls.filter((c) => c.key === key);
  }
}

export function definition(input: Partial<TaskDefinitionInput> & { type: TaskDefinitionInput['type'] }) {
  return taskDefinitionSchema.parse({ id: 'def1', merchantId: 'm1', name: 'a task', events: ['order.paid'], reward: POLICY, ...input } as TaskDefinitionInput);
}

export function claimOf(def: ReturnType<typeof definition>, extra: Partial<ClaimMessage> = {}, claimedAt = T0): ClaimMessage {
  const p = periodOf(def, claimedAt);
  return {
    type: 'Claim',
    userId: USER,
    period: p.period,
    terms: termsOf(def, 1),
    claimedAt,
    ...(p.start !== undefined ? { periodStart: p.start, periodEnd: p.end } : {}),
    ...extra,
  };
}

/** A task of `def`, claimed at T0 and subscribed. */
export function claimed(input: Parameters<typeof definition>[0], extra: Partial<ClaimMessage> = {}): Sim {
  const def = definition(input);
  const sim = new Sim(`${USER}:${def.id}:${periodOf(def, T0).period}`);
  sim.apply(claimOf(def, extra));
  sim.subscriptionsOk();
  return sim;
}

let eventSeq = 0;
export function event(occurredAt: number, amount = 1, extra: Partial<ProgressMessage> = {}): ProgressMessage {
  return { type: 'Progress', eventId: `ev${++eventSeq}`, event: 'order.paid', occurredAt, amount, ...extra };
}

export const s0 = (sim: Sim) => `${sim.id}#s0`;
