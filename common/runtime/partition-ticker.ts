import { Logger } from '@nestjs/common';
import { ENVELOPE_VERSIONS, GROUPS } from '../constants';
import type { RuntimeConfig } from '../config';
import { Keys } from '../keys';
import type { RedisClient } from '../redis/connection';
import { scripts } from '../redis/scripts';
import { NOOP_METRICS, RuntimeMetrics } from '../observability/runtime-metrics';
import { trimAuditStreams } from './audit-retention';


/**
 * Per owned partition, every tick: fire due timers into the inbox (the due index is the durable timer
 * store) and relay the outbox to other partitions' inboxes and named streams. The relay is at-least-once;
 * receivers drop duplicates by envelope id. Every `auditTrimEveryMs`, off the tick's path, it also trims the
 * owned partitions' audit streams to the audit retention.
 */
export class PartitionTicker {
  private readonly logger = new Logger('PartitionTicker');
  private readonly partitions = new Set<number>();
  private readonly relaying = new Map<number, Promise<void>>();
  private readonly again = new Set<number>();
  /**
   * Partitions whose last relay failed part-way: entries it had read stay pending for this consumer, and a
   * read with '>' never returns them again. The next relay there starts from '0' (our pending entries first).
   */
  private readonly unsettled = new Set<number>();
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private lastAuditTrim = 0;
  private auditTrim?: Promise<void>;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly config: RuntimeConfig,
    private readonly consumer: string,
    private readonly metrics: RuntimeMetrics = NOOP_METRICS,
  ) {}

  start(): void {
    const loop = () => {
      if (this.stopped) return;
      this.tick().catch((err) => this.logger.warn(`tick failed: ${(err as Error).message}`)).finally(() => {
        if (!this.stopped) this.timer = setTimeout(loop, this.config.tickMs);
      });
    };
    this.timer = setTimeout(loop, this.config.tickMs);
  }

  async add(p: number): Promise<void> {
    await this.redis.xgroup('CREATE', this.keys.outbox(p), GROUPS.relay, '0', 'MKSTREAM').catch((err: Error) => {
      if (!err.message.includes('BUSYGROUP')) throw err;
    });
    this.partitions.add(p);
    this.kick(p, '0');
  }

  async remove(p: number): Promise<void> {
    this.partitions.delete(p);
    await this.relaying.get(p);
    this.unsettled.delete(p);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await Promise.allSettled([...this.relaying.values(), this.auditTrim]);
  }

  /** Relays a partition's outbox now (a commit just wrote to it) instead of on the next tick. */
  kick(p: number, from = '>'): void {
    if (!this.partitions.has(p)) return;
    if (this.relaying.has(p)) {
      this.again.add(p);
      return;
    }
    const start = this.unsettled.has(p) ? '0' : from;
    const run = this.relay(p, start)
      .then(() => {
        if (start === '0') this.unsettled.delete(p);
      })
      .catch((err) => {
        this.unsettled.add(p);
        this.logger.warn(`relay of partition ${p} failed (its read entries are relayed again on the next tick): ${(err as Error).message}`);
      })
      .finally(() => {
        this.relaying.delete(p);
        if (this.again.delete(p)) this.kick(p);
      });
    this.relaying.set(p, run);
  }

  private async tick(): Promise<void> {
    const now = Date.now();
    const owned = [...this.partitions];
    const fired = await Promise.all(
      owned.map((p) =>
        scripts(this.redis).fireTimers(this.keys.due(p), this.keys.inbox(p), now, this.config.batchSize, this.config.timerRedeliveryMs, ENVELOPE_VERSIONS[0]),
      ),
    );
    const total = fired.reduce((sum, n) => sum + Number(n), 0);
    if (total > 0) this.metrics.timersFired(total);
    for (const p of owned) this.kick(p);
    this.trimAudit(owned, now);
  }

  /** Starts a trim of the owned partitions' audit streams when one is due; a slow trim never delays timers. */
  private trimAudit(owned: number[], now: number): void {
    const retentionMs = this.config.auditRetentionHours * 3_600_000;
    if (!(retentionMs > 0) || this.auditTrim || now - this.lastAuditTrim < this.config.auditTrimEveryMs) return;
    this.lastAuditTrim = now;
    this.auditTrim = trimAuditStreams(this.redis, this.keys, owned, retentionMs, now)
      .then((removed) => {
        if (removed > 0) this.logger.debug(`trimmed ${removed} audit records older than ${this.config.auditRetentionHours} h`);
      })
      .catch((err) => this.logger.warn(`audit retention trim failed: ${(err as Error).message}`))
      .finally(() => {
        this.auditTrim = undefined;
      });
  }

  /** Reads the outbox (from '0': our own unacknowledged history first, after a take-over) and forwards it. */
  private async relay(p: number, from: string): Promise<void> {
    const outbox = this.keys.outbox(p);
    if (from === '0') {
      // Claim what a previous owner read but did not forward; then our own pending ones come with '0'.
      await this.redis.xautoclaim(outbox, GROUPS.relay, this.consumer, 0, '0-0', 'COUNT', 10_000).catch(() => undefined);
    }
    for (;;) {
      const reply = (await this.redis.xreadgroupBuffer('GROUP', GROUPS.relay, this.consumer, 'COUNT', this.config.batchSize, 'STREAMS', outbox, from)) as Array<[Buffer, Array<[Buffer, Buffer[] | null]>]> | null;
      const entries = reply?.[0]?.[1] ?? [];
      if (entries.length === 0) return;
      const ids: string[] = [];
      const writes: Promise<unknown>[] = [];
      for (const [idBuf, fields] of entries) {
        ids.push(idBuf.toString());
        if (!fields) continue;
        const stream = fields[1]?.toString();
        const envelope = fields[3];
        if (stream && envelope) writes.push(this.redis.xadd(stream, '*', 'e', envelope));
      }
      await Promise.all(writes);
      await this.redis.multi().xack(outbox, GROUPS.relay, ...ids).xdel(outbox, ...ids).exec();
      if (writes.length) this.metrics.outboxRelayed(writes.length);
      if (entries.length < this.config.batchSize && from === '>') return;
      if (from === '0' && entries.length < this.config.batchSize) from = '>';
    }
  }
}

