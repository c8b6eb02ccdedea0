import { referralActor } from './referral.actor';
import { explainReferral } from './referral.explain';
import {
  apply as applyTransition,
  clock,
  DEADLINE,
  ESTABLISHED_AT,
  HOUR,
  ID,
  inviteeFail,
  inviteeOk,
  referralFixtures,
  relationFail,
  resetClock,
  SETTINGS as BASE_SETTINGS,
  sharerFail,
  sharerOk,
  T0,
} from './referral.harness';
import { ReferralMessage, ReferralSettings, ReferralState } from './referral.types';

/** Two retry rounds: the MAX_RETRIES details below say "(max 2)". */
const SETTINGS: ReferralSettings = { ...BASE_SETTINGS, maxRetries: 2 };
const iso = (ms: number) => new Date(ms).toISOString();

beforeEach(resetClock);
const apply = (state: ReferralState, message: ReferralMessage): ReferralState => applyTransition(state, message).state;
const { ACCEPT, accepted, completed, established, manualReward, manualRelation } = referralFixtures(SETTINGS);
const TERMINATE: ReferralMessage = { type: 'TerminateFromOps', operator: 'ops-ann', reason: 'duplicate account' };

describe('explainReferral: why an application is not rewarded, oldest step first', () => {
  it('is the referral definition’s explain', () => {
    expect(referralActor.explain).toBe(explainReferral);
  });

  it('BOTH_REWARDED has nothing missing: no reasons', () => {
    expect(explainReferral(apply(apply(completed(), sharerOk()), inviteeOk()))).toEqual([]);
  });

  it('an application never accepted says so', () => {
    expect(explainReferral(referralActor.initial(ID))).toEqual([{ code: 'NOT_ACCEPTED', detail: expect.stringContaining('never accepted') }]);
  });

  it('a self-referral is the relation refused with SELF_REFERRAL, when it was refused', () => {
    const s = apply(referralActor.initial(ID), { ...ACCEPT, inviteeId: 'alice' });
    expect(explainReferral(s)).toEqual([{ code: 'SELF_REFERRAL', detail: expect.stringMatching(/^relation refused by the activity: SELF_REFERRAL \(0 attempts\)/), at: T0 }]);
  });

  it('a relation refused by the activity gives the component’s code and the attempts', () => {
    const s = accepted();
    clock.now = T0 + 500;
    expect(explainReferral(apply(s, relationFail('ALREADY_REFERRED', false)))).toEqual([
      { code: 'ALREADY_REFERRED', detail: expect.stringContaining('relation refused by the activity: ALREADY_REFERRED (1 attempt)'), at: T0 + 500 },
    ]);
  });

  it('a relation still being recorded: in flight, then its last error and the pending retry round', () => {
    expect(explainReferral(accepted())).toEqual([{ code: 'RELATION_PENDING', detail: 'relation not recorded yet: the call is in flight (1 attempt)' }]);
    const failed = apply(accepted(), relationFail('DOWNSTREAM_DOWN', true));
    expect(explainReferral(failed)).toEqual([
      { code: 'DOWNSTREAM_DOWN', detail: `relation not recorded yet: no call is in flight (1 attempt, last error DOWNSTREAM_DOWN); retry round 1 at ${iso(T0 + 1_000)}` },
    ]);
  });

  it('a running task says until when it counts; an expired one names the deadline and when it expired', () => {
    expect(explainReferral(established())).toEqual([{ code: 'TASK_NOT_COMPLETED', detail: `waiting for the invitee's task: it counts if it occurs by ${iso(DEADLINE)}` }]);
    const s = established();
    clock.now = DEADLINE + 5;
    expect(explainReferral(apply(s, { type: 'TaskDeadline' }))).toEqual([
      { code: 'TASK_EXPIRED', detail: `the invitee's task did not occur by the deadline ${iso(DEADLINE)}; expired at ${iso(DEADLINE + 5)} without rewards`, at: DEADLINE + 5 },
    ]);
  });

  it('INVITEE_ONLY: only the sharer side, with its code and attempts', () => {
    const s = apply(apply(completed(), sharerFail('FREQUENCY_CAP', false)), inviteeOk());
    expect(s.status).toBe('INVITEE_ONLY');
    expect(explainReferral(s)).toEqual([{ code: 'FREQUENCY_CAP', detail: 'sharer reward not granted: refused by the activity with FREQUENCY_CAP (1 attempt)' }]);
  });

  it('NEITHER: both sides, sharer first', () => {
    const s = apply(apply(completed(), sharerFail('ACTIVITY_PAUSED', false)), inviteeFail('BUDGET_EXHAUSTED', false));
    expect(explainReferral(s).map((r) => [r.code, r.detail.split(':')[0]])).toEqual([
      ['ACTIVITY_PAUSED', 'sharer reward not granted'],
      ['BUDGET_EXHAUSTED', 'invitee reward not granted'],
    ]);
  });

  it('rewards being applied: each undecided side, with its last error while a retry round is pending', () => {
    expect(explainReferral(completed()).map((r) => r.code)).toEqual(['REWARD_PENDING', 'REWARD_PENDING']);
    const s = apply(apply(completed(), sharerFail('DOWNSTREAM_DOWN', true)), inviteeOk());
    expect(explainReferral(s)).toEqual([
      { code: 'DOWNSTREAM_DOWN', detail: `sharer reward not granted yet: no call is in flight (1 attempt, last error DOWNSTREAM_DOWN); retry round 1 at ${iso(ESTABLISHED_AT + HOUR + 1_000)}` },
    ]);
  });

  it('manual intervention in the reward step: each side’s state, then the manual reason and detail since when', () => {
    const s = manualReward();
    expect(s.status).toBe('MANUAL_INTERVENTION');
    expect(explainReferral(s)).toEqual([
      { code: 'DOWNSTREAM_DOWN', detail: 'sharer reward not granted yet: no call is in flight (3 attempts, last error DOWNSTREAM_DOWN)' },
      { code: 'REWARD_PENDING', detail: 'invitee reward not granted yet: the call is in flight (1 attempt)' },
      { code: 'MAX_RETRIES', detail: expect.stringMatching(/^waiting for a person in the reward step: 2 retry rounds used \(max 2\); last error DOWNSTREAM_DOWN/), at: clock.now },
    ]);
  });

  it('terminated from ops in the reward step: the side closed, why it was stuck, and who terminated it and why', () => {
    const stuck = apply(manualReward(), inviteeOk());
    const since = clock.now;
    clock.now += 60_000;
    const s = apply(stuck, TERMINATE);
    expect(s.status).toBe('TERMINATED');
    expect(explainReferral(s)).toEqual([
      { code: 'TERMINATED_BY_OPS', detail: 'sharer reward not granted: closed when ops terminated the application (3 attempts, last error DOWNSTREAM_DOWN)' },
      { code: 'MAX_RETRIES', detail: expect.stringContaining('waiting for a person in the reward step'), at: since },
      { code: 'TERMINATED_BY_OPS', detail: 'terminated from ops by ops-ann: duplicate account', at: since + 60_000 },
    ]);
  });

  it('terminated from ops in the relation step: the relation closed, then manual intervention and the termination', () => {
    const stuck = manualRelation();
    expect(explainReferral(stuck).map((r) => r.code)).toEqual(['DOWNSTREAM_DOWN', 'MAX_RETRIES']);
    const s = apply(stuck, TERMINATE);
    expect(explainReferral(s)).toEqual([
      { code: 'TERMINATED_BY_OPS', detail: 'relation not recorded: closed when ops terminated the application (3 attempts, last error DOWNSTREAM_DOWN)' },
      { code: 'MAX_RETRIES', detail: expect.stringContaining('waiting for a person in the relation step'), at: clock.now },
      { code: 'TERMINATED_BY_OPS', detail: 'terminated from ops by ops-ann: duplicate account', at: clock.now },
    ]);
  });

  it('every state but BOTH_REWARDED has at least one reason, each with a code and a sentence', () => {
    const states = [
      referralActor.initial(ID),
      accepted(),
      established(),
      completed(),
      manualReward(),
      manualRelation(),
      apply(apply(completed(), sharerOk()), inviteeFail('AUDIENCE', false)),
    ];
    for (const s of states) {
      const reasons = explainReferral(s);
      expect(reasons.length).toBeGreaterThan(0);
      for (const r of reasons) expect(r).toEqual(expect.objectContaining({ code: expect.stringMatching(/^[A-Z_]+$/), detail: expect.any(String) }));
    }
  });
});
