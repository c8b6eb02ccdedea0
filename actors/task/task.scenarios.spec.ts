import { ActorRecord, AuditRecord, CallEffect, CallReply, newRecord, runTurn, TurnLimits, TurnResult } from '../../common/actor';
import { taskActor } from './task.actor';
import { taskDefinitionSchema, termsOf } from './task.definition';
import { ActiveTaskState, ClaimMessage, TaskMessage, TaskState } from './task.types';

/**
 * Scenarios 17 and 18 of design/scenarios.md driven through the runtime's pure turn (`runTurn`): message-id
 * dedup, the actor's own parse, durable timers, call deadlines answered with CALL_TIMEOUT and late replies
 * dropped, on a simulated clock with a fake reward component that grants at most once per key.
 */

const ID = 'alice:def1:once';
const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 0, 5, 9);
const LIMITS: TurnLimits = { seenLimit: 64, callTimeoutMs: 30_000 };
const POLICY = { maxRetries: 2, backoffBaseMs: 1_000, backoffCapMs: 4_000, replayIntervalMs: 10 * 60_000, maxReplays: 3 };

/** What the fake component does with one call: answer, refuse, fail, grant and lose the reply, or never answer. */
type Outcome = 'ok' | 'lost' | 'hang' | { reject: string } | { transient: string };
type Behaviour = (key: string, attempt: number) => Outcome;

class Simulation {
  now = T0;
  record: ActorRecord<TaskState> = newRecord(taskActor.initial(ID), 'NEW', T0);
  readonly calls: CallEffect[] = [];
  readonly audit: AuditRecord[] = [];
  readonly emits: Array<{ stream: string; payload: Record<string, unknown> }> = [];
  /** Keys the fake component granted under: a repeated key finds its first grant and grants nothing more. */
  readonly grants = new Set<string>();
  private readonly attempts = new Map<string, number>();
  private unanswered: CallEffect[] = [];
  private seq = 0;

  constructor(public behaviour: Behaviour = () => 'ok') {}

  get state(): ActiveTaskState {
    if (this.record.state.status === 'NEW') throw new Error('not claimed');
    return this.record.state;
  }

  send(message: TaskMessage, messageId = `msg-${++this.seq}`): TurnResult<TaskState> {
    const result = this.turn({ id: ID, message }, messageId);
    this.answerCalls();
    return result;
  }

  advance(ms: number): void {
    const target = this.now + ms;
    for (let due = this.record.scheduleTime; due !== null && due <= target; due = this.record.scheduleTime) {
      this.now = Math.max(this.now, due);
      this.turn({ id: ID, timer: this.now }, `tick-${++this.seq}`);
      this.answerCalls();
    }
    this.now = target;
  }

  rewardCalls(): string[] {
    return this.calls.filter((c) => c.component === 'task.reward').map((c) => c.key);
  }

  private turn(delivery: Parameters<typeof runTurn>[2], messageId: string): TurnResult<TaskState> {
    const result = runTurn(taskActor, this.record, delivery, { self: { type: 'task', id: ID }, now: this.now, messageId }, LIMITS);
    this.record = result.record;
    this.calls.push(...result.calls);
    this.unanswered.push(...result.calls);
    this.audit.push(...result.audit);
    this.emits.push(...(result.emits as Array<{ stream: string; payload: Record<string, unknown> }>));
    return result;
  }

  private answerCalls(): void {
    while (this.unanswered.length > 0) {
      const call = this.unanswered.shift()!;
      const attempt = (this.attempts.get(call.key) ?? 0) + 1;
      this.attempts.set(call.key, attempt);
      const outcome = call.component === 'task.reward' ? this.behaviour(call.key, attempt) : 'ok';
      if (outcome === 'hang') continue;
      let reply: CallReply;
      if (outcome === 'ok' || outcome === 'lost') {
        if (call.component === 'task.reward') this.grants.add(call.key);
        if (outcome === 'lost') continue;
        reply = { type: call.reply, key: call.key, ok: true, value: call.component === 'task.reward' ? { flow: 'f', flowVersion: 1, steps: [{ index: 0, type: 'points', ref: call.key }] } : null };
      } else if ('reject' in outcome) {
        reply = { type: call.reply, key: call.key, ok: false, error: { code: outcome.reject, message: 'refused', retryable: false } };
      } else {
        reply = { type: call.reply, key: call.key, ok: false, error: { code: outcome.transient, message: 'downstream unavailable', retryable: true } };
      }
      this.turn({ id: ID, message: reply, reply: true }, `reply-${++this.seq}`);
    }
  }
}

function claim(input: Record<string, unknown>, extra: Partial<ClaimMessage> = {}): ClaimMessage {
  const def = taskDefinitionSchema.parse({ id: 'def1', merchantId: 'm1', name: 'n', events: ['order.paid'], reward: POLICY, ...input });
  return { type: 'Claim', userId: 'alice', period: 'once', terms: termsOf(def, 1), claimedAt: T0, ...extra };
}

const progress = (eventId: string, occurredAt: number, amount = 1): TaskMessage => ({ type: 'Progress', eventId, event: 'order.paid', occurredAt, amount });

/** Every applied message left a why or a typed rejection; reward calls only ever use the stages' fixed keys. */
function expectInvariants(sim: Simulation): void {
  for (const entry of sim.audit) expect(entry.why ?? entry.rejected).toBeTruthy();
  const stages = sim.state.stages.length;
  for (const key of sim.rewardCalls()) expect(key).toMatch(new RegExp(`^${ID}#s[0-${stages - 1}]$`));
  const rewarded = sim.emits.filter((e) => e.payload.kind === 'TASK_REWARDED');
  expect(rewarded.length).toBeLessThanOrEqual(1);
}

describe('task scenarios (runtime turns, simulated clock, fake reward component)', () => {
  it('17: a staged task with duplicate and reordered events, redelivered messages and a lost reply: each event counts once, each stage is granted once', () => {
    const sim = new Simulation((key, attempt) => (key.endsWith('#s1') && attempt === 1 ? 'lost' : 'ok'));
    sim.send(claim({ type: 'staged', measure: 'amount', stages: [{ threshold: 10, flow: 'a' }, { threshold: 30, flow: 'b' }, { threshold: 60, flow: 'c' }] }));
    sim.send(progress('o3', T0 + 3_000, 25), 'entry-3');
    sim.send(progress('o1', T0 + 1_000, 5), 'entry-1');
    sim.send(progress('o3', T0 + 3_000, 25), 'entry-3'); // redelivered stream entry: dropped by the runtime's dedup
    sim.send(progress('o3', T0 + 3_000, 25), 'entry-3b'); // the same event again under another entry: DUPLICATE_EVENT
    expect(sim.audit.at(-1)?.rejected?.code).toBe('DUPLICATE_EVENT');
    expect(sim.state).toMatchObject({ progress: 30, status: 'IN_PROGRESS' });
    // Stage 1's reply was lost: the call deadline answers CALL_TIMEOUT, the retry round re-calls the same key.
    sim.advance(60_000);
    expect(sim.state.stages.map((s) => s.status)).toEqual(['GRANTED', 'GRANTED', 'LOCKED']);
    sim.send(progress('o2', T0 + 2_000, 30));
    sim.send(progress('o1', T0 + 1_000, 5));
    expect(sim.state).toMatchObject({ status: 'REWARDED', progress: 60 });
    expect(sim.rewardCalls()).toEqual([`${ID}#s0`, `${ID}#s1`, `${ID}#s1`, `${ID}#s2`]);
    expect([...sim.grants].sort()).toEqual([`${ID}#s0`, `${ID}#s1`, `${ID}#s2`]);
    expectInvariants(sim);
  });

  it('18: a completion receipt never arrives: IN_PROGRESS until the deadline, then EXPIRED; the earned stage settles through the replay, at most once', () => {
    let down = true;
    const sim = new Simulation((key) => (key.endsWith('#s0') && down ? { reject: 'COUPON_OUT_OF_STOCK' } : 'ok'));
    sim.send(claim({ type: 'staged', stages: [{ threshold: 1, flow: 'a' }, { threshold: 2, flow: 'b' }] }, { deadline: T0 + 72 * HOUR }));
    sim.send(progress('o1', T0 + HOUR));
    expect(sim.state).toMatchObject({ status: 'IN_PROGRESS', stages: [{ status: 'FAILED', reason: 'COUPON_OUT_OF_STOCK' }, { status: 'LOCKED' }] });
    down = false;
    sim.advance(71 * HOUR);
    expect(sim.state).toMatchObject({ status: 'IN_PROGRESS', replays: 1, stages: [{ status: 'GRANTED' }, { status: 'LOCKED' }] });
    sim.advance(HOUR);
    expect(sim.state.status).toBe('IN_PROGRESS'); // at the deadline itself an event still counts
    sim.advance(1);
    expect(sim.state).toMatchObject({ status: 'EXPIRED', stages: [{ status: 'GRANTED' }, { status: 'LOCKED' }] });
    expect(sim.record.scheduleTime).toBeNull();
    sim.send(progress('o2', T0 + 2 * HOUR));
    expect(sim.audit.at(-1)?.rejected?.code).toBe('NOT_COUNTING');
    expect(sim.rewardCalls()).toEqual([`${ID}#s0`, `${ID}#s0`]);
    expect(sim.calls.filter((c) => c.component === 'task.unsubscribe')).toHaveLength(1);
    expectInvariants(sim);
  });

  it('18: a terminated task with an earned reward whose component stays down goes FAILED → replays → manual intervention, then ops finish it once', () => {
    let down = true;
    const sim = new Simulation(() => (down ? { transient: 'DOWNSTREAM_DOWN' } : 'ok'));
    sim.send(claim({ type: 'one-shot', flow: 'a' }));
    sim.send(progress('o1', T0));
    sim.send({ type: 'Terminate', by: 'merchant', operator: 'm1' });
    sim.advance(24 * HOUR);
    expect(sim.state).toMatchObject({ status: 'MANUAL_INTERVENTION', manual: { reason: 'MAX_REPLAYS' }, replays: 3 });
    expect(sim.record.scheduleTime).toBeNull();
    down = false;
    sim.send({ type: 'RetryFromOps', operator: 'ops-ann' });
    expect(sim.state.status).toBe('REWARDED');
    expect(new Set(sim.rewardCalls())).toEqual(new Set([`${ID}#s0`]));
    expectInvariants(sim);
  });

  it('internal messages from outside are refused: nobody can forge a reward result or an early deadline', () => {
    const sim = new Simulation();
    sim.send(claim({ type: 'one-shot', flow: 'a' }));
    expect(() => sim.send({ type: 'Deadline' })).toThrow(/internal/);
    expect(() => sim.send({ type: 'RewardResult', key: `${ID}#s0`, ok: true, value: { flow: 'a', flowVersion: 1, steps: [] } })).toThrow(/internal/);
    expect(() => sim.send({ type: 'Progress', eventId: 'x', event: 'order.paid', occurredAt: -1, amount: 1 } as TaskMessage)).toThrow(/occurredAt must be a time/);
  });
});
