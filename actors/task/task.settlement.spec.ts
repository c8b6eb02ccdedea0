import { explainTask, isTaskTerminal, taskActor } from './task.actor';
import { claimed, claimOf, definition, event, HOUR, MINUTE, POLICY, s0, Sim, T0 } from './task.harness';
import { TaskRejection } from './task.types';

describe('task actor: reward retries, FAILED, replay, manual intervention', () => {
  const transient = { code: 'DOWNSTREAM_DOWN', retryable: true };

  /** A one-shot task whose reward call failed transiently past its retries: FAILED with a replay scheduled. */
  function failedTask(): Sim {
    const sim = claimed({ type: 'one-shot', flow: 'f' });
    sim.apply(event(T0));
    sim.reply(s0(sim), transient);
    expect(sim.state).toMatchObject({ status: 'COMPLETED', retryCount: 1, scheduleTime: T0 + 1_000, stages: [{ status: 'EARNED', inFlight: false, lastError: 'DOWNSTREAM_DOWN' }] });
    sim.fire('retry');
    sim.reply(s0(sim), transient);
    expect(sim.active.scheduleTime).toBe(T0 + 1_000 + 1_500); // 2 s backoff, capped at 1.5 s
    sim.fire('retry');
    sim.reply(s0(sim), transient);
    return sim;
  }

  it('transient failures retry in rounds with backoff, then the stage FAILS (MAX_RETRIES) and the task is FAILED with a replay', () => {
    const sim = failedTask();
    expect(sim.state).toMatchObject({ status: 'FAILED', scheduleTime: null, replays: 0, replayAt: sim.now + 10 * MINUTE, stages: [{ status: 'FAILED', reason: 'MAX_RETRIES', lastError: 'DOWNSTREAM_DOWN', attempts: 3 }] });
    expect(sim.timers.get('replay')).toEqual({ at: sim.now + 10 * MINUTE, message: { type: 'Replay' } });
    expect(sim.timers.has('retry')).toBe(false);
    expect(explainTask(sim.state)).toEqual([expect.objectContaining({ code: 'MAX_RETRIES', detail: expect.stringMatching(/3 attempts, last error DOWNSTREAM_DOWN; 0 replays used\); replay 1 of 2/) })]);
  });

  it('the replay re-calls the failed stage with the SAME key and fresh attempts; ok → REWARDED', () => {
    const sim = failedTask();
    sim.fire('replay');
    expect(sim.state).toMatchObject({ status: 'COMPLETED', replays: 1, stages: [{ status: 'EARNED', attempts: 1, inFlight: true }] });
    expect(sim.active.replayAt).toBeUndefined();
    sim.reply(s0(sim), 'ok');
    expect(sim.state.status).toBe('REWARDED');
    expect(new Set(sim.calls.filter((c) => c.component === 'task.reward').map((c) => c.key))).toEqual(new Set([s0(sim)]));
    expect(sim.callsTo(s0(sim))).toHaveLength(4);
  });

  it('a business refusal FAILS the stage with its code at once; the replay retries it later', () => {
    const sim = claimed({ type: 'one-shot', flow: 'coupon' });
    sim.apply(event(T0));
    sim.reply(s0(sim), { code: 'COUPON_OUT_OF_STOCK', retryable: false });
    expect(sim.state).toMatchObject({ status: 'FAILED', stages: [{ status: 'FAILED', reason: 'COUPON_OUT_OF_STOCK', attempts: 1 }] });
    expect(explainTask(sim.state)[0]).toMatchObject({ code: 'COUPON_OUT_OF_STOCK' });
    sim.fire('replay');
    sim.reply(s0(sim), 'ok');
    expect(sim.state.status).toBe('REWARDED');
  });

  it('after maxReplays the task goes to MANUAL_INTERVENTION (MAX_REPLAYS); RetryFromOps re-drives it with the same key', () => {
    const sim = claimed({ type: 'one-shot', flow: 'f' });
    sim.apply(event(T0));
    const refuse = { code: 'FLOW_NOT_FOUND', retryable: false };
    sim.reply(s0(sim), refuse);
    for (let replay = 1; replay <= POLICY.maxReplays; replay++) {
      sim.fire('replay');
      expect(sim.active.replays).toBe(replay);
      sim.reply(s0(sim), refuse);
    }
    expect(sim.state).toMatchObject({ status: 'MANUAL_INTERVENTION', manual: { reason: 'MAX_REPLAYS', since: sim.now }, stages: [{ status: 'FAILED', reason: 'FLOW_NOT_FOUND' }] });
    expect(sim.timers.size).toBe(0);
    expect(explainTask(sim.state).map((r) => r.code)).toEqual(['FLOW_NOT_FOUND', 'MAX_REPLAYS']);

    sim.apply({ type: 'RetryFromOps', operator: 'ops-ann' });
    expect(sim.state).toMatchObject({ status: 'COMPLETED', replays: 0, retryCount: 0, stages: [{ status: 'EARNED', attempts: 1, inFlight: true }] });
    expect(sim.state).not.toHaveProperty('manual');
    expect(sim.whys.at(-1)).toMatch(/ops-ann.*MAX_REPLAYS/);
    sim.reply(s0(sim), 'ok');
    expect(sim.state.status).toBe('REWARDED');
    expect(new Set(sim.calls.filter((c) => c.component === 'task.reward').map((c) => c.key)).size).toBe(1);
  });

  it.each(['CALL_FAILED', 'INVALID_MESSAGE'])('a system failure (%s) goes to MANUAL_INTERVENTION with that code', (code) => {
    const sim = claimed({ type: 'one-shot', flow: 'f' });
    sim.apply(event(T0));
    sim.reply(s0(sim), { code, retryable: false });
    expect(sim.state).toMatchObject({ status: 'MANUAL_INTERVENTION', manual: { reason: code }, stages: [{ status: 'EARNED', inFlight: false, lastError: code }] });
    sim.apply({ type: 'RetryFromOps' });
    sim.reply(s0(sim), 'ok');
    expect(sim.state.status).toBe('REWARDED');
  });

  it('RetryFromOps outside manual intervention is refused', () => {
    const sim = claimed({ type: 'one-shot', flow: 'f' });
    expect(sim.rejection({ type: 'RetryFromOps' }).code).toBe(TaskRejection.NotInManualIntervention);
  });

  it('while counting, a FAILED stage gets its replay and counting goes on', () => {
    const sim = claimed({ type: 'staged', stages: [{ threshold: 1, flow: 'a' }, { threshold: 2, flow: 'b' }] });
    sim.apply(event(T0));
    sim.reply(s0(sim), { code: 'COUPON_OUT_OF_STOCK', retryable: false });
    expect(sim.state).toMatchObject({ status: 'IN_PROGRESS', replayAt: sim.now + 10 * MINUTE, stages: [{ status: 'FAILED' }, { status: 'LOCKED' }] });
    sim.apply(event(T0 + 1));
    expect(sim.state).toMatchObject({ status: 'COMPLETED', stages: [{ status: 'FAILED' }, { status: 'EARNED', inFlight: true }] });
    expect(sim.timers.get('replay')?.at).toBe(T0 + 10 * MINUTE);
    sim.reply(`${sim.id}#s1`, 'ok');
    expect(sim.state.status).toBe('FAILED');
    sim.fire('replay');
    sim.reply(s0(sim), 'ok');
    expect(sim.state.status).toBe('REWARDED');
    expect(sim.callsTo(`${sim.id}#s1`)).toHaveLength(1);
  });

  it('a CALL_TIMEOUT while a retry round is pending joins it', () => {
    const sim = claimed({ type: 'staged', stages: [{ threshold: 1, flow: 'a' }, { threshold: 2, flow: 'b' }] });
    sim.apply(event(T0, 1));
    sim.apply(event(T0, 1));
    sim.reply(s0(sim), transient);
    const round = sim.active.scheduleTime;
    sim.reply(`${sim.id}#s1`, { code: 'CALL_TIMEOUT', retryable: true });
    expect(sim.active).toMatchObject({ retryCount: 1, scheduleTime: round });
    sim.fire('retry');
    expect(sim.pending.has(s0(sim)) && sim.pending.has(`${sim.id}#s1`)).toBe(true);
  });
});

describe('task actor: terminating', () => {
  it('terminated with an earned stage (scenario 18): the reward still settles, the replay grants it at most once', () => {
    const sim = claimed({ type: 'staged', stages: [{ threshold: 1, flow: 'a' }, { threshold: 2, flow: 'b' }] });
    sim.apply(event(T0));
    sim.apply({ type: 'Terminate', by: 'merchant', operator: 'm1', reason: 'campaign ended' });
    expect(sim.state).toMatchObject({ status: 'TERMINATED', finishedAt: T0, terminated: { by: 'merchant', operator: 'm1', reason: 'campaign ended', at: T0 }, stages: [{ status: 'EARNED', inFlight: true }, { status: 'LOCKED' }] });
    expect(sim.pending.has(`${sim.id}#unsubscribe`)).toBe(true);
    expect(isTaskTerminal(sim.state)).toBe(false);
    expect(sim.rejection(event(T0 + 1)).code).toBe(TaskRejection.NotCounting);
    expect(sim.rejection({ type: 'Terminate', by: 'ops', operator: 'ann' }).code).toBe(TaskRejection.AlreadyTerminal);

    sim.reply(s0(sim), { code: 'COUPON_OUT_OF_STOCK', retryable: false });
    expect(sim.state).toMatchObject({ status: 'TERMINATED', stages: [{ status: 'FAILED' }, { status: 'LOCKED' }] });
    expect(sim.timers.has('replay')).toBe(true);
    sim.fire('replay');
    sim.reply(s0(sim), 'ok');
    expect(sim.state).toMatchObject({ status: 'TERMINATED', stages: [{ status: 'GRANTED' }, { status: 'LOCKED' }] });
    expect(isTaskTerminal(sim.state)).toBe(true);
    expect(sim.callsTo(s0(sim))).toHaveLength(2);
    expect(explainTask(sim.state).map((r) => r.code)).toEqual(['NOT_EARNED', 'TERMINATED_BY_MERCHANT']);
  });

  it('a TERMINATED task whose every stage was earned ends REWARDED once its rewards are granted', () => {
    const sim = claimed({ type: 'one-shot', flow: 'f' });
    sim.apply(event(T0));
    sim.reply(s0(sim), { code: 'COUPON_OUT_OF_STOCK', retryable: false });
    expect(sim.state.status).toBe('FAILED');
    sim.apply({ type: 'Terminate', by: 'ops', operator: 'ann' });
    expect(sim.state.status).toBe('TERMINATED');
    sim.fire('replay');
    sim.reply(s0(sim), 'ok');
    expect(sim.state.status).toBe('REWARDED');
    expect(sim.emits.filter((e) => e.payload.kind === 'TASK_REWARDED')).toHaveLength(1);
  });

  it('terminated while counting: the deadline timer is cancelled', () => {
    const sim = claimed({ type: 'deadline', target: 3, withinMs: HOUR, flow: 'f' });
    sim.apply({ type: 'Terminate', by: 'ops', operator: 'ann' });
    expect(sim.state.status).toBe('TERMINATED');
    expect(sim.timers.has('deadline')).toBe(false);
    expect(isTaskTerminal(sim.state)).toBe(true);
  });

  it('terminated from manual intervention: closed as it stands, no replay', () => {
    const sim = claimed({ type: 'one-shot', flow: 'f' });
    sim.apply(event(T0));
    sim.reply(s0(sim), { code: 'CALL_FAILED', retryable: false });
    sim.apply({ type: 'Terminate', by: 'ops', operator: 'ann', reason: 'component retired' });
    expect(sim.state).toMatchObject({ status: 'TERMINATED', terminated: { manual: { reason: 'CALL_FAILED' } }, stages: [{ status: 'FAILED', reason: 'TERMINATED_BY_OPS' }] });
    expect(sim.state).not.toHaveProperty('manual');
    expect(sim.timers.size).toBe(0);
    expect(isTaskTerminal(sim.state)).toBe(true);
  });

  it('terminated before any claim: claims and progress are refused from then on', () => {
    const sim = new Sim('alice:def1:once');
    sim.apply({ type: 'Terminate', by: 'merchant', operator: 'm1' });
    expect(taskActor.status?.(sim.state)).toBe('TERMINATED');
    expect(isTaskTerminal(sim.state)).toBe(true);
    expect(sim.rejection(claimOf(definition({ type: 'one-shot' }))).code).toBe(TaskRejection.AlreadyTerminal);
    expect(sim.rejection(event(T0)).code).toBe(TaskRejection.AlreadyTerminal);
    expect(explainTask(sim.state)[0].code).toBe('TERMINATED_BY_MERCHANT');
  });
});

describe('task actor: subscription index', () => {
  it('a failed subscribe is retried by the retry round and never blocks counting', () => {
    const def = definition({ type: 'cumulative', target: 2, flow: 'f' });
    const sim = new Sim('alice:def1:once');
    sim.apply(claimOf(def));
    sim.reply(`${sim.id}#subscribe`, { code: 'CALL_TIMEOUT', retryable: true });
    expect(sim.active).toMatchObject({ subscribed: false, subscription: { failures: 1, lastError: 'CALL_TIMEOUT' }, scheduleTime: T0 + 1_000 });
    expect(explainTask(sim.state).map((r) => r.code)).toContain('NOT_SUBSCRIBED');
    sim.apply(event(T0));
    expect(sim.active.progress).toBe(1);
    sim.fire('retry');
    expect(sim.callsTo(`${sim.id}#subscribe`)).toHaveLength(2);
    sim.reply(`${sim.id}#subscribe`, 'ok');
    expect(sim.active).toMatchObject({ subscribed: true, subscription: { failures: 0 }, scheduleTime: null });
  });

  it('completion while the subscribe is in flight: the unsubscribe waits for its reply, so the entry cannot outlive the task', () => {
    const def = definition({ type: 'one-shot' });
    const sim = new Sim('alice:def1:once');
    sim.apply(claimOf(def));
    sim.apply(event(T0));
    expect(sim.state.status).toBe('REWARDED');
    expect(sim.pending.has(`${sim.id}#unsubscribe`)).toBe(false);
    sim.reply(`${sim.id}#subscribe`, 'ok');
    expect(sim.pending.has(`${sim.id}#unsubscribe`)).toBe(true);
    sim.reply(`${sim.id}#unsubscribe`, 'ok');
    expect(sim.active.subscribed).toBe(false);
  });
});
