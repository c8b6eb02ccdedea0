import { ErrorCode } from '../errors';
import { defineActor } from './define-actor';
import { newRecord } from './record';
import { compareEntryIds, messageHash, runTurn, TurnLimits } from './turn';

type S = { status: 'open' | 'waiting' | 'done'; n: number };
type M =
  | { type: 'add'; n: number }
  | { type: 'close' }
  | { type: 'remind'; at: number }
  | { type: 'ask' }
  | { type: 'answer'; key: string; ok: boolean; value?: unknown; error?: { code: string } }
  | { type: 'tell'; to: string };

const actor = defineActor<S, M>({
  type: 'thing',
  initial: () => ({ status: 'open', n: 0 }),
  decide(state, m, ctx) {
    switch (m.type) {
      case 'add':
        if (state.status === 'done') return { rejected: { code: 'CLOSED', reason: 'closed' } };
        return { state: { ...state, n: state.n + m.n }, why: `add ${m.n}` };
      case 'close':
        return { state: { ...state, status: 'done' } };
      case 'remind':
        return { state, effects: [{ type: 'timer', key: 'r', at: m.at, message: { type: 'add', n: 100 } }] };
      case 'ask':
        return { state: { ...state, status: 'waiting' }, effects: [{ type: 'call', key: 'k1', component: 'c', input: 1, reply: 'answer' }] };
      case 'answer':
        return { state: { ...state, status: 'open', n: m.ok ? state.n + 1 : -1 }, why: m.ok ? 'answered' : `failed ${m.error?.code}` };
      case 'tell':
        return { state, effects: [{ type: 'send', to: { type: 'thing', id: m.to }, message: { type: 'add', n: 1 } }, { type: 'emit', stream: 'notes', payload: { hi: 1 } }] };
    }
  },
});

const limits: TurnLimits = { seenLimit: 2, callTimeoutMs: 1000 };
const self = { type: 'thing', id: 'x' };
const fresh = () => newRecord(actor.initial('x'), 'open', 0);

describe('runTurn (pure turn logic)', () => {
  it('applies a message and records one audit (history) record saying why', () => {
    const r = runTurn(actor, fresh(), { id: 'x', message: { type: 'add', n: 2 } }, { self, now: 10, messageId: 'a' }, limits);
    expect(r.kind).toBe('applied');
    expect(r.record.state.n).toBe(2);
    expect(r.audit).toEqual([{ at: 10, message: 'add', messageId: 'a', from: 'open', to: 'open', why: 'add 2', actor: 'thing/x', version: 1, effects: [] }]);
  });

  it('an entry older than one already applied is still applied (late, never lost)', () => {
    const first = runTurn(actor, fresh(), { id: 'x', message: { type: 'add', n: 1 } }, { self, now: 1, messageId: 'newer' }, limits).record;
    const late = runTurn(actor, first, { id: 'x', message: { type: 'add', n: 10 } }, { self, now: 2, messageId: 'older' }, limits);
    expect(late.kind).toBe('applied');
    expect(late.record.state.n).toBe(11);
  });

  it('a message id seen recently is a duplicate; the window is bounded', () => {
    let rec = fresh();
    for (const id of ['m1', 'm2', 'm3']) rec = runTurn(actor, rec, { id: 'x', message: { type: 'add', n: 1 } }, { self, now: 1, messageId: id }, limits).record;
    expect(rec.seen).toEqual([messageHash('m2'), messageHash('m3')]);
    expect(runTurn(actor, rec, { id: 'x', message: { type: 'add', n: 1 } }, { self, now: 1, messageId: 'm1' }, limits).kind).toBe('applied');
    expect(runTurn(actor, rec, { id: 'x', message: { type: 'add', n: 1 } }, { self, now: 1, messageId: 'm3' }, limits).kind).toBe('duplicate');
  });

  it('a rejection keeps the state and records the reason', () => {
    const closed = { ...fresh(), state: { status: 'done' as const, n: 1 }, status: 'done' };
    const r = runTurn(actor, closed, { id: 'x', message: { type: 'add', n: 1 } }, { self, now: 1, messageId: 'c' }, limits);
    expect(r.rejected).toEqual({ code: 'CLOSED', reason: 'closed' });
    expect(r.record.state).toEqual(closed.state);
    expect(r.audit[0]).toMatchObject({ from: 'done', to: 'done', rejected: { code: 'CLOSED', reason: 'closed' } });
  });

  it('message hashes differ for near-identical ids and fit in a double exactly', () => {
    const hashes = new Set(Array.from({ length: 10_000 }, (_, i) => messageHash(`msg-${i}`)));
    expect(hashes.size).toBe(10_000);
    for (const h of hashes) expect(Number.isSafeInteger(h)).toBe(true);
  });

  it('a timer sets schedule_time and fires only once due', () => {
    let rec = runTurn(actor, fresh(), { id: 'x', message: { type: 'remind', at: 500 } }, { self, now: 1, messageId: 't1' }, limits).record;
    expect(rec.scheduleTime).toBe(500);
    const early = runTurn(actor, rec, { id: 'x', timer: 400 }, { self, now: 400, messageId: 'tick1' }, limits);
    expect(early.kind).toBe('noop');
    expect(early.record.state.n).toBe(0);
    expect(early.record.scheduleTime).toBe(500);
    rec = runTurn(actor, rec, { id: 'x', timer: 500 }, { self, now: 600, messageId: 'tick2' }, limits).record;
    expect(rec.state.n).toBe(100);
    expect(rec.scheduleTime).toBeNull();
    expect(rec.timers).toEqual({});
  });

  it('a call is tracked with a deadline; its reply clears it; a late reply is ignored', () => {
    const asked = runTurn(actor, fresh(), { id: 'x', message: { type: 'ask' } }, { self, now: 100, messageId: 'q' }, limits);
    expect(asked.calls).toEqual([{ type: 'call', key: 'k1', component: 'c', input: 1, reply: 'answer' }]);
    expect(asked.record.scheduleTime).toBe(1100);
    const answered = runTurn(actor, asked.record, { id: 'x', message: { type: 'answer', key: 'k1', ok: true }, reply: true }, { self, now: 200, messageId: 'r1' }, limits);
    expect(answered.record.state).toEqual({ status: 'open', n: 1 });
    expect(answered.record.scheduleTime).toBeNull();
    const late = runTurn(actor, answered.record, { id: 'x', message: { type: 'answer', key: 'k1', ok: true }, reply: true }, { self, now: 300, messageId: 'r2' }, limits);
    expect(late.record.state).toEqual({ status: 'open', n: 1 });
    expect(late.audit.at(-1)?.why).toMatch(/late call reply/);
  });

  it('a call whose deadline passes is answered with CALL_TIMEOUT by the timer tick', () => {
    const asked = runTurn(actor, fresh(), { id: 'x', message: { type: 'ask' } }, { self, now: 100, messageId: 'q' }, limits);
    const timedOut = runTurn(actor, asked.record, { id: 'x', timer: 1100 }, { self, now: 1200, messageId: 'tick' }, limits);
    expect(timedOut.record.state).toEqual({ status: 'open', n: -1 });
    expect(timedOut.audit.at(-1)?.why).toBe('failed CALL_TIMEOUT');
  });

  it('sends and emits get ids derived from the actor and the version they commit with', () => {
    const r = runTurn(actor, fresh(), { id: 'x', message: { type: 'tell', to: 'y' } }, { self, now: 1, messageId: 's' }, limits);
    expect(r.sends).toEqual([{ to: { type: 'thing', id: 'y' }, message: { type: 'add', n: 1 }, id: 'thing/x@1#0' }]);
    expect(r.emits).toEqual([{ stream: 'notes', payload: { hi: 1 }, id: 'thing/x@1#1' }]);
  });

  it('a message without a string type is terminal (INVALID_MESSAGE)', () => {
    expect(() => runTurn(actor, fresh(), { id: 'x', message: { n: 1 } }, { self, now: 1, messageId: 'z' }, limits)).toThrow(
      expect.objectContaining({ code: ErrorCode.InvalidMessage }),
    );
  });

  it('internal message types are refused from outside but delivered by timers and call replies', () => {
    const guarded = defineActor<S, M>({ ...actor, internal: ['answer', 'add'] });
    expect(() => runTurn(guarded, fresh(), { id: 'x', message: { type: 'answer', key: 'k1', ok: true } }, { self, now: 1, messageId: 'forged' }, limits)).toThrow(
      expect.objectContaining({ code: ErrorCode.InvalidMessage, message: expect.stringMatching(/internal/) }),
    );
    const asked = runTurn(guarded, fresh(), { id: 'x', message: { type: 'ask' } }, { self, now: 1, messageId: 'q' }, limits);
    const replied = runTurn(guarded, asked.record, { id: 'x', message: { type: 'answer', key: 'k1', ok: true }, reply: true }, { self, now: 2, messageId: 'r' }, limits);
    expect(replied.record.state.n).toBe(1);
    const reminded = runTurn(guarded, fresh(), { id: 'x', message: { type: 'remind', at: 5 } }, { self, now: 1, messageId: 't' }, limits);
    expect(runTurn(guarded, reminded.record, { id: 'x', timer: 5 }, { self, now: 5, messageId: 'tick' }, limits).record.state.n).toBe(100);
  });

  it('an applied decision resets retry_count (the sweepers count re-drives without progress); a rejection or a no-op keeps it', () => {
    const swept = { ...runTurn(actor, fresh(), { id: 'x', message: { type: 'remind', at: 500 } }, { self, now: 1, messageId: 'r' }, limits).record, retryCount: 3 };
    expect(runTurn(actor, swept, { id: 'x', timer: 400 }, { self, now: 400, messageId: 'early' }, limits).record.retryCount).toBe(3);
    expect(runTurn(actor, swept, { id: 'x', timer: 500 }, { self, now: 500, messageId: 'due' }, limits).record.retryCount).toBe(0);
    const closed = { ...swept, state: { status: 'done' as const, n: 1 }, status: 'done' };
    expect(runTurn(actor, closed, { id: 'x', message: { type: 'add', n: 1 } }, { self, now: 1, messageId: 'rej' }, limits).record.retryCount).toBe(3);
  });

  it('compareEntryIds orders stream ids numerically', () => {
    expect(compareEntryIds('10-0', '9-5')).toBeGreaterThan(0);
    expect(compareEntryIds('9-10', '9-9')).toBeGreaterThan(0);
    expect(compareEntryIds('9-1', '9-1')).toBe(0);
  });
});
