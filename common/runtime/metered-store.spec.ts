import { LeaseLostError } from '../errors';
import type { TurnOutcome } from '../observability/runtime-metrics';
import { NOOP_METRICS } from '../observability/runtime-metrics';
import type { ActorStore, CommitTurn } from './actor-store';
import { countOutcomes, MeteredActorStore } from './metered-store';

const turn = (type: string, id: string): CommitTurn => ({ ref: { type, id }, entryId: '1-0', expectedVersion: 0, outbox: [], local: [], audit: [] });

/** A sink that records what it was told. */
function recorder() {
  const calls: Array<[string, TurnOutcome, number]> = [];
  const observed: Array<[number, number]> = [];
  const failed: string[] = [];
  const sink = { ...NOOP_METRICS, enabled: true, turns: (t: string, o: TurnOutcome, n: number) => void calls.push([t, o, n]), commitObserved: (s: number, n: number) => void observed.push([s, n]), commitFailed: (c: string) => void failed.push(c) };
  return { sink, calls, observed, failed };
}

describe('countOutcomes: commit codes become per-type turn counts', () => {
  it('counts new versions as committed, 0 as duplicate and -1 as stale, in runs of one actor type', () => {
    const { sink, calls } = recorder();
    const turns = [turn('counter', 'a'), turn('counter', 'b'), turn('counter', 'c'), turn('referral', 'x'), turn('referral', 'x'), turn('counter', 'd')];
    countOutcomes(turns, [4, 0, 2, -1, -1, 7], sink);
    expect(calls).toEqual([
      ['counter', 'committed', 2],
      ['counter', 'duplicate', 1],
      ['referral', 'stale', 2],
      ['counter', 'committed', 1],
    ]);
  });

  it('reports nothing for an empty batch', () => {
    const { sink, calls } = recorder();
    countOutcomes([], [], sink);
    expect(calls).toEqual([]);
  });
});

describe('MeteredActorStore', () => {
  const inner = (commit: ActorStore['commit']): ActorStore => ({ commit, load: async () => null, loadMany: async () => [], history: async () => [] });

  it('passes the codes through and reports the call latency, its size and the outcomes', async () => {
    const { sink, calls, observed } = recorder();
    const store = new MeteredActorStore(inner(async () => [3, 0]), sink);
    await expect(store.commit(1, [turn('counter', 'a'), turn('counter', 'b')], 'w1')).resolves.toEqual([3, 0]);
    expect(observed).toEqual([[expect.any(Number), 2]]);
    expect(observed[0]![0]).toBeGreaterThanOrEqual(0);
    expect(calls).toEqual([['counter', 'committed', 1], ['counter', 'duplicate', 1]]);
  });

  it('counts a failed call by code and rethrows it; no turn is counted', async () => {
    const { sink, calls, failed } = recorder();
    const store = new MeteredActorStore(inner(async () => { throw new LeaseLostError(1); }), sink);
    await expect(store.commit(1, [turn('counter', 'a')], 'w1')).rejects.toBeInstanceOf(LeaseLostError);
    expect(failed).toEqual(['LEASE_LOST']);
    expect(calls).toEqual([]);
  });
});
