import fc from 'fast-check';
import { Effect, isRejection } from '../../common/actor';
import { taskActor } from './task.actor';
import { taskDefinitionSchema, termsOf } from './task.definition';
import { ClaimMessage, ProgressMessage, TaskMessage, TaskRejection, TaskState } from './task.types';

const ID = 'alice:staged:once';
const T0 = 1_767_603_600_000;

/** One step of a run: an arriving event (by index into the generated events), the claim, or the component answering one pending call. */
type Step = { kind: 'event'; index: number } | { kind: 'claim' } | { kind: 'answer'; pick: number };

const scenario = fc
  .record({
    measure: fc.constantFrom('count' as const, 'amount' as const),
    amounts: fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 12 }),
    steps: fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 5 }),
    withFlow: fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
    enrol: fc.boolean(),
  })
  .chain((s) =>
    fc.record({
      s: fc.constant(s),
      // Each event arrives 1 to 3 times, in any order; the claim comes somewhere in between; replies interleave.
      arrivals: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: s.amounts.length, maxLength: s.amounts.length }).chain((times) => {
        const deliveries = times.flatMap((n, index) => Array.from({ length: n }, (): Step => ({ kind: 'event', index })));
        const answers = fc.array(fc.nat(), { maxLength: 12 }).map((picks) => picks.map((pick): Step => ({ kind: 'answer', pick })));
        return fc.tuple(fc.shuffledSubarray([...deliveries, { kind: 'claim' } as Step], { minLength: deliveries.length + 1 }), answers).chain(([ordered, extra]) =>
          fc.shuffledSubarray([...ordered, ...extra], { minLength: ordered.length + extra.length }).map((all) => {
            // Keep the arrival order of events and claim as shuffled; answers land anywhere.
            let next = 0;
            return all.map((step) => (step.kind === 'answer' ? step : ordered[next++]));
          }),
        );
      }),
    }),
  );

describe('task actor properties', () => {
  it('staged task: any permutation with duplicates of N events → progress = sum of distinct events, each earned stage called exactly once', () => {
    fc.assert(
      fc.property(scenario, ({ s, arrivals }) => {
        // Ascending thresholds from the generated increments, some stages without a flow.
        let t = 0;
        const stages = s.steps.map((inc, i) => ({ threshold: (t += inc), ...(s.withFlow[i] ? { flow: `flow${i}` } : {}) }));
        const def = taskDefinitionSchema.parse({ id: 'staged', merchantId: 'm1', name: 'n', type: 'staged', events: ['order.paid'], measure: s.measure, stages });
        const claimBody: Omit<ClaimMessage, 'type'> = { userId: 'alice', period: 'once', terms: termsOf(def, 1), claimedAt: T0 };
        const events: ProgressMessage[] = s.amounts.map((amount, i) => ({ type: 'Progress', eventId: `ev${i}`, event: 'order.paid', occurredAt: T0 + i, amount }));

        let state: TaskState = taskActor.initial(ID);
        const pending: Array<{ key: string; reply: string }> = [];
        const rewardCalls: string[] = [];
        let claimed = false;
        let n = 0;
        const deliver = (message: TaskMessage): void => {
          const d = taskActor.decide(state, message, { now: T0 + 1_000 + n, self: { type: 'task', id: ID }, messageId: `m${n++}` });
          if (isRejection(d)) {
            // The only refusals a legal run may see: a repeated event (kept early or counted), or any event once completed.
            const completed = state.status !== 'NEW' && state.completedAt !== undefined;
            if (d.rejected.code !== TaskRejection.DuplicateEvent && !(completed && d.rejected.code === TaskRejection.NotCounting)) {
              throw new Error(`${message.type} refused: ${d.rejected.code} ${d.rejected.reason}`);
            }
            return;
          }
          state = d.state;
          for (const e of (d.effects ?? []) as Effect<TaskMessage>[]) {
            if (e.type !== 'call') continue;
            pending.push({ key: e.key, reply: e.reply });
            if (e.component === 'task.reward') rewardCalls.push(e.key);
          }
        };
        const answer = (pick: number): void => {
          if (pending.length === 0) return;
          const [call] = pending.splice(pick % pending.length, 1);
          deliver({ type: call.reply, key: call.key, ok: true, value: call.reply === 'RewardResult' ? { flow: 'f', flowVersion: 1, steps: [] } : null } as TaskMessage);
        };

        for (const step of arrivals) {
          if (step.kind === 'answer') answer(step.pick);
          else if (step.kind === 'claim') {
            if (!claimed) deliver(s.enrol ? { ...events[0], eventId: 'enrolling', amount: 1, enrol: claimBody } : { type: 'Claim', ...claimBody });
            claimed = true;
          } else deliver(events[step.index]);
        }
        while (pending.length > 0) answer(0);

        const task = state;
        if (task.status === 'NEW') throw new Error('the task was never claimed');
        const amountOf = (amount: number) => (s.measure === 'count' ? 1 : amount);
        const worth = new Map<string, number>([...events.map((e): [string, number] => [e.eventId, amountOf(e.amount)]), ['enrolling', 1]]);
        const target = stages[stages.length - 1].threshold;
        const all = s.amounts.reduce((sum, amount) => sum + amountOf(amount), 0) + (s.enrol ? 1 : 0);
        // Progress is the sum over distinct counted events; short of the target every event counts, in any order.
        expect(new Set(task.counted).size).toBe(task.counted.length);
        expect(task.progress).toBe(task.counted.reduce((sum, id) => sum + (worth.get(id) as number), 0));
        if (all < target) expect(task.progress).toBe(all);
        else expect(task.progress).toBeGreaterThanOrEqual(target);
        const earned = stages.flatMap((stage, i) => (stage.threshold <= task.progress ? [i] : []));
        expect(task.stages.map((x) => x.status)).toEqual(stages.map((stage) => (stage.threshold <= task.progress ? 'GRANTED' : 'LOCKED')));
        // Each earned stage with a flow: exactly one reward call under its own key; none for the others.
        expect([...rewardCalls].sort()).toEqual(earned.filter((i) => stages[i].flow).map((i) => `${ID}#s${i}`).sort());
        expect(task.status).toBe(all >= target ? 'REWARDED' : 'IN_PROGRESS');
      }),
      { numRuns: 1_000 },
    );
  });
});
