import { isRejection, TurnContext } from '../../common/actor';
import { counterActor, CounterState, parseCounterMessage } from './counter.actor';

const ctx: TurnContext = { now: 1_000, self: { type: 'counter', id: 'c1' }, messageId: 'm1' };
const start = (): CounterState => counterActor.initial('c1');

describe('counter actor (pure)', () => {
  it('increment adds and counts the message', () => {
    const d = counterActor.decide(start(), { type: 'increment', by: 3 }, ctx);
    expect(isRejection(d)).toBe(false);
    expect(!isRejection(d) && d.state).toMatchObject({ count: 3, applied: 1 });
  });

  it('increments with seq below the highest seen are counted out of order', () => {
    let s = start();
    for (const seq of [1, 3, 2]) {
      const d = counterActor.decide(s, { type: 'increment', by: 1, seq }, ctx);
      if (isRejection(d)) throw new Error('unexpected rejection');
      s = d.state;
    }
    expect(s).toMatchObject({ lastSeq: 3, outOfOrder: 1, count: 3 });
  });

  it('reset of a non-zero counter sets it to zero', () => {
    const d = counterActor.decide({ ...start(), count: 5 }, { type: 'reset' }, ctx);
    expect(!isRejection(d) && d.state.count).toBe(0);
  });

  it('reset of a zero counter is a typed rejection, not a silent no-op', () => {
    const d = counterActor.decide(start(), { type: 'reset' }, ctx);
    expect(d).toEqual({ rejected: { code: 'ALREADY_ZERO', reason: expect.any(String) } });
  });

  it('incrementLater leaves the count alone and asks for a durable timer', () => {
    const d = counterActor.decide(start(), { type: 'incrementLater', by: 2, at: 5_000 }, ctx);
    expect(!isRejection(d) && d.state.count).toBe(0);
    expect(!isRejection(d) && d.effects).toEqual([{ type: 'timer', key: 'later:m1', at: 5_000, message: { type: 'increment', by: 2 } }]);
  });

  it('forward sends an increment to another counter', () => {
    const d = counterActor.decide(start(), { type: 'forward', to: 'c2', by: 4 }, ctx);
    expect(!isRejection(d) && d.effects).toEqual([{ type: 'send', to: { type: 'counter', id: 'c2' }, message: { type: 'increment', by: 4 } }]);
  });

  it.each([
    [{ type: 'increment', by: 1.5 }, /integer/],
    [{ type: 'increment', by: 10_000_000 }, /within/],
    [{ type: 'incrementLater', by: 1 }, /"at"/],
    [{ type: 'forward', by: 1 }, /"to"/],
    [{ type: 'explode' }, /unknown counter message type/],
    [null, /object/],
  ])('parse rejects %j with a clear reason', (raw, reason) => {
    expect(() => parseCounterMessage(raw)).toThrow(reason);
  });
});
