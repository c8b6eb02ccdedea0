import { newRecord } from '../actor/record';
import type { ActorRecord } from '../actor/record';
import { ErrorCode } from '../errors';
import { MANUAL_INTERVENTION } from '../runtime/actor-host';
import { itemFields, parseItem, parseTask, planResume, planSweep, splitPartitions, SWEEP_AUDIT, SWEEP_MAX_RETRIES, SweepItem } from './plan';

const policy = { maxRetries: 3, baseMs: 1000, capMs: 60_000, jitter: 0 };
const item: SweepItem = { partition: 2, member: 'referral/act:bob', score: 10_000, tick: 'lead:7' };
const stalled = (retryCount: number): ActorRecord => ({
  ...newRecord({ status: 'RELATION_ESTABLISHED' }, 'RELATION_ESTABLISHED', 0),
  version: 4,
  retryCount,
  scheduleTime: 10_000,
  timers: { deadline: { at: 10_000, message: { type: 'TaskDeadline' } } },
});

describe('planSweep (the executor decision, pure)', () => {
  it('re-drives with retry_count + 1, the next look after the backoff, and one audit record saying why', () => {
    const plan = planSweep(stalled(0), item, 20_000, policy);
    expect(plan.mode).toBe('redrive');
    if (plan.mode !== 'redrive') return;
    expect(plan.record).toMatchObject({ version: 5, retryCount: 1, scheduleTime: 21_000, status: 'RELATION_ESTABLISHED', updatedAt: 20_000 });
    expect(plan.record.timers).toEqual(stalled(0).timers); // the actor's own timers are its business
    expect(plan.nextScore).toBe(21_000);
    expect(plan.ref).toEqual({ type: 'referral', id: 'act:bob' });
    // The owner's ticker names a tick for the same due score the same way: the actor drops the second one.
    expect(plan.tickId).toBe('timer:referral/act:bob:10000');
    expect(plan.audit).toMatchObject({ at: 20_000, actor: 'referral/act:bob', version: 5, message: SWEEP_AUDIT.redrive, from: 'RELATION_ESTABLISHED', to: 'RELATION_ESTABLISHED' });
    expect(plan.audit.why).toMatch(/re-drive 1 of 3/);
  });

  it('backs off further with every re-drive without progress', () => {
    const next = [0, 1, 2].map((n) => (planSweep(stalled(n), item, 20_000, policy) as { nextScore: number }).nextScore - 20_000);
    expect(next).toEqual([1000, 2000, 4000]);
  });

  it('past maxRetries re-drives: manual intervention with the reason code, out of the schedule, no tick', () => {
    const plan = planSweep(stalled(3), item, 30_000, policy);
    expect(plan.mode).toBe('manual');
    expect(plan.record).toMatchObject({ version: 5, retryCount: 3, status: MANUAL_INTERVENTION, scheduleTime: null });
    expect(plan.audit).toMatchObject({ message: SWEEP_AUDIT.manual, from: 'RELATION_ESTABLISHED', to: MANUAL_INTERVENTION });
    expect(plan.audit.why).toMatch(new RegExp(`^${SWEEP_MAX_RETRIES}: .*20000 ms later after 3 sweeper re-drive`));
  });

  it('maxRetries 0 sends a stalled actor to manual intervention at once', () => {
    expect(planSweep(stalled(0), item, 20_000, { ...policy, maxRetries: 0 }).mode).toBe('manual');
  });
});

describe('planResume (ops takes an actor out of manual intervention, pure)', () => {
  it('restores the status its own state names, resets retry_count, is due now and says who did it', () => {
    const manual = (planSweep(stalled(3), item, 30_000, policy) as { record: ActorRecord }).record;
    const plan = planResume(manual, item.member, 40_000, 'ana');
    expect(plan.record).toMatchObject({ version: 6, status: 'RELATION_ESTABLISHED', retryCount: 0, scheduleTime: 40_000 });
    expect(plan.record.state).toEqual(manual.state);
    expect(plan.audit).toMatchObject({ message: SWEEP_AUDIT.resume, from: MANUAL_INTERVENTION, to: 'RELATION_ESTABLISHED', version: 6 });
    expect(plan.audit.why).toMatch(/by ana after 3 sweeper re-drive/);
    expect(plan.tickId).toBe('resume:referral/act:bob:6');
  });

  it('an actor whose state names no status comes back as active', () => {
    const bare = { ...stalled(1), state: { n: 1 }, status: MANUAL_INTERVENTION };
    expect(planResume(bare, 'counter/c', 1, 'ops').record.status).toBe('active');
  });
});

describe('sweep tasks and items on the streams', () => {
  it('split the partitions into ranges of the task size, the last one shorter', () => {
    expect(splitPartitions(8, 1)).toEqual([[0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [5, 6], [6, 7], [7, 8]]);
    expect(splitPartitions(10, 4)).toEqual([[0, 4], [4, 8], [8, 10]]);
    expect(splitPartitions(3, 16)).toEqual([[0, 3]]);
  });

  it('an item survives its stream fields; an address whose id holds a slash stays whole', () => {
    expect(parseItem(itemFields(item))).toEqual(item);
    const odd = { ...item, member: 'counter/a/b' };
    expect(parseItem(itemFields(odd))).toEqual(odd);
  });

  it('malformed tasks and items are terminal (DECODE_FAILED) with the field named', () => {
    expect(() => parseItem(['p', 'x', 'm', 'counter/a', 's', '1'])).toThrow(expect.objectContaining({ code: ErrorCode.DecodeFailed, message: expect.stringMatching(/'p'/) }));
    expect(() => parseItem(['p', '1', 'm', 'no-slash', 's', '1'])).toThrow(/type\/id/);
    expect(() => parseTask(['t', 'x', 'from', '4', 'to', '2'])).toThrow(/empty/);
    expect(parseTask(['t', 'lead:1', 'from', '0', 'to', '4'])).toEqual({ tick: 'lead:1', from: 0, to: 4 });
  });
});
