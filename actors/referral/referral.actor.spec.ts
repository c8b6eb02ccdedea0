import fc from 'fast-check';
import { isRejection } from '../../common/actor';
import { isTerminal, referralActor } from './referral.actor';
import { apply, clock, DEADLINE, decide, ESTABLISHED_AT, fail, fresh, HOUR, ID, inviteeFail, inviteeOk, ok, referralFixtures, rejectionOf, relationOk, resetClock, SETTINGS, sharerFail, sharerOk, T0, TERMINATE } from './referral.harness';
import { DEFAULT_REFERRAL_SETTINGS, ReferralMessage, ReferralRejection, TERMINAL_STATUSES } from './referral.types';

beforeEach(resetClock);
const { ACCEPT, accepted, completed, established, manualReward, terminalPaths } = referralFixtures();

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
