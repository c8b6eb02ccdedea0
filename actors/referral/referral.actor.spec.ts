import fc from 'fast-check';
import { CallReply, Decision, isRejection, Transition, TurnContext } from '../../common/actor';
import { isTerminal, referralActor } from './referral.actor';
import { parseReferralMessage } from './referral.parse';
import { DEFAULT_REFERRAL_SETTINGS, ReferralMessage, ReferralRejection, ReferralSettings, ReferralState, TERMINAL_STATUSES } from './referral.types';

const ID = 'app1';
const HOUR = 3_600_000;
const T0 = 1_700_000_000_000;
const SETTINGS: ReferralSettings = { taskDeadlineHours: 72, maxRetries: 3, backoffBaseMs: 1_000, backoffCapMs: 5_000, completionGraceMs: 0 };
const ACCEPT: ReferralMessage = { type: 'Accept', activityId: 'act1', sharerId: 'alice', inviteeId: 'bob', settings: SETTINGS };
/** The relation is recorded at T0 + 1 s, so the task deadline is 72 h later. */
const ESTABLISHED_AT = T0 + 1_000;
const DEADLINE = ESTABLISHED_AT + 72 * HOUR;

/** A simulated clock: each decision happens at `clock.now`, which tests move forward explicitly. */
const clock = { now: T0 };
let seq = 0;
beforeEach(() => {
  clock.now = T0;
  seq = 0;
});

function ctx(messageId = `m${++seq}`): TurnContext {
  return { now: clock.now, self: { type: 'referral', id: ID }, messageId };
}

function decide(state: ReferralState, message: ReferralMessage, messageId?: string): Decision<ReferralState, ReferralMessage> {
  return referralActor.decide(state, message, ctx(messageId));
}

/** Applies a message that must be legal; fails the test with the rejection otherwise. */
function apply(state: ReferralState, message: ReferralMessage, messageId?: string): Transition<ReferralState, ReferralMessage> {
  const d = decide(state, message, messageId);
  if (isRejection(d)) throw new Error(`unexpected rejection ${d.rejected.code}: ${d.rejected.reason}`);
  expect(d.why).toEqual(expect.any(String));
  return d;
}

function rejectionOf(state: ReferralState, message: ReferralMessage, messageId?: string): { code: string; reason: string } {
  const d = decide(state, message, messageId);
  if (!isRejection(d)) throw new Error(`expected a rejection, got a transition to ${d.state.status} (${d.why})`);
  return d.rejected;
}

const ok = <T extends string>(type: T, key: string, value: unknown = {}): CallReply<T> => ({ type, key, ok: true, value });
const fail = <T extends string>(type: T, key: string, code: string, retryable: boolean): CallReply<T> => ({ type, key, ok: false, error: { code, message: `${code} happened`, retryable } });
const relationOk = () => ok('RelationResult', `${ID}:relation`, { relationId: 'r1' });
const sharerOk = (grantId = 'g-sharer') => ok('SharerRewardResult', `${ID}:sharer`, { grantId });
const inviteeOk = (grantId = 'g-invitee') => ok('InviteeRewardResult', `${ID}:invitee`, { grantId });
const sharerFail = (code: string, retryable: boolean) => fail('SharerRewardResult', `${ID}:sharer`, code, retryable);
const inviteeFail = (code: string, retryable: boolean) => fail('InviteeRewardResult', `${ID}:invitee`, code, retryable);

// States reached through real transitions, each at its own moment on the clock.
const fresh = (): ReferralState => referralActor.initial(ID);
const accepted = (accept: ReferralMessage = ACCEPT): ReferralState => apply(fresh(), accept).state;
function established(accept: ReferralMessage = ACCEPT): ReferralState {
  const s = accepted(accept);
  clock.now = ESTABLISHED_AT;
  return apply(s, relationOk()).state;
}
function completed(eventId = 'ev1'): ReferralState {
  const s = established();
  clock.now = ESTABLISHED_AT + HOUR;
  return apply(s, { type: 'TaskCompleted', occurredAt: clock.now, eventId }).state;
}
/** The sharer side fails transiently past the retry budget (3 rounds), the invitee's call still in flight. */
function manualReward(): ReferralState {
  let s = completed();
  for (let round = 1; round <= SETTINGS.maxRetries; round++) {
    s = apply(s, sharerFail('DOWNSTREAM_DOWN', true)).state;
    clock.now = (s as { scheduleTime: number }).scheduleTime;
    s = apply(s, { type: 'Retry' }).state;
  }
  return apply(s, sharerFail('DOWNSTREAM_DOWN', true)).state;
}
/** The relation step fails transiently past the retry budget (3 rounds). */
function manualRelation(): ReferralState {
  let s = accepted();
  for (let round = 1; round <= SETTINGS.maxRetries; round++) {
    s = apply(s, fail('RelationResult', `${ID}:relation`, 'DOWNSTREAM_DOWN', true)).state;
    clock.now = (s as { scheduleTime: number }).scheduleTime;
    s = apply(s, { type: 'Retry' }).state;
  }
  return apply(s, fail('RelationResult', `${ID}:relation`, 'DOWNSTREAM_DOWN', true)).state;
}
const TERMINATE: ReferralMessage = { type: 'TerminateFromOps', operator: 'ops-ann', reason: 'downstream retired the campaign' };

const terminalPaths: Array<[string, () => ReferralState]> = [
  ['REJECTED', () => apply(accepted(), fail('RelationResult', `${ID}:relation`, 'ALREADY_REFERRED', false)).state],
  ['EXPIRED', () => { const s = established(); clock.now = DEADLINE; return apply(s, { type: 'TaskDeadline' }).state; }],
  ['BOTH_REWARDED', () => apply(apply(completed(), sharerOk()).state, inviteeOk()).state],
  ['SHARER_ONLY', () => apply(apply(completed(), sharerOk()).state, inviteeFail('AUDIENCE', false)).state],
  ['INVITEE_ONLY', () => apply(apply(completed(), sharerFail('FREQUENCY_CAP', false)).state, inviteeOk()).state],
  ['NEITHER', () => apply(apply(completed(), sharerFail('ACTIVITY_PAUSED', false)).state, inviteeFail('ACTIVITY_PAUSED', false)).state],
  ['TERMINATED', () => apply(apply(manualReward(), inviteeOk()).state, TERMINATE).state],
];

describe('referral actor: accepting (relation step, activity 1)', () => {
  it('Accept moves NEW to INIT and calls activity.applyRelation under the relation key', () => {
    const d = apply(fresh(), { ...ACCEPT, device: 'dev-9', ip: '10.0.0.9' });
    expect(d.state).toMatchObject({ status: 'INIT', activityId: 'act1', sharerId: 'alice', inviteeId: 'bob', acceptedAt: T0, retryCount: 0, scheduleTime: null, relation: { outcome: 'PENDING', attempts: 1, inFlight: true } });
    expect(d.effects).toEqual([
      {
        type: 'call',
        key: 'app1:relation',
        component: 'activity.applyRelation',
        reply: 'RelationResult',
        input: { applicationId: ID, activityId: 'act1', sharerId: 'alice', inviteeId: 'bob', device: 'dev-9', ip: '10.0.0.9' },
      },
    ]);
  });

  it('settings left out of Accept come from the defaults (72 h) and are frozen into the state', () => {
    const s = accepted({ type: 'Accept', activityId: 'act1', sharerId: 'alice', inviteeId: 'bob', settings: { maxRetries: 1 } });
    expect(s).toMatchObject({ settings: { ...DEFAULT_REFERRAL_SETTINGS, maxRetries: 1 } });
  });

  it('self-referral (scenario 2) is REJECTED at once with SELF_REFERRAL and no component call', () => {
    const d = apply(fresh(), { ...ACCEPT, inviteeId: 'alice' });
    expect(d.state).toMatchObject({ status: 'REJECTED', finishedAt: T0, relation: { outcome: 'REJECTED', reason: 'SELF_REFERRAL', attempts: 0 } });
    expect(d.effects ?? []).toEqual([]);
  });

  it('a recorded relation starts the task: deadline timer at +72 h and a notice to the invitee', () => {
    const s = accepted();
    clock.now = ESTABLISHED_AT;
    const d = apply(s, relationOk());
    expect(d.state).toMatchObject({ status: 'RELATION_ESTABLISHED', taskDeadline: DEADLINE, relation: { outcome: 'ESTABLISHED', inFlight: false } });
    expect(d.effects).toEqual([
      { type: 'timer', key: 'deadline', at: DEADLINE, message: { type: 'TaskDeadline' } },
      { type: 'emit', stream: 'notifications', payload: { notificationId: 'app1:task-assigned', kind: 'REFERRAL_TASK_ASSIGNED', applicationId: ID, activityId: 'act1', userId: 'bob', taskDeadline: DEADLINE } },
    ]);
  });

  it('a grace period moves the expiry timer, not the deadline', () => {
    const s = accepted({ ...ACCEPT, settings: { ...SETTINGS, completionGraceMs: 60_000 } });
    clock.now = ESTABLISHED_AT;
    const d = apply(s, relationOk());
    expect(d.state).toMatchObject({ taskDeadline: DEADLINE });
    expect(d.effects).toContainEqual({ type: 'timer', key: 'deadline', at: DEADLINE + 60_000, message: { type: 'TaskDeadline' } });
  });

  it.each(['ALREADY_REFERRED', 'RISK_REJECTED', 'AUDIENCE'])('a business refusal %s ends REJECTED with that reason', (code) => {
    const d = apply(accepted(), fail('RelationResult', `${ID}:relation`, code, false));
    expect(d.state).toMatchObject({ status: 'REJECTED', finishedAt: T0, relation: { outcome: 'REJECTED', reason: code, inFlight: false } });
    expect(d.effects ?? []).toEqual([]);
  });

  it('a transient failure schedules a retry round; the Retry timer re-calls with the same key', () => {
    const failed = apply(accepted(), fail('RelationResult', `${ID}:relation`, 'CALL_TIMEOUT', true));
    expect(failed.state).toMatchObject({ status: 'INIT', retryCount: 1, scheduleTime: T0 + 1_000, relation: { outcome: 'PENDING', inFlight: false, lastError: 'CALL_TIMEOUT' } });
    expect(failed.effects).toEqual([{ type: 'timer', key: 'retry', at: T0 + 1_000, message: { type: 'Retry' } }]);

    clock.now = T0 + 999;
    expect(rejectionOf(failed.state, { type: 'Retry' }).code).toBe(ReferralRejection.RetryNotDue);
    clock.now = T0 + 1_000;
    const retried = apply(failed.state, { type: 'Retry' });
    expect(retried.state).toMatchObject({ scheduleTime: null, retryCount: 1, relation: { attempts: 2, inFlight: true } });
    expect(retried.effects).toEqual([expect.objectContaining({ type: 'call', key: 'app1:relation', component: 'activity.applyRelation' })]);
  });

  it('an ok relation reply while a retry round is pending cancels that round', () => {
    const failed = apply(accepted(), fail('RelationResult', `${ID}:relation`, 'HANDLER_FAILED', true)).state;
    const d = apply(failed, relationOk());
    expect(d.state.status).toBe('RELATION_ESTABLISHED');
    expect(d.effects?.[0]).toEqual({ type: 'cancelTimer', key: 'retry' });
  });

  it('past maxRetries the relation step goes to MANUAL_INTERVENTION; RetryFromOps re-calls it with a fresh budget', () => {
    let s = accepted();
    for (let round = 1; round <= SETTINGS.maxRetries; round++) {
      s = apply(s, fail('RelationResult', `${ID}:relation`, 'DOWNSTREAM_DOWN', true)).state;
      clock.now = (s as { scheduleTime: number }).scheduleTime;
      s = apply(s, { type: 'Retry' }).state;
    }
    const manual = apply(s, fail('RelationResult', `${ID}:relation`, 'DOWNSTREAM_DOWN', true));
    expect(manual.state).toMatchObject({ status: 'MANUAL_INTERVENTION', stage: 'RELATION', scheduleTime: null, retryCount: 3, manual: { reason: 'MAX_RETRIES', since: clock.now }, relation: { attempts: 4 } });
    expect(manual.effects ?? []).toEqual([]);

    const resumed = apply(manual.state, { type: 'RetryFromOps', operator: 'ops-ann' });
    expect(resumed.state).toMatchObject({ status: 'INIT', retryCount: 0, scheduleTime: null, relation: { attempts: 5, inFlight: true } });
    expect(resumed.state).not.toHaveProperty('manual');
    expect(resumed.effects).toEqual([expect.objectContaining({ type: 'call', key: 'app1:relation' })]);
    expect(resumed.why).toMatch(/ops-ann/);
  });

  it('a runtime failure retrying cannot fix (no component registered) goes straight to manual intervention', () => {
    const d = apply(accepted(), fail('RelationResult', `${ID}:relation`, 'CALL_FAILED', false));
    expect(d.state).toMatchObject({ status: 'MANUAL_INTERVENTION', stage: 'RELATION', manual: { reason: 'CALL_FAILED' }, relation: { outcome: 'PENDING' } });
  });

  it('relation replies: wrong key, before Accept, and duplicates', () => {
    expect(rejectionOf(accepted(), ok('RelationResult', 'other:relation')).code).toBe(ReferralRejection.KeyMismatch);
    expect(rejectionOf(fresh(), relationOk()).code).toBe(ReferralRejection.UnexpectedReply);
    const s = established();
    const dup = apply(s, fail('RelationResult', `${ID}:relation`, 'RISK_REJECTED', false));
    expect(dup.state).toBe(s);
    expect(dup.why).toMatch(/duplicate relation reply ignored/);
  });

  it.each([
    ['INIT', () => accepted()],
    ['RELATION_ESTABLISHED', () => established()],
    ['TASK_COMPLETED', () => completed()],
    ['MANUAL_INTERVENTION', () => manualReward()],
  ])('Accept again in %s is ALREADY_ACCEPTED', (_status, build) => {
    expect(rejectionOf(build(), ACCEPT).code).toBe(ReferralRejection.AlreadyAccepted);
  });
});

describe('referral actor: the task and its deadline (occurrence time, boundary inclusive)', () => {
  it.each([
    ['NEW', fresh],
    ['INIT', () => accepted()],
  ])('TaskCompleted in %s is NO_RELATION', (_status, build) => {
    expect(rejectionOf(build(), { type: 'TaskCompleted', occurredAt: T0, eventId: 'ev1' }).code).toBe(ReferralRejection.NoRelation);
  });

  it('a completion that occurred exactly at the deadline counts and applies both sides in parallel', () => {
    const s = established();
    clock.now = DEADLINE;
    const d = apply(s, { type: 'TaskCompleted', occurredAt: DEADLINE, eventId: 'ev1' });
    expect(d.state).toMatchObject({ status: 'TASK_COMPLETED', completedAt: DEADLINE, completionEventId: 'ev1', retryCount: 0, scheduleTime: null, sharer: { outcome: 'PENDING', attempts: 1, inFlight: true }, invitee: { outcome: 'PENDING', attempts: 1, inFlight: true } });
    const input = { applicationId: ID, activityId: 'act1', sharerId: 'alice', inviteeId: 'bob', completedAt: DEADLINE };
    expect(d.effects).toEqual([
      { type: 'cancelTimer', key: 'deadline' },
      { type: 'call', key: 'app1:sharer', component: 'activity.apply', reply: 'SharerRewardResult', input: { ...input, side: 'sharer', userId: 'alice' } },
      { type: 'call', key: 'app1:invitee', component: 'activity.apply', reply: 'InviteeRewardResult', input: { ...input, side: 'invitee', userId: 'bob' } },
    ]);
  });

  it('a completion that occurred 1 ms after the deadline is TASK_LATE; the deadline timer then expires the application', () => {
    const s = established();
    clock.now = DEADLINE + 1;
    expect(rejectionOf(s, { type: 'TaskCompleted', occurredAt: DEADLINE + 1, eventId: 'ev1' }).code).toBe(ReferralRejection.TaskLate);
    const d = apply(s, { type: 'TaskDeadline' });
    expect(d.state).toMatchObject({ status: 'EXPIRED', finishedAt: DEADLINE + 1 });
  });

  it('a completion that occurred in time but arrives after the deadline (before the timer) counts (scenario 6)', () => {
    const s = established();
    clock.now = DEADLINE + 5 * 60_000;
    expect(apply(s, { type: 'TaskCompleted', occurredAt: DEADLINE - 60_000, eventId: 'ev1' }).state).toMatchObject({ status: 'TASK_COMPLETED', completedAt: DEADLINE - 60_000 });
  });

  it('the deadline timer expires an application with no completion, with no effects (scenario 5)', () => {
    const s = established();
    clock.now = DEADLINE - 1;
    expect(rejectionOf(s, { type: 'TaskDeadline' }).code).toBe(ReferralRejection.DeadlineNotReached);
    clock.now = DEADLINE;
    const d = apply(s, { type: 'TaskDeadline' });
    expect(d.state).toMatchObject({ status: 'EXPIRED', finishedAt: DEADLINE, taskDeadline: DEADLINE });
    expect(d.effects ?? []).toEqual([]);
  });

  it('with a grace period, expiry waits for it and an in-time completion arriving within it counts', () => {
    const s = established({ ...ACCEPT, settings: { ...SETTINGS, completionGraceMs: 10 * 60_000 } });
    clock.now = DEADLINE + 1;
    expect(rejectionOf(s, { type: 'TaskDeadline' }).code).toBe(ReferralRejection.DeadlineNotReached);
    clock.now = DEADLINE + 5 * 60_000;
    expect(apply(s, { type: 'TaskCompleted', occurredAt: DEADLINE, eventId: 'ev1' }).state.status).toBe('TASK_COMPLETED');
    clock.now = DEADLINE + 10 * 60_000;
    expect(apply(s, { type: 'TaskDeadline' }).state.status).toBe('EXPIRED');
  });

  it('a completion without eventId is identified by the delivery message id', () => {
    const d = apply(established(), { type: 'TaskCompleted', occurredAt: ESTABLISHED_AT }, 'event:ev42');
    expect(d.state).toMatchObject({ completionEventId: 'event:ev42' });
    expect(rejectionOf(d.state, { type: 'TaskCompleted', occurredAt: ESTABLISHED_AT }, 'event:ev42').code).toBe(ReferralRejection.DuplicateEvent);
  });

  it('a second completion is DUPLICATE_EVENT (same event) or ALREADY_COMPLETED (another event), also in manual intervention', () => {
    for (const s of [completed('ev1'), manualReward()]) {
      expect(rejectionOf(s, { type: 'TaskCompleted', occurredAt: ESTABLISHED_AT, eventId: 'ev1' }).code).toBe(ReferralRejection.DuplicateEvent);
      expect(rejectionOf(s, { type: 'TaskCompleted', occurredAt: ESTABLISHED_AT, eventId: 'ev2' }).code).toBe(ReferralRejection.AlreadyCompleted);
    }
  });

  it.each([
    ['NEW', fresh],
    ['INIT', () => accepted()],
    ['TASK_COMPLETED', () => completed()],
    ['MANUAL_INTERVENTION', () => manualReward()],
  ])('a TaskDeadline in %s changes nothing and says why', (_status, build) => {
    const s = build();
    clock.now = DEADLINE + HOUR;
    const d = apply(s, { type: 'TaskDeadline' });
    expect(d.state).toBe(s);
    expect(d.why).toMatch(/task deadline ignored/);
  });
});

describe('referral actor: rewards (activities 2 and 3, parallel and independent)', () => {
  it('each granted side is recorded and notified once; both granted → BOTH_REWARDED', () => {
    const first = apply(completed(), sharerOk('g-s'));
    expect(first.state).toMatchObject({ status: 'TASK_COMPLETED', sharer: { outcome: 'GRANTED', grantId: 'g-s', inFlight: false }, invitee: { outcome: 'PENDING' } });
    expect(first.effects).toEqual([
      { type: 'emit', stream: 'notifications', payload: { notificationId: 'app1:rewarded:sharer', kind: 'REFERRAL_REWARDED', applicationId: ID, activityId: 'act1', side: 'sharer', userId: 'alice', grantId: 'g-s' } },
    ]);
    clock.now += 500;
    const second = apply(first.state, inviteeOk('g-i'));
    expect(second.state).toMatchObject({ status: 'BOTH_REWARDED', finishedAt: clock.now, invitee: { outcome: 'GRANTED', grantId: 'g-i' } });
    expect(second.effects).toEqual([
      { type: 'emit', stream: 'notifications', payload: { notificationId: 'app1:rewarded:invitee', kind: 'REFERRAL_REWARDED', applicationId: ID, activityId: 'act1', side: 'invitee', userId: 'bob', grantId: 'g-i' } },
    ]);
    expect(second.why).toMatch(/both sides decided: BOTH_REWARDED/);
  });

  it.each([
    ['sharer first', true],
    ['invitee first', false],
  ])('the outcome follows the pair, whichever side answers first (%s)', (_order, sharerFirst) => {
    const pairs: Array<[ReferralMessage, ReferralMessage, string]> = [
      [sharerOk(), inviteeOk(), 'BOTH_REWARDED'],
      [sharerOk(), inviteeFail('AUDIENCE', false), 'SHARER_ONLY'],
      [sharerFail('FREQUENCY_CAP', false), inviteeOk(), 'INVITEE_ONLY'],
      [sharerFail('BUDGET_EXHAUSTED', false), inviteeFail('RISK_REJECTED', false), 'NEITHER'],
    ];
    for (const [sharer, invitee, outcome] of pairs) {
      const [a, b] = sharerFirst ? [sharer, invitee] : [invitee, sharer];
      expect(apply(apply(completed(), a).state, b).state.status).toBe(outcome);
    }
  });

  it('a refused side keeps its machine-readable reason; the other side\'s grant stands (scenario 8)', () => {
    const s = apply(apply(completed(), sharerFail('FREQUENCY_CAP', false)).state, inviteeOk()).state;
    expect(s).toMatchObject({ status: 'INVITEE_ONLY', sharer: { outcome: 'REJECTED', reason: 'FREQUENCY_CAP' }, invitee: { outcome: 'GRANTED', grantId: 'g-invitee' } });
  });

  it('both sides refused → NEITHER with no notification (scenario 9)', () => {
    const first = apply(completed(), sharerFail('ACTIVITY_PAUSED', false));
    const second = apply(first.state, inviteeFail('ACTIVITY_PAUSED', false));
    expect(second.state).toMatchObject({ status: 'NEITHER', sharer: { reason: 'ACTIVITY_PAUSED' }, invitee: { reason: 'ACTIVITY_PAUSED' } });
    expect([...(first.effects ?? []), ...(second.effects ?? [])]).toEqual([]);
  });

  it('a transient failure leaves only that side pending with a retry round; Retry re-calls only it, same key (scenario 11)', () => {
    const failed = apply(completed(), sharerFail('CALL_TIMEOUT', true));
    const at = ESTABLISHED_AT + HOUR + SETTINGS.backoffBaseMs;
    expect(failed.state).toMatchObject({ status: 'TASK_COMPLETED', retryCount: 1, scheduleTime: at, sharer: { outcome: 'PENDING', inFlight: false, lastError: 'CALL_TIMEOUT', attempts: 1 } });
    expect(failed.effects).toEqual([{ type: 'timer', key: 'retry', at, message: { type: 'Retry' } }]);

    const other = apply(failed.state, inviteeOk());
    expect(other.state.status).toBe('TASK_COMPLETED');
    clock.now = at;
    const retried = apply(other.state, { type: 'Retry' });
    expect(retried.state).toMatchObject({ scheduleTime: null, sharer: { attempts: 2, inFlight: true }, invitee: { attempts: 1, outcome: 'GRANTED' } });
    expect(retried.effects).toEqual([expect.objectContaining({ type: 'call', key: 'app1:sharer', component: 'activity.apply', reply: 'SharerRewardResult' })]);
    expect(apply(retried.state, sharerOk()).state.status).toBe('BOTH_REWARDED');
  });

  it('two transient failures in one round share that round; the retry re-calls both', () => {
    const a = apply(completed(), sharerFail('HANDLER_FAILED', true)).state;
    const b = apply(a, inviteeFail('HANDLER_FAILED', true));
    expect(b.state).toMatchObject({ retryCount: 1, scheduleTime: (a as { scheduleTime: number }).scheduleTime });
    expect(b.effects ?? []).toEqual([]);
    expect(b.why).toMatch(/joins the pending retry round/);
    clock.now = (a as { scheduleTime: number }).scheduleTime;
    const keys = (apply(b.state, { type: 'Retry' }).effects ?? []).map((e) => (e.type === 'call' ? e.key : e.type));
    expect(keys).toEqual(['app1:sharer', 'app1:invitee']);
  });

  it('the retry round never re-calls a side still waiting for its reply', () => {
    const failed = apply(completed(), sharerFail('HANDLER_FAILED', true)).state;
    clock.now = (failed as { scheduleTime: number }).scheduleTime;
    const retried = apply(failed, { type: 'Retry' });
    expect((retried.effects ?? []).map((e) => (e.type === 'call' ? e.key : e.type))).toEqual(['app1:sharer']);
    expect(retried.state).toMatchObject({ invitee: { attempts: 1, inFlight: true } });
  });

  it('backoff doubles per round and stops at the cap', () => {
    let s = established({ ...ACCEPT, settings: { ...SETTINGS, maxRetries: 5 } });
    s = apply(s, { type: 'TaskCompleted', occurredAt: clock.now, eventId: 'ev1' }).state;
    s = apply(s, inviteeOk()).state;
    const delays: number[] = [];
    for (let round = 1; round <= 5; round++) {
      s = apply(s, sharerFail('HANDLER_FAILED', true)).state;
      const at = (s as { scheduleTime: number }).scheduleTime;
      delays.push(at - clock.now);
      clock.now = at;
      s = apply(s, { type: 'Retry' }).state;
    }
    expect(delays).toEqual([1_000, 2_000, 4_000, 5_000, 5_000]);
  });

  it('a deciding reply while a round is pending cancels its timer when the application finishes', () => {
    const s = apply(apply(completed(), inviteeOk()).state, sharerFail('HANDLER_FAILED', true)).state;
    const d = apply(s, sharerOk());
    expect(d.state).toMatchObject({ status: 'BOTH_REWARDED', scheduleTime: null });
    expect(d.effects).toContainEqual({ type: 'cancelTimer', key: 'retry' });
  });

  it('past maxRetries → MANUAL_INTERVENTION; a grant arriving meanwhile stands; RetryFromOps re-calls only the undecided side (scenario 12)', () => {
    const manual = manualReward();
    expect(manual).toMatchObject({ status: 'MANUAL_INTERVENTION', stage: 'REWARD', retryCount: 3, scheduleTime: null, manual: { reason: 'MAX_RETRIES', detail: expect.stringContaining('DOWNSTREAM_DOWN') }, sharer: { outcome: 'PENDING', attempts: 4, inFlight: false } });

    const granted = apply(manual, inviteeOk());
    expect(granted.state).toMatchObject({ status: 'MANUAL_INTERVENTION', invitee: { outcome: 'GRANTED' } });
    expect(granted.effects).toEqual([expect.objectContaining({ type: 'emit', payload: expect.objectContaining({ side: 'invitee' }) })]);
    const stillDown = apply(granted.state, sharerFail('DOWNSTREAM_DOWN', true));
    expect(stillDown.state).toMatchObject({ status: 'MANUAL_INTERVENTION', scheduleTime: null });
    expect(stillDown.effects ?? []).toEqual([]);

    const resumed = apply(granted.state, { type: 'RetryFromOps' });
    expect(resumed.state).toMatchObject({ status: 'TASK_COMPLETED', retryCount: 0, scheduleTime: null, sharer: { attempts: 5, inFlight: true }, invitee: { outcome: 'GRANTED', attempts: 1 } });
    expect(resumed.state).not.toHaveProperty('manual');
    expect(resumed.effects).toEqual([expect.objectContaining({ type: 'call', key: 'app1:sharer' })]);
    expect(apply(resumed.state, sharerOk()).state.status).toBe('BOTH_REWARDED');
  });

  it('RetryFromOps while the other side is still in flight re-calls only the stuck side', () => {
    const resumed = apply(manualReward(), { type: 'RetryFromOps' });
    expect((resumed.effects ?? []).map((e) => (e.type === 'call' ? e.key : e.type))).toEqual(['app1:sharer']);
  });

  it('a runtime failure on one side goes to manual intervention at once, cancelling a pending round', () => {
    const pending = apply(completed(), inviteeFail('HANDLER_FAILED', true)).state;
    const d = apply(pending, sharerFail('CALL_FAILED', false));
    expect(d.state).toMatchObject({ status: 'MANUAL_INTERVENTION', stage: 'REWARD', scheduleTime: null, manual: { reason: 'CALL_FAILED' }, sharer: { outcome: 'PENDING' } });
    expect(d.effects).toEqual([{ type: 'cancelTimer', key: 'retry' }]);
  });

  it('a reply for an already decided side is ignored, even if it disagrees', () => {
    const s = apply(completed(), sharerOk()).state;
    const dup = apply(s, sharerFail('FREQUENCY_CAP', false));
    expect(dup.state).toBe(s);
    expect(dup.effects ?? []).toEqual([]);
    expect(dup.why).toMatch(/duplicate sharer reply ignored: the side is already GRANTED/);
  });

  it('reward replies: wrong key, before completion, and after expiry', () => {
    expect(rejectionOf(completed(), ok('SharerRewardResult', 'app1:invitee')).code).toBe(ReferralRejection.KeyMismatch);
    expect(rejectionOf(established(), sharerOk()).code).toBe(ReferralRejection.UnexpectedReply);
    expect(rejectionOf(accepted(), inviteeOk()).code).toBe(ReferralRejection.UnexpectedReply);
    expect(rejectionOf(terminalPaths[1][1](), inviteeOk()).code).toBe(ReferralRejection.AlreadyTerminal);
  });

  it.each([
    ['NEW', fresh],
    ['INIT', () => accepted()],
    ['RELATION_ESTABLISHED', () => established()],
    ['TASK_COMPLETED', () => completed()],
  ])('RetryFromOps in %s is NOT_IN_MANUAL_INTERVENTION', (_status, build) => {
    expect(rejectionOf(build(), { type: 'RetryFromOps' }).code).toBe(ReferralRejection.NotInManualIntervention);
  });

  it.each([
    ['NEW', fresh],
    ['RELATION_ESTABLISHED', () => established()],
    ['MANUAL_INTERVENTION', () => manualReward()],
    ['TASK_COMPLETED with no round pending', () => completed()],
  ])('a Retry timer in %s changes nothing and says why', (_status, build) => {
    const s = build();
    const d = apply(s, { type: 'Retry' });
    expect(d.state).toBe(s);
    expect(d.why).toMatch(/retry ignored/);
  });
});

describe('referral actor: terminating from ops (TerminateFromOps)', () => {
  it('in the relation step: TERMINATED, the relation REJECTED with TERMINATED_BY_OPS, operator and reason recorded, no call', () => {
    const manual = manualRelation();
    clock.now += 60_000;
    const d = apply(manual, TERMINATE);
    expect(d.state).toMatchObject({
      status: 'TERMINATED',
      finishedAt: clock.now,
      scheduleTime: null,
      relation: { outcome: 'REJECTED', reason: 'TERMINATED_BY_OPS', inFlight: false, lastError: 'DOWNSTREAM_DOWN' },
      terminated: { operator: 'ops-ann', reason: 'downstream retired the campaign', at: clock.now, stage: 'RELATION', manual: { reason: 'MAX_RETRIES' } },
    });
    expect(d.state).not.toHaveProperty('manual');
    expect(d.state).not.toHaveProperty('stage');
    expect(d.effects ?? []).toEqual([]);
    expect(d.why).toMatch(/terminated from ops by ops-ann after MAX_RETRIES .*relation is REJECTED \(TERMINATED_BY_OPS\)/);
    expect(isTerminal(d.state)).toBe(true);
  });

  it('in the reward step: the undecided side is REJECTED with TERMINATED_BY_OPS, the granted side stands, nothing is called or notified', () => {
    const granted = apply(manualReward(), inviteeOk('g-i')).state;
    const d = apply(granted, { type: 'TerminateFromOps', operator: 'ops-bo' });
    expect(d.state).toMatchObject({
      status: 'TERMINATED',
      sharer: { outcome: 'REJECTED', reason: 'TERMINATED_BY_OPS', attempts: 4, lastError: 'DOWNSTREAM_DOWN' },
      invitee: { outcome: 'GRANTED', grantId: 'g-i' },
      terminated: { operator: 'ops-bo', reason: 'terminated from ops', stage: 'REWARD', manual: { reason: 'MAX_RETRIES' } },
    });
    expect(d.effects ?? []).toEqual([]);
    expect(d.why).toMatch(/sharer REJECTED \(TERMINATED_BY_OPS\); invitee GRANTED stands/);
  });

  it('both sides undecided: both are REJECTED with TERMINATED_BY_OPS', () => {
    const stuck = apply(apply(completed(), sharerFail('CALL_FAILED', false)).state, inviteeFail('CALL_FAILED', false)).state;
    expect(stuck).toMatchObject({ status: 'MANUAL_INTERVENTION', sharer: { inFlight: false }, invitee: { inFlight: false } });
    const d = apply(stuck, TERMINATE);
    expect(d.state).toMatchObject({ status: 'TERMINATED', sharer: { outcome: 'REJECTED', reason: 'TERMINATED_BY_OPS' }, invitee: { outcome: 'REJECTED', reason: 'TERMINATED_BY_OPS' } });
  });

  it('is refused with CALL_IN_FLIGHT while a reward call may still grant; allowed once its reply is in', () => {
    const manual = manualReward(); // the invitee's call is still in flight
    const refused = rejectionOf(manual, TERMINATE);
    expect(refused.code).toBe(ReferralRejection.CallInFlight);
    expect(refused.reason).toMatch(/invitee reward call is still in flight/);
    const answered = apply(manual, inviteeFail('CALL_TIMEOUT', true)).state;
    expect(apply(answered, TERMINATE).state).toMatchObject({ status: 'TERMINATED', invitee: { outcome: 'REJECTED', reason: 'TERMINATED_BY_OPS' } });
  });

  it.each([
    ['NEW', fresh],
    ['INIT', () => accepted()],
    ['RELATION_ESTABLISHED', () => established()],
    ['TASK_COMPLETED', () => completed()],
  ])('in %s it is NOT_IN_MANUAL_INTERVENTION', (_status, build) => {
    expect(rejectionOf(build(), TERMINATE).code).toBe(ReferralRejection.NotInManualIntervention);
  });

  it('a terminated application refuses a second terminate and a retry from ops, and ignores late replies', () => {
    const s = apply(apply(manualReward(), inviteeOk()).state, TERMINATE).state;
    expect(rejectionOf(s, TERMINATE).code).toBe(ReferralRejection.AlreadyTerminal);
    expect(rejectionOf(s, { type: 'RetryFromOps', operator: 'ops-ann' }).code).toBe(ReferralRejection.AlreadyTerminal);
    const late = apply(s, sharerOk('g-late'));
    expect(late.state).toBe(s);
    expect(late.effects ?? []).toEqual([]);
  });
});

describe('referral actor: terminal states never reopen', () => {
  it.each(terminalPaths)('%s refuses Accept, TaskCompleted, RetryFromOps and TerminateFromOps with ALREADY_TERMINAL', (status, build) => {
    const s = build();
    expect(s.status).toBe(status);
    expect(isTerminal(s)).toBe(true);
    clock.now = DEADLINE + HOUR;
    for (const m of [ACCEPT, { type: 'TaskCompleted', occurredAt: ESTABLISHED_AT, eventId: 'ev-late' }, { type: 'RetryFromOps' }, TERMINATE] as ReferralMessage[]) {
      expect(rejectionOf(s, m).code).toBe(ReferralRejection.AlreadyTerminal);
    }
  });

  it.each(terminalPaths)('%s ignores timers and replies without changing', (_status, build) => {
    const s = build();
    clock.now = DEADLINE + HOUR;
    for (const m of [{ type: 'TaskDeadline' }, { type: 'Retry' }, relationOk()] as ReferralMessage[]) {
      expect(apply(s, m).state).toBe(s);
    }
    for (const m of [sharerOk('g-other'), inviteeOk('g-other')]) {
      const d = decide(s, m);
      if (isRejection(d)) expect(d.rejected.code).toBe(ReferralRejection.AlreadyTerminal);
      else expect(d.state).toBe(s);
    }
  });

  it('property: any message sequence gives a why-carrying transition or a typed rejection; terminal states and decided sides never change', () => {
    const known = new Set<string>(Object.values(ReferralRejection));
    const message = fc.oneof(
      fc.constant<ReferralMessage>(ACCEPT),
      fc.constant<ReferralMessage>({ ...ACCEPT, inviteeId: 'alice' }),
      fc.constantFrom<ReferralMessage>({ type: 'TaskDeadline' }, { type: 'Retry' }, { type: 'RetryFromOps' }, TERMINATE),
      fc.record({ type: fc.constant('TaskCompleted' as const), occurredAt: fc.integer({ min: T0, max: DEADLINE + 2 * HOUR }), eventId: fc.constantFrom('ev1', 'ev2') }),
      fc.constantFrom<ReferralMessage>(
        relationOk(),
        fail('RelationResult', `${ID}:relation`, 'HANDLER_FAILED', true),
        fail('RelationResult', `${ID}:relation`, 'AUDIENCE', false),
        sharerOk(),
        sharerFail('HANDLER_FAILED', true),
        sharerFail('FREQUENCY_CAP', false),
        inviteeOk(),
        inviteeFail('CALL_TIMEOUT', true),
        inviteeFail('AUDIENCE', false),
        sharerFail('CALL_FAILED', false),
      ),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(message, fc.integer({ min: 0, max: 24 * HOUR })), { maxLength: 40 }), (steps) => {
        let state = fresh();
        let now = T0;
        for (const [m, dt] of steps) {
          now += dt;
          const d = referralActor.decide(state, m, { now, self: { type: 'referral', id: ID }, messageId: 'p' });
          if (isRejection(d)) {
            expect(known.has(d.rejected.code)).toBe(true);
            expect(d.rejected.reason.length).toBeGreaterThan(0);
            continue;
          }
          expect(d.why?.length).toBeGreaterThan(0);
          if (isTerminal(state)) expect(d.state).toBe(state);
          for (const side of ['sharer', 'invitee'] as const) {
            const before = 'sharer' in state ? state[side] : undefined;
            if (before && before.outcome !== 'PENDING') expect('sharer' in d.state && d.state[side]).toEqual(before);
          }
          expect(TERMINAL_STATUSES.has(d.state.status) || !('finishedAt' in d.state)).toBe(true);
          state = d.state;
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('parseReferralMessage', () => {
  it.each<[unknown]>([
    [{ type: 'Accept', activityId: 'a', sharerId: 's', inviteeId: 'i' }],
    [{ type: 'Accept', activityId: 'a', sharerId: 's', inviteeId: 'i', device: 'd', ip: '1.2.3.4', settings: { taskDeadlineHours: 0.5, completionGraceMs: 0 } }],
    [{ type: 'TaskCompleted', occurredAt: 5, eventId: 'e' }],
    [{ type: 'TaskCompleted', occurredAt: 5 }],
    [{ type: 'TaskDeadline' }],
    [{ type: 'Retry' }],
    [{ type: 'RetryFromOps', operator: 'ops-1' }],
    [{ type: 'TerminateFromOps', operator: 'ops-1' }],
    [{ type: 'TerminateFromOps', operator: 'ops-1', reason: 'the customer withdrew; ticket #42' }],
    [{ type: 'RelationResult', key: 'app1:relation', ok: true, value: { x: 1 } }],
    [{ type: 'SharerRewardResult', key: 'app1:sharer', ok: false, error: { code: 'CALL_TIMEOUT', message: 'late', retryable: true } }],
  ])('accepts %j unchanged', (raw) => {
    expect(parseReferralMessage(raw)).toEqual(raw);
  });

  it('drops fields a message does not define', () => {
    expect(parseReferralMessage({ type: 'TaskCompleted', occurredAt: 5, applicationId: 'app1', extra: true })).toEqual({ type: 'TaskCompleted', occurredAt: 5 });
  });

  it.each<[string, unknown, RegExp]>([
    ['not an object', null, /must be an object/],
    ['an unknown type', { type: 'Explode' }, /unknown referral message type "Explode"/],
    ['a missing sharerId', { type: 'Accept', activityId: 'a', inviteeId: 'i' }, /Accept\.sharerId must be a non-empty string/],
    ['an empty inviteeId', { type: 'Accept', activityId: 'a', sharerId: 's', inviteeId: '' }, /Accept\.inviteeId must be a non-empty string/],
    ['an id with a brace', { type: 'Accept', activityId: 'a{1}', sharerId: 's', inviteeId: 'i' }, /Accept\.activityId must not contain/],
    ['an id with a control character', { type: 'Accept', activityId: 'a', sharerId: 's\n', inviteeId: 'i' }, /Accept\.sharerId must not contain/],
    ['an id over 200 characters', { type: 'Accept', activityId: 'a', sharerId: 's'.repeat(201), inviteeId: 'i' }, /201 characters long; at most 200/],
    ['a numeric device', { type: 'Accept', activityId: 'a', sharerId: 's', inviteeId: 'i', device: 7 }, /Accept\.device/],
    ['settings that are not an object', { type: 'Accept', activityId: 'a', sharerId: 's', inviteeId: 'i', settings: 3 }, /settings must be an object/],
    ['a misspelt setting', { type: 'Accept', activityId: 'a', sharerId: 's', inviteeId: 'i', settings: { maxRetry: 3 } }, /unknown fields: maxRetry/],
    ['a zero deadline', { type: 'Accept', activityId: 'a', sharerId: 's', inviteeId: 'i', settings: { taskDeadlineHours: 0 } }, /taskDeadlineHours/],
    ['a fractional maxRetries', { type: 'Accept', activityId: 'a', sharerId: 's', inviteeId: 'i', settings: { maxRetries: 1.5 } }, /maxRetries must be an integer/],
    ['a base above the cap', { type: 'Accept', activityId: 'a', sharerId: 's', inviteeId: 'i', settings: { backoffBaseMs: 10, backoffCapMs: 5 } }, /must not exceed/],
    ['a string occurredAt', { type: 'TaskCompleted', occurredAt: '5', eventId: 'e' }, /occurredAt must be a time/],
    ['a negative occurredAt', { type: 'TaskCompleted', occurredAt: -1, eventId: 'e' }, /occurredAt must be a time/],
    ['a fractional occurredAt', { type: 'TaskCompleted', occurredAt: 1.5, eventId: 'e' }, /occurredAt must be a time/],
    ['an empty eventId', { type: 'TaskCompleted', occurredAt: 1, eventId: '' }, /TaskCompleted\.eventId must be a non-empty string/],
    ['a reply without key', { type: 'RelationResult', ok: true, value: 1 }, /RelationResult\.key must be a non-empty string/],
    ['a reply without ok', { type: 'SharerRewardResult', key: 'k' }, /ok must be true or false/],
    ['a failed reply without error', { type: 'InviteeRewardResult', key: 'k', ok: false }, /needs error \{ code/],
    ['a failed reply without retryable', { type: 'InviteeRewardResult', key: 'k', ok: false, error: { code: 'X', message: 'm' } }, /retryable: boolean/],
    ['an operator with a brace', { type: 'RetryFromOps', operator: '}' }, /RetryFromOps\.operator must not contain/],
    ['a terminate without operator', { type: 'TerminateFromOps', reason: 'x' }, /TerminateFromOps\.operator must be a non-empty string/],
    ['an empty terminate reason', { type: 'TerminateFromOps', operator: 'o', reason: '' }, /TerminateFromOps\.reason must be a string of 1 to 500/],
    ['a terminate reason over 500 characters', { type: 'TerminateFromOps', operator: 'o', reason: 'r'.repeat(501) }, /TerminateFromOps\.reason must be a string of 1 to 500/],
    ['a terminate reason with a newline', { type: 'TerminateFromOps', operator: 'o', reason: 'a\nb' }, /TerminateFromOps\.reason must not contain control characters/],
  ])('refuses %s with a clear reason', (_what, raw, reason) => {
    expect(() => parseReferralMessage(raw)).toThrow(reason);
  });
});
