/** Defaults and user-facing messages of the runtime, kept in one place (see the Configuration section of README.md). */
export const DEFAULTS = {
  namespace: 'propel',
  partitions: 16,
  /** Entries read per stream per XREADGROUP call. */
  batchSize: 200,
  /** How long a blocking read waits before it loops (ms); shutdown unblocks it sooner. */
  blockMs: 1000,
  /** Entries dispatched but not yet settled before the reader pauses (backpressure). */
  maxInFlight: 4000,
  /** Handler attempts (Redis delivery count included) before an entry is dead-lettered. */
  maxDeliveries: 5,
  /** First in-process retry delay after a failed handler; doubles per attempt. */
  retryBaseMs: 50,
  retryMaxMs: 2000,
  /** Membership heartbeat and partition lease. */
  heartbeatMs: 500,
  memberTtlMs: 3000,
  leaseTtlMs: 3000,
  /** Idle time after which a pending entry (a dead or disconnected consumer's) is claimed. */
  claimIdleMs: 30_000,
  /** How often the owner fires due timers and reclaims idle pending entries. */
  tickMs: 100,
  /** A fired timer is re-armed this far out until the timer turn commits (lost-turn safety net). */
  timerRedeliveryMs: 30_000,
  /** Actor lease (lock_time) held with redlock while a call effect runs; extended while it runs. */
  actorLeaseMs: 10_000,
  /** A call effect whose reply has not arrived by then is answered with CALL_TIMEOUT. */
  callTimeoutMs: 30_000,
  /** Actors whose call effects run at once per worker; the others wait in a queue, in order. */
  maxConcurrentCalls: 256,
  /** Queued call effects beyond which the worker stops reading new entries until the queue shrinks. */
  maxQueuedCalls: 10_000,
  /** Streams are trimmed approximately to these lengths in the scripts that append to them. */
  auditMaxLen: 100_000,
  deadMaxLen: 100_000,
  outboxMaxLen: 100_000,
  /** Audit records older than this (hours) are trimmed from the audit streams by their partition's owner; 0 keeps them. */
  auditRetentionHours: 168,
  /** How often an owner trims its partitions' audit streams to the retention. */
  auditTrimEveryMs: 60_000,
  /** Bounded per-actor memory: history entries and remembered message ids (dedup window). */
  historyLimit: 50,
  seenLimit: 32,
  /** Actor states cached in a worker (LRU). The version check keeps a stale cache harmless. */
  stateCacheSize: 100_000,
  /** Largest stream entry the decoders accept, in bytes. */
  maxEntryBytes: 256 * 1024,
  /** Longest id that may become part of a key. */
  maxIdLength: 200,
  /** Graceful shutdown waits this long for in-flight work. */
  drainTimeoutMs: 10_000,
  /** Sweepers (apps/sweeper): how often the leader splits the partitions into sweep tasks. */
  sweepTickMs: 1000,
  /** An actor counts as stalled once its due-index score passed this long ago (longer than the owner's tick). */
  sweepGraceMs: 5000,
  /** Re-drives of one actor without progress before it goes to manual intervention. */
  sweepMaxRetries: 5,
  /** Backoff before re-drive n is sweepBackoffBaseMs × 2^(n−1), capped, ± sweepJitter of itself. */
  sweepBackoffBaseMs: 1000,
  sweepBackoffCapMs: 60_000,
  sweepJitter: 0.2,
  /** Due-index entries a loader reads per page, and at most this many actors per partition per tick. */
  sweepPageSize: 500,
  sweepMaxPerTask: 2000,
  /** Partitions per sweep task. */
  sweepPartitionsPerTask: 1,
  /** The splitter's leader lease, renewed every tick. */
  sweepLeaderTtlMs: 3000,
  /** The actor lease (lock_time) an executor holds while it re-checks and re-drives one actor. */
  sweepActorLeaseMs: 2000,
  /** Sweep tasks and items pending this long (a dead sweeper's) are claimed by another sweeper. */
  sweepClaimIdleMs: 10_000,
  /** Execution items one executor works on at once. */
  sweepConcurrency: 128,
  /** The sweep task and item streams are trimmed to about this length (they are derived from the due index). */
  sweepStreamMaxLen: 100_000,
} as const;

/** Envelope schema versions this build can decode; the first is the one it writes. */
export const ENVELOPE_VERSIONS = [1] as const;

/** Consumer group names. */
export const GROUPS = {
  actors: 'actors',
  relay: 'relay',
  router: 'router',
  /** Sweepers: loaders read sweep tasks, executors read execution items. */
  sweepLoaders: 'sweep-loaders',
  sweepExecutors: 'sweep-executors',
} as const;
