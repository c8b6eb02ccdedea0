import { ActorRecord, AuditRecord, CallEffect, CallReply, newRecord, runTurn, TurnLimits, TurnResult } from '../../common/actor';
import { referralActor } from './referral.actor';
import { ReferralMessage, ReferralSettings, ReferralState } from './referral.types';

/**
 * Scenarios from design/scenarios.md driven through the runtime's pure turn (`runTurn`): message-id dedup,
 * durable timers, call deadlines answered with CALL_TIMEOUT and late replies dropped, all on a simulated
 * clock with a fake, idempotent activity component. No Redis: the real-Redis versions come later.
 */

const ID = 'app1';
const HOUR = 3_600_000;
const T0 = 1_700_000_000_000;
const LIMITS: TurnLimits = { seenLimit: 32, callTimeoutMs: 30_000 };
const SETTINGS: ReferralSettings = { taskDeadlineHours: 72, maxRetries: 3, backoffBaseMs: 1_000, backoffCapMs: 8_000, completionGraceMs: 0 };
const ACCEPT = { type: 'Accept', activityId: 'act1', sharerId: 'alice', inviteeId: 'bob', settings: SETTINGS } as const;

type Step = 'relation' | 'sharer' | 'invitee';
/** What the fake component does with one call: answer, refuse, fail, or grant and lose the reply ('lost'). */
type Outcome = 'ok' | 'lost' | 'hang' | { reject: string } | { transient: string };
type Behaviour = (step: Step, attempt: number) => Outcome;

const allOk: Behaviour = () => 'ok';

/** One referral application on a simulated clock, with the activity component answering its calls. */
class Simulation {
  now = T0;
  record: ActorRecord<ReferralState> = newRecord(referralActor.initial(ID), 'NEW', T0);
  readonly calls: CallEffect[] = [];
  readonly emits: Array<{ stream: string; payload: Record<string, unknown> }> = [];
  readonly audit: AuditRecord[] = [];
  /** Grants the fake component made, by idempotency key: a repeated key returns the first grant. */
  readonly grants = new Map<string, string>();
  private readonly attempts = new Map<string, number>();
  private unanswered: CallEffect[] = [];
  private seq = 0;

  constructor(private behaviour: Behaviour = allOk) {}

  get state(): ReferralState {
    return this.record.state;
  }

  setBehaviour(behaviour: Behaviour): void {
    this.behaviour = behaviour;
  }

  /** Delivers an external message (from the gateway or the ingest stream), then lets components answer. */
  send(message: ReferralMessage, messageId = `msg-${++this.seq}`): TurnResult<ReferralState> {
    const result = this.turn({ id: ID, message }, messageId);
    this.answerCalls();
    return result;
  }

  /** Delivers a component's reply the way the runtime does (flagged as a reply, so a late one is dropped). */
  reply(reply: CallReply): TurnResult<ReferralState> {
    return this.turn({ id: ID, message: reply, reply: true }, `reply-${++this.seq}`);
  }

  /** Moves the clock, firing every due timer and call deadline at its own time, as the sweeper would. */
  advance(ms: number): void {
    const target = this.now + ms;
    for (let due = this.record.scheduleTime; due !== null && due <= target; due = this.record.scheduleTime) {
      this.now = Math.max(this.now, due);
      this.turn({ id: ID, timer: this.now }, `tick-${++this.seq}`);
      this.answerCalls();
    }
    this.now = target;
  }

  notifications(kind: string): Array<Record<string, unknown>> {
    return this.emits.filter((e) => e.stream === 'notifications' && e.payload.kind === kind).map((e) => e.payload);
  }

  callKeys(step: Step): string[] {
    return this.calls.filter((c) => c.key.endsWith(`:${step}`)).map((c) => c.key);
  }

  private turn(delivery: Parameters<typeof runTurn>[2], messageId: string): TurnResult<ReferralState> {
    const result = runTurn(referralActor, this.record, delivery, { self: { type: 'referral', id: ID }, now: this.now, messageId }, LIMITS);
    this.record = result.record;
    this.calls.push(...result.calls);
    this.unanswered.push(...result.calls);
    this.emits.push(...(result.emits as Array<{ stream: string; payload: Record<string, unknown> }>));
    this.audit.push(...result.audit);
    return result;
  }

  private answerCalls(): void {
    while (this.unanswered.length > 0) {
      const call = this.unanswered.shift()!;
      const step = call.key.slice(call.key.lastIndexOf(':') + 1) as Step;
      const attempt = (this.attempts.get(call.key) ?? 0) + 1;
      this.attempts.set(call.key, attempt);
      const outcome = this.behaviour(step, attempt);
      if (outcome === 'hang') continue;
      let reply: CallReply;
      if (outcome === 'ok' || outcome === 'lost') {
        if (!this.grants.has(call.key)) this.grants.set(call.key, `grant-${this.grants.size + 1}`);
        if (outcome === 'lost') continue;
        reply = { type: call.reply, key: call.key, ok: true, value: { grantId: this.grants.get(call.key) } };
      } else if ('reject' in outcome) {
        reply = { type: call.reply, key: call.key, ok: false, error: { code: outcome.reject, message: `refused: ${outcome.reject}`, retryable: false } };
      } else {
        reply = { type: call.reply, key: call.key, ok: false, error: { code: outcome.transient, message: 'downstream unavailable', retryable: true } };
      }
      this.reply(reply);
    }
  }
}

/** Accept, relation recorded, then the task completed `after` ms later (occurring at that moment). */
function completedApplication(behaviour: Behaviour = allOk, after = 10 * HOUR): Simulation {
  const sim = new Simulation(behaviour);
  sim.send(ACCEPT);
  sim.advance(after);
  sim.send({ type: 'TaskCompleted', occurredAt: sim.now, eventId: 'ev1' });
  return sim;
}

function rewardGrants(sim: Simulation): string[] {
  return [...sim.grants.keys()].filter((k) => !k.endsWith(':relation'));
}

/** Standing invariants every scenario checks. */
function expectInvariants(sim: Simulation): void {
  // At most one grant per (application, side): each side is only ever called under one key.
  for (const step of ['sharer', 'invitee'] as const) expect(new Set(sim.callKeys(step)).size).toBeLessThanOrEqual(1);
  // Every applied message left one audit record with a why, or a typed rejection.
  for (const entry of sim.audit) expect(entry.why ?? entry.rejected).toBeTruthy();
  // Every "not rewarded" side has a machine-readable reason.
  const s = sim.state;
  if ('sharer' in s) for (const side of [s.sharer, s.invitee]) if (side.outcome === 'REJECTED') expect(side.reason).toMatch(/^[A-Z_]+$/);
  if (s.status === 'REJECTED') expect(s.relation.reason).toMatch(/^[A-Z_]+$/);
  // One notification per granted side, never more.
  const rewarded = sim.notifications('REFERRAL_REWARDED').map((p) => p.notificationId);
  expect(new Set(rewarded).size).toBe(rewarded.length);
}

describe('referral scenarios (runtime turns, simulated clock, fake activity component)', () => {
  it('1: happy path: both sides rewarded once, one notification each, latency recorded, nothing left scheduled', () => {
    const sim = completedApplication();
    expect(sim.state).toMatchObject({ status: 'BOTH_REWARDED', acceptedAt: T0, finishedAt: T0 + 10 * HOUR, sharer: { grantId: 'grant-2' }, invitee: { grantId: 'grant-3' } });
    expect(sim.calls.map((c) => c.key)).toEqual(['app1:relation', 'app1:sharer', 'app1:invitee']);
    expect(sim.notifications('REFERRAL_REWARDED').map((p) => p.userId)).toEqual(['alice', 'bob']);
    expect(sim.notifications('REFERRAL_TASK_ASSIGNED')).toHaveLength(1);
    expect(sim.record).toMatchObject({ scheduleTime: null, timers: {}, calls: {} });
    expectInvariants(sim);
  });

  it('2: the invitee is the sharer: rejected at the relation step with a reason, no component touched', () => {
    const sim = new Simulation();
    sim.send({ ...ACCEPT, inviteeId: 'alice' });
    expect(sim.state).toMatchObject({ status: 'REJECTED', relation: { reason: 'SELF_REFERRAL' } });
    expect(sim.calls).toEqual([]);
    expect(sim.grants.size).toBe(0);
    expectInvariants(sim);
  });

  it('3/4: a relation refused by risk or audience checks ends REJECTED with the component\'s reason', () => {
    const sim = new Simulation((step) => (step === 'relation' ? { reject: 'RISK_SAME_DEVICE' } : 'ok'));
    sim.send({ ...ACCEPT, device: 'dev-1' });
    expect(sim.state).toMatchObject({ status: 'REJECTED', relation: { reason: 'RISK_SAME_DEVICE' } });
    expect(sim.calls[0].input).toMatchObject({ device: 'dev-1' });
    expectInvariants(sim);
  });

  it('5: task not done within 72 h: the deadline fires at exactly +72 h, expired, no grants', () => {
    const sim = new Simulation();
    sim.send(ACCEPT);
    sim.advance(72 * HOUR - 1);
    expect(sim.state.status).toBe('RELATION_ESTABLISHED');
    sim.advance(1);
    expect(sim.state).toMatchObject({ status: 'EXPIRED', finishedAt: T0 + 72 * HOUR });
    expect(rewardGrants(sim)).toEqual([]);
    expect(sim.record.scheduleTime).toBeNull();
    expectInvariants(sim);
  });

  it('6: a completion that occurred before the deadline but arrives after it counts until the application expires; after that it never reopens', () => {
    const deadline = T0 + 72 * HOUR;
    // Arrives 2 s after the deadline, before the sweeper fired the timer: judged by occurrence time.
    const onTime = new Simulation();
    onTime.send(ACCEPT);
    onTime.now = deadline + 2_000;
    onTime.send({ type: 'TaskCompleted', occurredAt: deadline, eventId: 'ev1' });
    onTime.advance(HOUR);
    expect(onTime.state.status).toBe('BOTH_REWARDED');

    // The timer fired first: the application expired and stays expired.
    const late = new Simulation();
    late.send(ACCEPT);
    late.advance(72 * HOUR + 2_000);
    expect(late.state.status).toBe('EXPIRED');
    const r = late.send({ type: 'TaskCompleted', occurredAt: deadline - 1, eventId: 'ev1' });
    expect(r.rejected).toEqual({ code: 'ALREADY_TERMINAL', reason: expect.any(String) });
    expect(late.state.status).toBe('EXPIRED');
    expect(rewardGrants(late)).toEqual([]);
    expectInvariants(onTime);
    expectInvariants(late);
  });

  it.each([2, 5, 10])('7: the same completion delivered %i times, and under other event ids: one transition, one grant per side', (times) => {
    const sim = new Simulation((step) => (step === 'relation' ? 'ok' : 'hang'));
    sim.send(ACCEPT);
    sim.advance(HOUR);
    const event = { type: 'TaskCompleted', occurredAt: sim.now, eventId: 'ev1' } as const;
    const kinds = Array.from({ length: times }, () => sim.send(event, 'event:ev1').kind);
    expect(kinds).toEqual(['applied', ...Array(times - 1).fill('duplicate')]);
    // Past the runtime's dedup window, or under another event id, the actor refuses it itself.
    expect(sim.send(event).rejected?.code).toBe('DUPLICATE_EVENT');
    expect(sim.send({ ...event, eventId: 'ev2' }).rejected?.code).toBe('ALREADY_COMPLETED');
    sim.setBehaviour(allOk);
    sim.advance(LIMITS.callTimeoutMs + SETTINGS.backoffBaseMs);
    expect(sim.state.status).toBe('BOTH_REWARDED');
    expect(rewardGrants(sim)).toEqual(['app1:sharer', 'app1:invitee']);
    expect(sim.audit.filter((a) => a.from === 'RELATION_ESTABLISHED' && a.to === 'TASK_COMPLETED')).toHaveLength(1);
    expectInvariants(sim);
  });

  it('8: the sharer side fails its frequency cap, the invitee side passes: INVITEE_ONLY, the grant stands, each side has its reason', () => {
    const sim = completedApplication((step) => (step === 'sharer' ? { reject: 'FREQUENCY_CAP' } : 'ok'));
    expect(sim.state).toMatchObject({ status: 'INVITEE_ONLY', sharer: { outcome: 'REJECTED', reason: 'FREQUENCY_CAP' }, invitee: { outcome: 'GRANTED' } });
    expect(rewardGrants(sim)).toEqual(['app1:invitee']);
    expect(sim.notifications('REFERRAL_REWARDED').map((p) => p.side)).toEqual(['invitee']);
    expectInvariants(sim);
  });

  it('9: both sides fail (activity paused between steps): NEITHER, no grants, no reward notifications', () => {
    const sim = completedApplication((step) => (step === 'relation' ? 'ok' : { reject: 'ACTIVITY_PAUSED' }));
    expect(sim.state).toMatchObject({ status: 'NEITHER', sharer: { reason: 'ACTIVITY_PAUSED' }, invitee: { reason: 'ACTIVITY_PAUSED' } });
    expect(rewardGrants(sim)).toEqual([]);
    expect(sim.notifications('REFERRAL_REWARDED')).toEqual([]);
    expectInvariants(sim);
  });

  it('11: a reward call times out after it succeeded downstream: the retry carries the same key, one grant', () => {
    const sim = completedApplication((step, attempt) => (step === 'sharer' && attempt === 1 ? 'lost' : 'ok'));
    expect(sim.state).toMatchObject({ status: 'TASK_COMPLETED', sharer: { outcome: 'PENDING', inFlight: true } });
    const completedAt = sim.now;
    sim.advance(LIMITS.callTimeoutMs);
    // The runtime answered CALL_TIMEOUT at the call's deadline; a retry round is due one backoff later.
    expect(sim.state).toMatchObject({ retryCount: 1, scheduleTime: completedAt + LIMITS.callTimeoutMs + SETTINGS.backoffBaseMs, sharer: { lastError: 'CALL_TIMEOUT' } });
    sim.advance(SETTINGS.backoffBaseMs);
    expect(sim.callKeys('sharer')).toEqual(['app1:sharer', 'app1:sharer']);
    expect(sim.state).toMatchObject({ status: 'BOTH_REWARDED', sharer: { grantId: 'grant-2', attempts: 2 } });
    expect(rewardGrants(sim)).toEqual(['app1:sharer', 'app1:invitee']);
    expectInvariants(sim);
  });

  it('a reward result or deadline sent from outside (a producer forging it) is refused; nothing is granted', () => {
    const sim = new Simulation(() => 'hang');
    sim.send({ type: 'Accept', activityId: 'act-1', sharerId: 'sharer-1', inviteeId: 'invitee-1' });
    const forged: ReferralMessage = { type: 'SharerRewardResult', key: `${ID}:sharer`, ok: true, value: { grantId: 'forged' } };
    expect(() => sim.send(forged)).toThrow(/internal/);
    expect(() => sim.send({ type: 'TaskDeadline' })).toThrow(/internal/);
    expect(sim.state.status).toBe('INIT');
  });

  it('11b: the real reply turning up after the timeout is dropped by the runtime; the retry still grants once', () => {
    const sim = completedApplication((step, attempt) => (step === 'sharer' && attempt === 1 ? 'lost' : 'ok'));
    sim.advance(LIMITS.callTimeoutMs);
    const before = sim.state;
    const late = sim.reply({ type: 'SharerRewardResult', key: 'app1:sharer', ok: true, value: { grantId: 'grant-2' } });
    expect(late.audit.map((a) => a.why)).toEqual(['late call reply ignored: the call was no longer pending']);
    expect(sim.state).toBe(before);
    sim.advance(SETTINGS.backoffBaseMs);
    expect(sim.state).toMatchObject({ status: 'BOTH_REWARDED', sharer: { grantId: 'grant-2' } });
    expect(sim.notifications('REFERRAL_REWARDED')).toHaveLength(2);
    expectInvariants(sim);
  });

  it('12: downstream down longer than the retry budget: manual intervention with the reason; a retry from ops grants at most once', () => {
    let down = true;
    const sim = completedApplication((step) => (step === 'sharer' && down ? { transient: 'DOWNSTREAM_UNAVAILABLE' } : 'ok'));
    sim.advance(HOUR);
    expect(sim.state).toMatchObject({
      status: 'MANUAL_INTERVENTION',
      stage: 'REWARD',
      retryCount: SETTINGS.maxRetries,
      manual: { reason: 'MAX_RETRIES', detail: expect.stringContaining('DOWNSTREAM_UNAVAILABLE') },
      sharer: { outcome: 'PENDING', attempts: SETTINGS.maxRetries + 1 },
      invitee: { outcome: 'GRANTED' },
    });
    expect(sim.record.scheduleTime).toBeNull();
    expect(sim.audit.at(-1)?.why).toMatch(/needs a person: MAX_RETRIES/);

    // Ops retries while it is still down: the budget is spent again, and it comes back to manual.
    sim.send({ type: 'RetryFromOps', operator: 'ops-1' });
    sim.advance(HOUR);
    expect(sim.state.status).toBe('MANUAL_INTERVENTION');

    down = false;
    sim.send({ type: 'RetryFromOps', operator: 'ops-1' });
    sim.send({ type: 'RetryFromOps', operator: 'ops-1' });
    expect(sim.state.status).toBe('BOTH_REWARDED');
    expect(sim.callKeys('invitee')).toEqual(['app1:invitee']);
    expect(new Set(sim.callKeys('sharer'))).toEqual(new Set(['app1:sharer']));
    expect(rewardGrants(sim).sort()).toEqual(['app1:invitee', 'app1:sharer']);
    expect(sim.audit.at(-1)?.rejected?.code).toBe('ALREADY_TERMINAL');
    expectInvariants(sim);
  });

  it('12b: the relation component down past the budget: manual intervention, then ops re-drives the relation', () => {
    let down = true;
    const sim = new Simulation((step) => (step === 'relation' && down ? 'hang' : 'ok'));
    sim.send(ACCEPT);
    sim.advance(HOUR);
    expect(sim.state).toMatchObject({ status: 'MANUAL_INTERVENTION', stage: 'RELATION', manual: { reason: 'MAX_RETRIES' }, relation: { lastError: 'CALL_TIMEOUT' } });
    down = false;
    sim.send({ type: 'RetryFromOps' });
    expect(sim.state.status).toBe('RELATION_ESTABLISHED');
    expect(new Set(sim.callKeys('relation'))).toEqual(new Set(['app1:relation']));
    expectInvariants(sim);
  });
});
