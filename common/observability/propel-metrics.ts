import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CallOutcome, DeadLetterSource, ReleaseReason, RuntimeMetrics, TurnOutcome, WorkerStatus } from './runtime-metrics';

/** Seconds: one commit script call is usually 1–20 ms; the tail shows a struggling Redis. */
const COMMIT_SECONDS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const BATCH_TURNS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];
/** Seconds: call effects reach other services; their timeout defaults to 30 s. */
const CALL_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const HTTP_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface PropelMetricsOptions {
  /** The app's name, added as the label `app` to every series (worker, gateway, notifier, sweeper, ...). */
  app: string;
  /** Node.js process metrics (CPU, memory, event-loop lag, GC); on by default. */
  defaultMetrics?: boolean;
}

/**
 * One Prometheus registry per app process with the runtime's metrics (it is the runtime's `RuntimeMetrics`
 * sink) and, unless turned off, Node.js process metrics. Each instance has a registry of its own, so several
 * apps in one process (tests) never collide; apps add their own metrics to `registry`.
 */
export class PropelMetrics implements RuntimeMetrics {
  readonly enabled = true;
  readonly registry = new Registry();
  private worker?: () => WorkerStatus;
  private http?: { requests: Counter<'method' | 'route' | 'status'>; duration: Histogram<'method' | 'route'> };

  private readonly turnsCommitted: Counter<'actor'>;
  private readonly turnsDuplicate: Counter<'actor'>;
  private readonly staleRefusals: Counter<'actor'>;
  private readonly commitSeconds: Histogram;
  private readonly commitTurns: Histogram;
  private readonly commitFailures: Counter<'code'>;
  private readonly deadLetters: Counter<'source' | 'code'>;
  private readonly acquired: Counter;
  private readonly released: Counter<'reason'>;
  private readonly calls: Counter<'component' | 'outcome'>;
  private readonly callSeconds: Histogram<'component'>;
  private readonly timers: Counter;
  private readonly relayed: Counter;
  private readonly routed: Counter;
  private readonly inboxLag: Gauge<'partition'>;
  private readonly inboxPending: Gauge<'partition'>;
  /** Per-type children of the turn counters, so the commit path does not rebuild label sets. */
  private readonly turnChildren = new Map<string, Record<TurnOutcome, { inc(n: number): void }>>();

  constructor(readonly options: PropelMetricsOptions) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ app: options.app });
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });

    this.turnsCommitted = new Counter({ name: 'propel_turns_committed_total', help: 'Actor turns committed with a new version, by actor type', labelNames: ['actor'], registers });
    this.turnsDuplicate = new Counter({ name: 'propel_turns_duplicate_total', help: 'Messages acknowledged without a new version because the actor had already applied them, by actor type', labelNames: ['actor'], registers });
    this.staleRefusals = new Counter({ name: 'propel_stale_version_refusals_total', help: 'Turns the commit refused because they were decided on a stale version (decided again after a reload), by actor type', labelNames: ['actor'], registers });
    this.commitSeconds = new Histogram({ name: 'propel_commit_duration_seconds', help: 'Latency of one commit script call (a batch of turns of one partition)', buckets: COMMIT_SECONDS, registers });
    this.commitTurns = new Histogram({ name: 'propel_commit_batch_turns', help: 'Turns per commit script call', buckets: BATCH_TURNS, registers });
    this.commitFailures = new Counter({ name: 'propel_commit_failures_total', help: 'Commit script calls that failed and wrote nothing, by error code (LEASE_LOST: the partition moved)', labelNames: ['code'], registers });
    this.deadLetters = new Counter({ name: 'propel_dead_letters_total', help: 'Entries dead-lettered, by source stream (inbox, ingest) and code', labelNames: ['source', 'code'], registers });
    this.acquired = new Counter({ name: 'propel_partitions_acquired_total', help: 'Partitions this process took over', registers });
    this.released = new Counter({ name: 'propel_partitions_released_total', help: 'Partitions this process handed back or lost, by reason (rebalance, lost, shutdown)', labelNames: ['reason'], registers });
    this.calls = new Counter({ name: 'propel_calls_total', help: 'Call effects finished, by component and outcome (ok, retryable, terminal, expired)', labelNames: ['component', 'outcome'], registers });
    this.callSeconds = new Histogram({ name: 'propel_call_duration_seconds', help: 'Time a component took to answer a call effect, by component', labelNames: ['component'], buckets: CALL_SECONDS, registers });
    this.timers = new Counter({ name: 'propel_timers_fired_total', help: 'Due timers fired into partition inboxes', registers });
    this.relayed = new Counter({ name: 'propel_outbox_relayed_total', help: 'Outbox entries relayed to other partitions and named streams', registers });
    this.routed = new Counter({ name: 'propel_ingest_routed_total', help: 'Ingest stream entries routed to an actor inbox', registers });
    this.inboxLag = new Gauge({ name: 'propel_inbox_lag_entries', help: 'Entries of an owned partition inbox not yet read by the actors group (sampled; NaN when Redis cannot tell)', labelNames: ['partition'], registers });
    this.inboxPending = new Gauge({ name: 'propel_inbox_pending_entries', help: 'Entries of an owned partition inbox read but not yet acknowledged (sampled)', labelNames: ['partition'], registers });

    const status = () => this.worker?.();
    new Gauge({
      name: 'propel_partitions_owned', help: 'Partitions this worker owns', registers,
      collect() {
        const s = status();
        if (s) this.set(s.ownedPartitions.length);
      },
    });
    new Gauge({
      name: 'propel_members_live', help: 'Live workers in the membership registry at the last heartbeat', registers,
      collect() {
        const s = status();
        if (s) this.set(s.members);
      },
    });
    new Gauge({
      name: 'propel_membership_heartbeat_age_seconds', help: 'Time since the last successful membership heartbeat (past the member TTL the worker counts as gone)', registers,
      collect() {
        const s = status();
        if (s) this.set(s.lastHeartbeatAt === undefined ? Number.NaN : (Date.now() - s.lastHeartbeatAt) / 1000);
      },
    });
    new Gauge({
      name: 'propel_call_effects_running', help: 'Actors whose call effects run right now', registers,
      collect() {
        const s = status();
        if (s) this.set(s.calls.running);
      },
    });
    new Gauge({
      name: 'propel_call_effects_queued', help: 'Actors whose call effects wait for a slot (past PROPEL_MAX_QUEUED_CALLS the worker stops reading)', registers,
      collect() {
        const s = status();
        if (s) this.set(s.calls.queued);
      },
    });
  }

  watchWorker(status: () => WorkerStatus): void {
    this.worker = status;
  }

  turns(actorType: string, outcome: TurnOutcome, count: number): void {
    let children = this.turnChildren.get(actorType);
    if (!children) {
      children = {
        committed: this.turnsCommitted.labels(actorType),
        duplicate: this.turnsDuplicate.labels(actorType),
        stale: this.staleRefusals.labels(actorType),
      };
      this.turnChildren.set(actorType, children);
    }
    children[outcome].inc(count);
  }

  commitObserved(seconds: number, turns: number): void {
    this.commitSeconds.observe(seconds);
    this.commitTurns.observe(turns);
  }

  commitFailed(code: string): void {
    this.commitFailures.inc({ code });
  }

  deadLettered(source: DeadLetterSource, code: string): void {
    this.deadLetters.inc({ source, code });
  }

  partitionAcquired(): void {
    this.acquired.inc();
  }

  partitionReleased(partition: number, reason: ReleaseReason): void {
    this.released.inc({ reason });
    // Only owned partitions are sampled: a handed-back one must not keep reporting its last lag.
    this.inboxLag.remove({ partition: String(partition) });
    this.inboxPending.remove({ partition: String(partition) });
  }

  callFinished(component: string, outcome: CallOutcome, seconds?: number): void {
    this.calls.inc({ component, outcome });
    if (seconds !== undefined) this.callSeconds.observe({ component }, seconds);
  }

  timersFired(count: number): void {
    this.timers.inc(count);
  }

  outboxRelayed(count: number): void {
    this.relayed.inc(count);
  }

  ingestRouted(count: number): void {
    this.routed.inc(count);
  }

  inboxSampled(partition: number, lag: number | null, pending: number): void {
    const labels = { partition: String(partition) };
    this.inboxLag.set(labels, lag ?? Number.NaN);
    this.inboxPending.set(labels, pending);
  }

  /** One HTTP request answered (the route pattern, never the raw path, keeps the label set bounded). */
  httpRequest(method: string, route: string, status: number, seconds: number): void {
    this.http ??= {
      requests: new Counter({ name: 'propel_http_requests_total', help: 'HTTP requests answered, by method, route pattern and status', labelNames: ['method', 'route', 'status'], registers: [this.registry] }),
      duration: new Histogram({ name: 'propel_http_request_duration_seconds', help: 'HTTP request latency, by method and route pattern', labelNames: ['method', 'route'], buckets: HTTP_SECONDS, registers: [this.registry] }),
    };
    this.http.requests.inc({ method, route, status: String(status) });
    this.http.duration.observe({ method, route }, seconds);
  }

  /** The exposition text, as /metrics answers it. */
  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
