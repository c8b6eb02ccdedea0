import { Logger } from '@nestjs/common';
import { status } from '../../../common/ops';
import type { BacklogTotals, OpsContext, SystemStatus } from '../../../common/ops';
import { infoField } from '../../../common/redis/stream-info';
import { RingBuffer } from './ring-buffer';
import { settledWithin } from '../../../common/shutdown';

/** One point of the dashboard's time series: counters and backlog totals over every partition. */
export interface OpsSample extends BacklogTotals {
  at: number;
  /** Entries ever added to the partition inboxes (XINFO STREAM entries-added, summed); null before Redis 7. */
  received: number | null;
  /** Audit records ever written, one per message a committed turn decided: the committed work. */
  committed: number | null;
  /** Change of `received` / `committed` per second since the previous sample (null for the first one). */
  receivedPerSec: number | null;
  committedPerSec: number | null;
  members: number;
  unownedPartitions: number;
}

export interface OpsSamplerOptions {
  /** How often to sample (ms; default 1000). */
  intervalMs?: number;
  /** Samples kept (default 600: ten minutes at one a second). */
  capacity?: number;
}

/**
 * Per second between two readings of a monotonic counter. A counter that went down (its stream was deleted
 * and recreated) counts as no progress rather than a negative rate.
 */
export function ratePerSecond(prev: { at: number; value: number | null } | undefined, at: number, value: number | null): number | null {
  if (!prev || prev.value === null || value === null || at <= prev.at) return null;
  return (Math.max(0, value - prev.value) * 1000) / (at - prev.at);
}

/**
 * Entries ever added to the inboxes and audit streams of every partition (Redis 7's `entries-added`, which
 * trimming does not lower). One pipeline per partition: both streams share its hash tag, so this works on a
 * Cluster too. A stream nobody wrote yet counts 0; a Redis without the field gives null.
 */
export async function streamCounters(ctx: OpsContext): Promise<{ received: number | null; committed: number | null }> {
  const per = await Promise.all(
    [...Array(ctx.partitions).keys()].map(async (p) => {
      const replies = (await ctx.redis.pipeline().xinfo('STREAM', ctx.keys.inbox(p)).xinfo('STREAM', ctx.keys.audit(p)).exec()) ?? [];
      return [0, 1].map((i) => {
        const [err, reply] = replies[i] ?? [null, null];
        if (err) {
          if (/no such key/i.test(err.message)) return 0;
          throw err;
        }
        const added = infoField(reply, 'entries-added');
        return added === undefined || added === null ? null : Number(added);
      });
    }),
  );
  const sum = (i: number) => per.reduce<number | null>((n, counts) => (n === null || counts[i] === null ? null : n + counts[i]!), 0);
  return { received: sum(0), committed: sum(1) };
}

/**
 * Samples the system once a second into a bounded ring buffer (the dashboard's charts) and keeps the latest
 * full status (its tables), so any number of open dashboards cost Redis one status read a second per gateway.
 * Ticks never overlap: the next one is scheduled when the previous one ends.
 */
export class OpsSampler {
  private readonly logger = new Logger('OpsSampler');
  private readonly samples: RingBuffer<OpsSample>;
  readonly intervalMs: number;
  private latest: SystemStatus | null = null;
  private lastError: { at: number; message: string } | null = null;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<unknown> | undefined;
  private running = false;

  constructor(
    private readonly ctx: OpsContext,
    options: OpsSamplerOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 1000;
    this.samples = new RingBuffer<OpsSample>(options.capacity ?? 600);
  }

  get capacity(): number {
    return this.samples.capacity;
  }

  /** Starts sampling (the first sample at once). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  /** Stops sampling and waits for a tick in progress, so nothing reads Redis after the gateway closed it. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    // A sample read can wait forever while Redis is gone (queued offline); shutdown does not wait past a second.
    await settledWithin(this.inFlight, 1_000);
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      const started = Date.now();
      this.inFlight = this.tick().finally(() => {
        if (this.running) this.schedule(Math.max(0, this.intervalMs - (Date.now() - started)));
      });
    }, delayMs);
    // The sampler alone must not keep a process alive.
    this.timer.unref();
  }

  /** Takes one sample; a failure (Redis down) is kept for the dashboard to show and leaves a gap in the series. */
  async tick(): Promise<OpsSample | null> {
    try {
      const [current, counters] = await Promise.all([status(this.ctx), streamCounters(this.ctx)]);
      const prev = this.samples.last();
      const at = current.at;
      const t = current.totals;
      const sample: OpsSample = {
        at,
        received: counters.received,
        committed: counters.committed,
        receivedPerSec: ratePerSecond(prev && { at: prev.at, value: prev.received }, at, counters.received),
        committedPerSec: ratePerSecond(prev && { at: prev.at, value: prev.committed }, at, counters.committed),
        lag: t.lag,
        pending: t.pending,
        due: t.due,
        overdue: t.overdue,
        outbox: t.outbox,
        dead: t.dead + current.streams.reduce((n, s) => n + s.dead, 0),
        manual: t.manual,
        members: t.members,
        unownedPartitions: t.unownedPartitions,
      };
      this.samples.push(sample);
      this.latest = current;
      if (this.lastError) this.logger.log('sampling works again');
      this.lastError = null;
      return sample;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      // One line per outage, not one a second.
      if (!this.lastError) this.logger.warn(`sampling failed: ${message}`);
      this.lastError = { at: Date.now(), message };
      return null;
    }
  }

  /** Samples taken after `since` (ms), oldest first; every sample kept when `since` is not given. */
  series(since?: number): OpsSample[] {
    const all = this.samples.toArray();
    return since === undefined ? all : all.filter((s) => s.at > since);
  }

  /** The latest full status and when it was read, and the last sampling error while sampling fails. */
  snapshot(): { status: SystemStatus | null; error: { at: number; message: string } | null } {
    return { status: this.latest, error: this.lastError };
  }
}
