import { Decision, Effect, isRejection, Transition } from '../../common/actor';
import { taskActor } from '../task/task.actor';
import { taskDefinitionSchema, termsOf } from '../task/task.definition';
import { parseTaskMessage } from '../task/task.parse';
import type { ClaimMessage, TaskMessage, TaskState } from '../task/task.types';
import { referralActor } from './referral.actor';
import { parseReferralMessage } from './referral.parse';
import { presetTaskPeriod } from './referral.steps';
import type { ReferralMessage, ReferralState } from './referral.types';

// The referral's preset task as a real user task: the two pure actors exchange the messages the runtime would
// carry (referral → task Claim, task → referral TaskCompleted), each checked by the other's parser.

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 10, 21, 8);
const APP = 'act1:bob';
const COUPON_TASK = taskDefinitionSchema.parse({ id: 'use-coupon', merchantId: 'm1', name: 'Use the welcome coupon', type: 'one-shot', events: ['coupon.used'] });
const ACCEPT: ReferralMessage = {
  type: 'Accept',
  activityId: 'act1',
  sharerId: 'alice',
  inviteeId: 'bob',
  settings: { taskDeadlineHours: 72, maxRetries: 3, backoffBaseMs: 1_000, backoffCapMs: 5_000, completionGraceMs: 0 },
  presetTask: termsOf(COUPON_TASK, 4),
};

let seq = 0;
function step<S, M extends { type: string }>(decide: (s: S, m: M, c: { now: number; self: { type: string; id: string }; messageId: string }) => Decision<S, M>, type: string, id: string, state: S, message: M, now: number): Transition<S, M> {
  const d = decide(state, message, { now, self: { type, id }, messageId: `m${++seq}` });
  if (isRejection(d)) throw new Error(`${type} refused ${message.type}: ${d.rejected.code} ${d.rejected.reason}`);
  return d;
}
const referral = (s: ReferralState, m: ReferralMessage, now: number) => step(referralActor.decide, 'referral', APP, s, m, now);
const sendsOf = (effects: Effect[] = []) => effects.filter((e): e is Extract<Effect, { type: 'send' }> => e.type === 'send');

function established(accept: ReferralMessage = ACCEPT): { state: ReferralState; effects: Effect[] } {
  const accepted = referral(referralActor.initial(APP), parseReferralMessage(accept), T0).state;
  const d = referral(accepted, { type: 'RelationResult', key: `${APP}:relation`, ok: true, value: {} }, T0 + 1_000);
  return { state: d.state, effects: d.effects ?? [] };
}

describe('referral preset task through a user task', () => {
  it('claims the preset task for the invitee with the application deadline and itself as origin', () => {
    const { state, effects } = established();
    expect(state.status).toBe('RELATION_ESTABLISHED');
    const [send] = sendsOf(effects);
    const period = presetTaskPeriod(APP);
    expect(send.to).toEqual({ type: 'task', id: `bob:use-coupon:${period}` });
    expect(period).not.toContain(':');
    const claim = parseTaskMessage(send.message) as ClaimMessage;
    expect(claim).toMatchObject({ type: 'Claim', userId: 'bob', period, claimedAt: T0 + 1_000, deadline: T0 + 1_000 + 72 * HOUR, origin: { type: 'referral', id: APP } });
    expect(claim.terms).toEqual(termsOf(COUPON_TASK, 4));
  });

  it('claims nothing when the activity has no preset task (upstream reports TaskCompleted itself)', () => {
    const { presetTask: _none, ...plain } = ACCEPT as Extract<ReferralMessage, { type: 'Accept' }>;
    expect(sendsOf(established(plain).effects)).toEqual([]);
  });

  it('the task completing reports TaskCompleted once, and the referral moves on to its rewards', () => {
    const { state: app, effects } = established();
    const send = sendsOf(effects)[0];
    const taskId = (send.to as { id: string }).id;
    const task = (s: TaskState, m: TaskMessage, now: number) => step(taskActor.decide, 'task', taskId, s, m, now);
    let t = task(taskActor.initial(taskId), parseTaskMessage(send.message), T0 + 1_000).state;
    const used = T0 + 5 * HOUR;
    const progress: TaskMessage = { type: 'Progress', eventId: 'coupon-1', event: 'coupon.used', occurredAt: used, amount: 1 };
    const done = task(t, progress, used + 50);
    t = done.state;
    expect(t.status === 'COMPLETED' || t.status === 'REWARDED').toBe(true);
    const back = sendsOf(done.effects).filter((e) => (e.to as { type: string }).type === 'referral');
    expect(back).toHaveLength(1);
    expect(back[0].to).toEqual({ type: 'referral', id: APP });
    // The same receipt again counts once and reports nothing more.
    const again = taskActor.decide(t, progress, { now: used + 60, self: { type: 'task', id: taskId }, messageId: 'dup' });
    expect(isRejection(again) || sendsOf(again.effects).length === 0).toBe(true);

    const completed = referral(app, parseReferralMessage(back[0].message), used + 100);
    expect(completed.state.status).toBe('TASK_COMPLETED');
    expect((completed.state as { completedAt?: number }).completedAt).toBe(used);
  });

  it('refuses a malformed preset task in Accept with the field named', () => {
    expect(() => parseReferralMessage({ ...ACCEPT, presetTask: { ...termsOf(COUPON_TASK, 1), stages: [] } })).toThrow(/stages/);
  });
});
