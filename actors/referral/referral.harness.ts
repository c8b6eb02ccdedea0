import { CallReply, Decision, isRejection, Transition, TurnContext } from '../../common/actor';
import { referralActor } from './referral.actor';
import { ReferralMessage, ReferralSettings, ReferralState } from './referral.types';

/**
 * Test harness of the referral actor specs (not a spec itself): a simulated clock, `decide` wrappers, call
 * replies, and states reached through real transitions. A spec calls `beforeEach(resetClock)`.
 */

export const ID = 'app1';
export const HOUR = 3_600_000;
export const T0 = 1_700_000_000_000;
/** The relation is recorded at T0 + 1 s, so the task deadline is 72 h later. */
export const ESTABLISHED_AT = T0 + 1_000;
export const DEADLINE = ESTABLISHED_AT + 72 * HOUR;
export const SETTINGS: ReferralSettings = { taskDeadlineHours: 72, maxRetries: 3, backoffBaseMs: 1_000, backoffCapMs: 5_000, completionGraceMs: 0 };
export const TERMINATE: ReferralMessage = { type: 'TerminateFromOps', operator: 'ops-ann', reason: 'downstream retired the campaign' };

/** A simulated clock: each decision happens at `clock.now`, which tests move forward explicitly. */
export const clock = { now: T0 };
let seq = 0;

export function resetClock(): void {
  clock.now = T0;
  seq = 0;
}

export function ctx(messageId = `m${++seq}`): TurnContext {
  return { now: clock.now, self: { type: 'referral', id: ID }, messageId };
}

export function decide(state: ReferralState, message: ReferralMessage, messageId?: string): Decision<ReferralState, ReferralMessage> {
  return referralActor.decide(state, message, ctx(messageId));
}

/** Applies a message that must be legal; fails the test with the rejection otherwise. */
export function apply(state: ReferralState, message: ReferralMessage, messageId?: string): Transition<ReferralState, ReferralMessage> {
  const d = decide(state, message, messageId);
  if (isRejection(d)) throw new Error(`unexpected rejection ${d.rejected.code}: ${d.rejected.reason}`);
  expect(d.why).toEqual(expect.any(String));
  return d;
}

export function rejectionOf(state: ReferralState, message: ReferralMessage, messageId?: string): { code: string; reason: string } {
  const d = decide(state, message, messageId);
  if (!isRejection(d)) throw new Error(`expected a rejection, got a transition to ${d.state.status} (${d.why})`);
  return d.rejected;
}

export const ok = <T extends string>(type: T, key: string, value: unknown = {}): CallReply<T> => ({ type, key, ok: true, value });
export const fail = <T extends string>(type: T, key: string, code: string, retryable: boolean): CallReply<T> => ({ type, key, ok: false, error: { code, message: `${code} happened`, retryable } });
export const relationOk = () => ok('RelationResult', `${ID}:relation`, { relationId: 'r1' });
export const relationFail = (code: string, retryable: boolean) => fail('RelationResult', `${ID}:relation`, code, retryable);
export const sharerOk = (grantId = 'g-sharer') => ok('SharerRewardResult', `${ID}:sharer`, { grantId });
export const inviteeOk = (grantId = 'g-invitee') => ok('InviteeRewardResult', `${ID}:invitee`, { grantId });
export const sharerFail = (code: string, retryable: boolean) => fail('SharerRewardResult', `${ID}:sharer`, code, retryable);
export const inviteeFail = (code: string, retryable: boolean) => fail('InviteeRewardResult', `${ID}:invitee`, code, retryable);

export const fresh = (): ReferralState => referralActor.initial(ID);

/** States reached through real transitions under `settings`, each at its own moment on the clock. */
export function referralFixtures(settings: ReferralSettings = SETTINGS) {
  const ACCEPT: ReferralMessage = { type: 'Accept', activityId: 'act1', sharerId: 'alice', inviteeId: 'bob', settings };
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
  /** The sharer side fails transiently past the retry budget, the invitee's call still in flight. */
  function manualReward(): ReferralState {
    let s = completed();
    for (let round = 1; round <= settings.maxRetries; round++) {
      s = apply(s, sharerFail('DOWNSTREAM_DOWN', true)).state;
      clock.now = (s as { scheduleTime: number }).scheduleTime;
      s = apply(s, { type: 'Retry' }).state;
    }
    return apply(s, sharerFail('DOWNSTREAM_DOWN', true)).state;
  }
  /** The relation step fails transiently past the retry budget. */
  function manualRelation(): ReferralState {
    let s = accepted();
    for (let round = 1; round <= settings.maxRetries; round++) {
      s = apply(s, relationFail('DOWNSTREAM_DOWN', true)).state;
      clock.now = (s as { scheduleTime: number }).scheduleTime;
      s = apply(s, { type: 'Retry' }).state;
    }
    return apply(s, relationFail('DOWNSTREAM_DOWN', true)).state;
  }
  /** One way into each terminal status. */
  const terminalPaths: Array<[string, () => ReferralState]> = [
    ['REJECTED', () => apply(accepted(), relationFail('ALREADY_REFERRED', false)).state],
    ['EXPIRED', () => { const s = established(); clock.now = DEADLINE; return apply(s, { type: 'TaskDeadline' }).state; }],
    ['BOTH_REWARDED', () => apply(apply(completed(), sharerOk()).state, inviteeOk()).state],
    ['SHARER_ONLY', () => apply(apply(completed(), sharerOk()).state, inviteeFail('AUDIENCE', false)).state],
    ['INVITEE_ONLY', () => apply(apply(completed(), sharerFail('FREQUENCY_CAP', false)).state, inviteeOk()).state],
    ['NEITHER', () => apply(apply(completed(), sharerFail('ACTIVITY_PAUSED', false)).state, inviteeFail('ACTIVITY_PAUSED', false)).state],
    ['TERMINATED', () => apply(apply(manualReward(), inviteeOk()).state, TERMINATE).state],
  ];
  return { ACCEPT, accepted, established, completed, manualReward, manualRelation, terminalPaths };
}
