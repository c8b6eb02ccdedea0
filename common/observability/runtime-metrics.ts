/**
 * What the runtime reports about itself, as calls on a sink. The runtime depends on this interface only (no
 * prom-client): `PropelMetrics` implements it with Prometheus metrics, `NOOP_METRICS` drops everything and
 * is the default, so code paths without a sink pay nothing.
 *
 * Labels stay low-cardinality: actor types, components, error codes and partitions, never actor ids.
 */

/** How a turn's commit came out, per turn: a new version, an acknowledged duplicate, or refused as stale. */
export type TurnOutcome = 'committed' | 'duplicate' | 'stale';

/** How a call effect came out: answered, failed (retried by the actor), failed for good, or never started (deadline passed in the queue). */
export type CallOutcome = 'ok' | 'retryable' | 'terminal' | 'expired';

/** Where a dead letter was filed: a partition inbox's dead stream or the ingest stream's. */
export type DeadLetterSource = 'inbox' | 'ingest';

/** Why a partition was handed back: the reason PartitionListener.released is given (rebalance, lost, shutdown, ...). */
export type ReleaseReason = string;

/** A snapshot of a worker, read when metrics are scraped and when /health is asked. */
export interface WorkerStatus {
  workerId: string;
  /** listen() finished and close() was not called. */
  running: boolean;
  ownedPartitions: number[];
  /** Live members in the registry at the last heartbeat. */
  members: number;
  /** When the last membership heartbeat succeeded (ms epoch); undefined before the first. */
  lastHeartbeatAt?: number;
  /** How long a silent member still counts as alive (PROPEL_MEMBER_TTL_MS). */
  memberTtlMs: number;
  calls: { running: number; queued: number };
}

/** The sink the runtime reports to. Every method must be cheap and must never throw. */
export interface RuntimeMetrics {
  /** False for the no-op sink: the runtime skips work done only for metrics (e.g. sampling inbox lag). */
  readonly enabled: boolean;
  /** `count` turns of one actor type came out of a commit this way. */
  turns(actorType: string, outcome: TurnOutcome, count: number): void;
  /** One commit script call of `turns` turns took `seconds`. */
  commitObserved(seconds: number, turns: number): void;
  /** A commit script call failed (LEASE_LOST, a Redis error): nothing of it was written. */
  commitFailed(code: string): void;
  deadLettered(source: DeadLetterSource, code: string): void;
  partitionAcquired(partition: number): void;
  partitionReleased(partition: number, reason: ReleaseReason): void;
  callFinished(component: string, outcome: CallOutcome, seconds?: number): void;
  timersFired(count: number): void;
  outboxRelayed(count: number): void;
  ingestRouted(count: number): void;
  /** An owned partition's inbox, sampled: entries not yet read by the group (null: Redis cannot tell), and read but unacknowledged. */
  inboxSampled(partition: number, lag: number | null, pending: number): void;
  /** The worker to read gauges from at scrape time (owned partitions, call load, heartbeat age). */
  watchWorker(status: () => WorkerStatus): void;
}

const nothing = (): void => undefined;

/** The default sink: reports nothing and costs nothing. */
export const NOOP_METRICS: RuntimeMetrics = Object.freeze({
  enabled: false,
  turns: nothing,
  commitObserved: nothing,
  commitFailed: nothing,
  deadLettered: nothing,
  partitionAcquired: nothing,
  partitionReleased: nothing,
  callFinished: nothing,
  timersFired: nothing,
  outboxRelayed: nothing,
  ingestRouted: nothing,
  inboxSampled: nothing,
  watchWorker: nothing,
});
