import { isRejection } from '../../common/actor';
import { explainTask, isTaskTerminal, taskActor, taskView } from './task.actor';
import { claimed, claimOf, definition, event, HOUR, MINUTE, s0, Sim, T0, USER } from './task.harness';
import { EARLY_PROGRESS_KEPT, TaskMessage, TaskRejection } from './task.types';

describe('task actor: claiming', () => {
  it('Claim moves NEW to IN_PROGRESS with frozen terms, subscribes the task (no deadline: until null) and sets no timer', () => {
    const def = definition({ type: 'cumulative', target: 3, flow: 'f1' });
    const sim = new Sim('alice:def1:once');
    const d = sim.apply(claimOf(def));
    expect(d.state).toMatchObject({ status: 'IN_PROGRESS', userId: USER, period: 'once', deadline: null, progress: 0, claimedAt: T0, stages: [{ threshold: 3, flow: 'f1', status: 'LOCKED' }] });
    expect(d.effects).toEqual([
      { type: 'call', key: 'alice:def1:once#subscribe', component: 'task.subscribe', reply: 'SubscriptionResult', input: { userId: USER, taskId: 'alice:def1:once', events: ['order.paid'], until: null } },
    ]);
    expect(sim.rejection(claimOf(def)).code).toBe(TaskRejection.AlreadyClaimed);
  });

  it('a deadline task: deadline = claimedAt + withinMs, the Deadline timer 1 ms after it, the index keeps the entry until it', () => {
    const sim = claimed({ type: 'deadline', target: 1, withinMs: 72 * HOUR, flow: 'f1' });
    const deadline = T0 + 72 * HOUR;
    expect(sim.active.deadline).toBe(deadline);
    expect(sim.timers.get('deadline')).toEqual({ at: deadline + 1, message: { type: 'Deadline' } });
    expect(sim.callsTo(`${sim.id}#subscribe`)[0].input.until).toBe(deadline);
    expect(sim.active.subscribed).toBe(true);
  });

  it("the claim's own deadline (a referral's 72 h) overrides withinMs; a grace moves the timer, not the deadline", () => {
    const sim = claimed({ type: 'deadline', target: 1, withinMs: 72 * HOUR }, { deadline: T0 + HOUR, graceMs: 30_000 });
    expect(sim.active.deadline).toBe(T0 + HOUR);
    expect(sim.timers.get('deadline')?.at).toBe(T0 + HOUR + 30_000 + 1);
  });
});

describe('task actor: one-shot', () => {
  it('the first counted event completes it; the stage reward runs under <taskId>#s0; ok → REWARDED with one notification', () => {
    const sim = claimed({ type: 'one-shot', flow: 'welcome' });
    sim.now = T0 + MINUTE;
    const d = sim.apply(event(T0 + 30_000));
    expect(d.state).toMatchObject({ status: 'COMPLETED', progress: 1, completedAt: T0 + 30_000, stages: [{ status: 'EARNED', earnedAt: T0 + 30_000, attempts: 1, inFlight: true }] });
    expect(sim.callsTo(s0(sim))).toEqual([
      { key: s0(sim), component: 'task.reward', reply: 'RewardResult', input: { taskId: sim.id, userId: USER, merchantId: 'm1', taskDefId: 'def1', period: 'once', stage: 0, threshold: 1, flow: 'welcome' } },
    ]);
    expect(sim.pending.has(`${sim.id}#unsubscribe`)).toBe(true);
    const value = { flow: 'welcome', flowVersion: 3, steps: [{ index: 0, type: 'points', ref: 'g1' }] };
    sim.reply(s0(sim), 'ok', value);
    expect(sim.state).toMatchObject({ status: 'REWARDED', finishedAt: sim.now, stages: [{ status: 'GRANTED', outcome: value }] });
    expect(sim.emits).toEqual([
      {
        stream: 'notifications',
        payload: { notificationId: `${sim.id}:rewarded`, kind: 'TASK_REWARDED', userId: USER, taskId: sim.id, taskDefId: 'def1', merchantId: 'm1', period: 'once', rewards: [{ stage: 0, flow: 'welcome', flowVersion: 3, steps: value.steps }] },
      },
    ]);
    sim.subscriptionsOk();
    expect(sim.state).toMatchObject({ status: 'REWARDED', subscribed: false });
    expect(sim.emits).toHaveLength(1);
    expect(isTaskTerminal(sim.state)).toBe(true);
    expect(explainTask(sim.state)).toEqual([]);
    expect(sim.rejection(event(T0 + 2 * MINUTE)).code).toBe(TaskRejection.NotCounting);
    expect(sim.rejection({ type: 'Terminate', by: 'ops', operator: 'ann' }).code).toBe(TaskRejection.AlreadyTerminal);
  });

  it('a stage without a reward flow is GRANTED at once, with no call', () => {
    const sim = claimed({ type: 'one-shot' });
    sim.apply(event(T0));
    expect(sim.state).toMatchObject({ status: 'REWARDED', stages: [{ status: 'GRANTED' }] });
    expect(sim.calls.filter((c) => c.component === 'task.reward')).toEqual([]);
  });

  it('events the task does not count are refused EVENT_NOT_COUNTED', () => {
    const sim = claimed({ type: 'one-shot', flow: 'f' });
    const r = sim.rejection(event(T0, 1, { event: 'page.viewed' }));
    expect(r).toMatchObject({ code: TaskRejection.NotListening, reason: expect.stringContaining('page.viewed') });
  });
});

describe('task actor: cumulative', () => {
  it('count tasks count each event 1 whatever its amount; a duplicate event id is refused', () => {
    const sim = claimed({ type: 'cumulative', target: 3, flow: 'f' });
    const e1 = event(T0, 50);
    sim.apply(e1);
    expect(sim.active.progress).toBe(1);
    expect(sim.rejection({ ...e1 })).toMatchObject({ code: TaskRejection.DuplicateEvent });
    sim.apply(event(T0, 7));
    expect(sim.state).toMatchObject({ status: 'IN_PROGRESS', progress: 2 });
    sim.apply(event(T0, 7));
    expect(sim.state).toMatchObject({ status: 'COMPLETED', progress: 3 });
  });

  it('amount tasks sum amounts; fractions sum to the threshold in any order (0.7 + 0.1 reaches 0.8)', () => {
    for (const order of [[0.7, 0.1], [0.1, 0.7]]) {
      const sim = claimed({ type: 'cumulative', target: 0.8, measure: 'amount', flow: 'f' });
      for (const amount of order) sim.apply(event(T0, amount));
      expect(sim.state).toMatchObject({ status: 'COMPLETED', progress: 0.8 });
    }
  });
});

describe('task actor: staged (scenario 17)', () => {
  const stages = [{ threshold: 2, flow: 'bronze' }, { threshold: 5, flow: 'silver' }, { threshold: 10, flow: 'gold' }];

  it('each stage is earned and rewarded once; one event crossing two thresholds starts both calls in one turn', () => {
    const sim = claimed({ type: 'staged', measure: 'amount', stages });
    sim.apply(event(T0, 1));
    expect(sim.calls.filter((c) => c.component === 'task.reward')).toEqual([]);
    const d = sim.apply(event(T0, 5));
    expect(d.state).toMatchObject({ status: 'IN_PROGRESS', progress: 6, stages: [{ status: 'EARNED' }, { status: 'EARNED' }, { status: 'LOCKED' }] });
    expect((d.effects ?? []).filter((e) => e.type === 'call').map((e) => (e as { key: string }).key)).toEqual([`${sim.id}#s0`, `${sim.id}#s1`]);
    sim.reply(`${sim.id}#s1`, 'ok');
    sim.reply(`${sim.id}#s0`, 'ok');
    expect(sim.state).toMatchObject({ status: 'IN_PROGRESS', stages: [{ status: 'GRANTED' }, { status: 'GRANTED' }, { status: 'LOCKED' }] });
    sim.apply(event(T0, 4));
    expect(sim.state).toMatchObject({ status: 'COMPLETED', progress: 10 });
    sim.reply(`${sim.id}#s2`, 'ok');
    expect(sim.state.status).toBe('REWARDED');
    for (const i of [0, 1, 2]) expect(sim.callsTo(`${sim.id}#s${i}`)).toHaveLength(1);
  });

  it('duplicate and reordered events: progress counts each once, each stage is called once, completion at the last one', () => {
    const sim = claimed({ type: 'staged', measure: 'amount', stages });
    const events = [event(T0 + 3_000, 3), event(T0 + 1_000, 1), event(T0 + 4_000, 4), event(T0 + 2_000, 2)];
    const arrival = [events[2], events[0], events[2], events[3], events[0], events[1], events[1]];
    const refused: string[] = [];
    for (const e of arrival) {
      const d = sim.decide(e);
      if (isRejection(d)) refused.push(d.rejected.code);
      else sim.apply(e);
    }
    expect(refused).toEqual([TaskRejection.DuplicateEvent, TaskRejection.DuplicateEvent, TaskRejection.DuplicateEvent]);
    expect(sim.state).toMatchObject({ status: 'COMPLETED', progress: 10, completedAt: T0 + 1_000 });
    for (const i of [0, 1, 2]) expect(sim.callsTo(`${sim.id}#s${i}`)).toHaveLength(1);
    for (const i of [0, 1, 2]) sim.reply(`${sim.id}#s${i}`, 'ok');
    expect(sim.state.status).toBe('REWARDED');
  });

  it('a reply to a stage not in flight, or to an unknown key, is refused UNEXPECTED_REPLY', () => {
    const sim = claimed({ type: 'staged', stages });
    sim.apply(event(T0));
    sim.apply(event(T0));
    sim.reply(`${sim.id}#s0`, 'ok');
    const again: TaskMessage = { type: 'RewardResult', key: `${sim.id}#s0`, ok: true, value: { flow: 'bronze', flowVersion: 1, steps: [] } };
    expect(sim.rejection(again).code).toBe(TaskRejection.UnexpectedReply);
    expect(sim.rejection({ ...again, key: `${sim.id}#s7` }).code).toBe(TaskRejection.UnexpectedReply);
    expect(sim.rejection({ ...again, key: 'bob:def1:once#s1' }).code).toBe(TaskRejection.UnexpectedReply);
    expect(sim.rejection({ type: 'SubscriptionResult', key: `${sim.id}#subscribe`, ok: true, value: null }).code).toBe(TaskRejection.UnexpectedReply);
  });
});

describe('task actor: deadline', () => {
  const DEADLINE = T0 + 72 * HOUR;
  const deadlineTask = () => claimed({ type: 'deadline', target: 2, withinMs: 72 * HOUR, flow: 'f' });

  it('the boundary is inclusive: an event AT the deadline counts, 1 ms after it is refused AFTER_DEADLINE', () => {
    const sim = deadlineTask();
    sim.now = DEADLINE;
    expect(sim.rejection(event(DEADLINE + 1))).toMatchObject({ code: TaskRejection.Late });
    sim.apply(event(DEADLINE));
    expect(sim.active.progress).toBe(1);
  });

  it('judged by occurrence, not arrival: an event that occurred in time and arrives after the deadline counts until the timer fires', () => {
    const sim = deadlineTask();
    sim.apply(event(T0 + HOUR));
    sim.now = DEADLINE + 1; // the timer is due now but has not fired yet
    sim.apply(event(DEADLINE - 5_000));
    expect(sim.state).toMatchObject({ status: 'COMPLETED', completedAt: DEADLINE - 5_000 });
    expect(sim.timers.has('deadline')).toBe(false);
  });

  it('with a grace, the timer fires later and an in-time event arriving within the grace still counts', () => {
    const sim = claimed({ type: 'deadline', target: 1, withinMs: 72 * HOUR, flow: 'f' }, { graceMs: MINUTE });
    sim.advance(DEADLINE + 30_000);
    expect(sim.state.status).toBe('IN_PROGRESS');
    sim.apply(event(DEADLINE));
    expect(sim.state.status).toBe('COMPLETED');
  });

  it('the Deadline timer expires the task (DEADLINE_PASSED), unsubscribes it, and EXPIRED never reopens', () => {
    const sim = deadlineTask();
    sim.apply(event(T0 + HOUR));
    sim.advance(DEADLINE + 1);
    expect(sim.state).toMatchObject({ status: 'EXPIRED', finishedAt: DEADLINE + 1, progress: 1 });
    expect(sim.whys.at(-1)).toMatch(/DEADLINE_PASSED/);
    expect(sim.pending.has(`${sim.id}#unsubscribe`)).toBe(true);
    sim.subscriptionsOk();
    expect(isTaskTerminal(sim.state)).toBe(true);
    const late = sim.rejection(event(DEADLINE - 1));
    expect(late.code).toBe(TaskRejection.NotCounting);
    expect(sim.rejection({ type: 'Terminate', by: 'merchant', operator: 'm1' }).code).toBe(TaskRejection.AlreadyTerminal);
    expect(sim.rejection({ type: 'RetryFromOps' }).code).toBe(TaskRejection.NotInManualIntervention);
    expect(explainTask(sim.state).map((r) => r.code)).toEqual(['NOT_EARNED', 'DEADLINE_PASSED']);
  });

  it('earned rewards still settle after expiry (a staged task expiring between stages)', () => {
    const sim = claimed({ type: 'staged', stages: [{ threshold: 1, flow: 'a' }, { threshold: 3, flow: 'b' }] }, { deadline: T0 + HOUR });
    sim.apply(event(T0));
    sim.advance(T0 + HOUR + 1);
    expect(sim.state).toMatchObject({ status: 'EXPIRED', stages: [{ status: 'EARNED', inFlight: true }, { status: 'LOCKED' }] });
    expect(isTaskTerminal(sim.state)).toBe(false);
    sim.reply(`${sim.id}#s0`, 'ok');
    expect(sim.state).toMatchObject({ status: 'EXPIRED', stages: [{ status: 'GRANTED' }, { status: 'LOCKED' }] });
    expect(isTaskTerminal(sim.state)).toBe(true);
  });
});

describe('task actor: recurring daily across a DST night (Europe/Berlin, 23 h on 2026-03-29)', () => {
  const def = definition({ type: 'recurring', period: 'daily', target: 2, timeZone: 'Europe/Berlin', flow: 'daily' });
  const start = Date.UTC(2026, 2, 28, 23); // 2026-03-29 00:00 CET
  const end = Date.UTC(2026, 2, 29, 22); // 2026-03-30 00:00 CEST

  it('the period is the local day [start, end) of 23 h; events count by occurrence inside it, the deadline is end − 1', () => {
    const sim = new Sim(`${USER}:def1:d2026-03-29`);
    const claim = claimOf(def, {}, Date.UTC(2026, 2, 29, 8));
    expect(claim).toMatchObject({ period: 'd2026-03-29', periodStart: start, periodEnd: end });
    expect(end - start).toBe(23 * HOUR);
    sim.now = claim.claimedAt;
    sim.apply(claim);
    expect(sim.active.deadline).toBe(end - 1);
    expect(sim.timers.get('deadline')?.at).toBe(end);
    expect(sim.rejection(event(start - 1)).code).toBe(TaskRejection.OutsidePeriod);
    expect(sim.rejection(event(end)).code).toBe(TaskRejection.OutsidePeriod);
    sim.apply(event(start));
    sim.apply(event(end - 1));
    expect(sim.state).toMatchObject({ status: 'COMPLETED', completedAt: end - 1 });
  });

  it('the period ends at the next local midnight: the Deadline timer expires an unfinished day', () => {
    const sim = new Sim(`${USER}:def1:d2026-03-29`);
    sim.now = start + HOUR;
    sim.apply(claimOf(def, {}, sim.now));
    sim.apply(event(start + 2 * HOUR));
    sim.advance(end - 1);
    expect(sim.state.status).toBe('IN_PROGRESS');
    sim.advance(end);
    expect(sim.state.status).toBe('EXPIRED');
  });
});
describe('task actor: origin and early progress', () => {
  it('the assigning actor hears TaskCompleted once, with the completing event time and a stable event id', () => {
    const sim = claimed({ type: 'cumulative', target: 2, flow: 'f' }, { origin: { type: 'referral', id: 'summer:bob' } });
    sim.apply(event(T0 + 1_000));
    expect(sim.sends).toEqual([]);
    sim.apply(event(T0 + 2_000));
    expect(sim.sends).toEqual([{ to: { type: 'referral', id: 'summer:bob' }, message: { type: 'TaskCompleted', occurredAt: T0 + 2_000, eventId: `task:${sim.id}` } }]);
    sim.decide(event(T0 + 3_000));
    sim.reply(s0(sim), 'ok');
    expect(sim.sends).toHaveLength(1);
  });

  it('progress before the claim is kept (duplicates refused) and applied right after the claim', () => {
    const def = definition({ type: 'cumulative', target: 2, flow: 'f' });
    const sim = new Sim('alice:def1:once');
    const e1 = event(T0 + 1);
    sim.apply(e1);
    expect(sim.rejection({ ...e1 }).code).toBe(TaskRejection.DuplicateEvent);
    sim.apply(event(T0 + 2, 1, { event: 'page.viewed' }));
    expect(sim.state).toMatchObject({ status: 'NEW', early: [{ eventId: e1.eventId }, expect.anything()] });
    expect(explainTask(sim.state)[0].code).toBe('NOT_CLAIMED');
    sim.apply(claimOf(def));
    expect(sim.state).toMatchObject({ status: 'IN_PROGRESS', progress: 1, counted: [e1.eventId] });
    expect(sim.state).not.toHaveProperty('early');
    expect(sim.whys.at(-1)).toMatch(/not counted: EVENT_NOT_COUNTED/);
  });

  it(`at most ${EARLY_PROGRESS_KEPT} early events are kept; beyond that NOT_CLAIMED`, () => {
    const sim = new Sim('alice:def1:once');
    for (let i = 0; i < EARLY_PROGRESS_KEPT; i++) sim.apply(event(T0));
    expect(sim.rejection(event(T0)).code).toBe(TaskRejection.NotClaimed);
  });

  it('auto-enrolment: a Progress carrying `enrol` claims the task, then counts (completed in the same turn, it never subscribes)', () => {
    const def = definition({ type: 'one-shot', flow: 'f', enrolment: 'auto' });
    const { type: _type, ...enrol } = claimOf(def);
    const sim = new Sim('alice:def1:once');
    sim.apply(event(T0, 1, { enrol }));
    expect(sim.state).toMatchObject({ status: 'COMPLETED', progress: 1 });
    expect(sim.calls.map((c) => c.key)).toEqual([s0(sim)]);
  });

  it('messages that need a claim are refused in NEW', () => {
    const sim = new Sim('alice:def1:once');
    expect(sim.rejection({ type: 'Deadline' }).code).toBe(TaskRejection.NotClaimed);
    expect(sim.rejection({ type: 'RewardResult', key: 'alice:def1:once#s0', ok: true, value: { flow: 'f', flowVersion: 1, steps: [] } }).code).toBe(TaskRejection.UnexpectedReply);
    expect(sim.rejection({ type: 'RetryFromOps' }).code).toBe(TaskRejection.NotInManualIntervention);
  });
});

describe('taskView', () => {
  it('shows progress against the target and each stage', () => {
    const sim = claimed({ type: 'staged', stages: [{ threshold: 1, flow: 'a' }, { threshold: 3 }] });
    sim.apply(event(T0));
    sim.reply(s0(sim), { code: 'COUPON_OUT_OF_STOCK', retryable: false });
    expect(taskView(sim.state, 7)).toEqual({
      taskId: sim.id,
      userId: USER,
      taskDefId: 'def1',
      period: 'once',
      status: 'IN_PROGRESS',
      version: 7,
      progress: 1,
      target: 3,
      deadline: null,
      stages: [{ threshold: 1, status: 'FAILED', reason: 'COUPON_OUT_OF_STOCK' }, { threshold: 3, status: 'LOCKED' }],
    });
    expect(taskView(taskActor.initial('bob:x:d2026-01-05'), 0)).toMatchObject({ userId: 'bob', taskDefId: 'x', period: 'd2026-01-05', status: 'NEW' });
  });
});
