import { isTerminal } from './referral.actor';
import { apply, clock, ESTABLISHED_AT, fresh, HOUR, ID, inviteeFail, inviteeOk, ok, referralFixtures, rejectionOf, resetClock, SETTINGS, sharerFail, sharerOk, TERMINATE } from './referral.harness';
import { ReferralMessage, ReferralRejection } from './referral.types';

beforeEach(resetClock);
const { ACCEPT, accepted, completed, established, manualReward, manualRelation, terminalPaths } = referralFixtures();

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
