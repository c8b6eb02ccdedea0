import { performance } from 'node:perf_hooks';
import { describeError } from '../errors';
import type { TurnOutcome, RuntimeMetrics } from '../observability/runtime-metrics';
import type { ActorRef } from '../partitioning';
import type { ActorRecord } from '../actor/record';
import type { AuditRecord } from '../actor/turn';
import type { ActorStore, CommitTurn } from './actor-store';

/**
 * An ActorStore that reports every commit to a metrics sink: its latency and size, and per turn whether it
 * committed a new version, acknowledged a duplicate or was refused as stale. Wrapping the seam both commit
 * paths go through (the batched fast path and the per-entry path) counts every turn once, without touching
 * the turn logic.
 */
export class MeteredActorStore implements ActorStore {
  constructor(
    private readonly inner: ActorStore,
    private readonly metrics: RuntimeMetrics,
  ) {}

  load<S>(partition: number, ref: ActorRef): Promise<ActorRecord<S> | null> {
    return this.inner.load<S>(partition, ref);
  }

  loadMany(partition: number, refs: ActorRef[]): Promise<Array<ActorRecord | null>> {
    return this.inner.loadMany(partition, refs);
  }

  history(partition: number, ref: ActorRef): Promise<AuditRecord[]> {
    return this.inner.history(partition, ref);
  }

  async commit(partition: number, turns: CommitTurn[], leaseToken: string): Promise<number[]> {
    const start = performance.now();
    let codes: number[];
    try {
      codes = await this.inner.commit(partition, turns, leaseToken);
    } catch (err) {
      this.metrics.commitFailed(describeError(err).code);
      throw err;
    }
    this.metrics.commitObserved((performance.now() - start) / 1000, turns.length);
    countOutcomes(turns, codes, this.metrics);
    return codes;
  }
}

/** Reports the commit codes (new version > 0, 0 acknowledged only, -1 stale) per actor type, in runs of one type. */
export function countOutcomes(turns: readonly CommitTurn[], codes: readonly number[], metrics: Pick<RuntimeMetrics, 'turns'>): void {
  let type = '';
  const counts: Record<TurnOutcome, number> = { committed: 0, duplicate: 0, stale: 0 };
  const flush = () => {
    for (const outcome of ['committed', 'duplicate', 'stale'] as const) {
      if (counts[outcome]) metrics.turns(type, outcome, counts[outcome]);
      counts[outcome] = 0;
    }
  };
  for (let i = 0; i < turns.length; i++) {
    const t = turns[i]!.ref.type;
    if (t !== type) {
      flush();
      type = t;
    }
    const code = codes[i] ?? -1;
    counts[code > 0 ? 'committed' : code === 0 ? 'duplicate' : 'stale']++;
  }
  flush();
}
