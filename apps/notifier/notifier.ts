import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '@nestjs/common';
import { DEFAULTS, defaultWorkerId, duplicateForBlocking, type RedisClient } from '../../common';
import { commandBuffer } from '../../common/redis/connection';
import type { NotificationChannel } from './channel';
import { deliverEntry, type DeliveryContext, type RawEntry } from './delivery';
import { DeliveryState, NOTIFIER_GROUP, NotifierKeys } from './delivery-state';
import type { NotifierConfig } from './notifier.config';
import { NOOP_NOTIFIER_METRICS, type NotifierMetrics } from './notifier.metrics';

/** What a Notifier is built from; the command connection must come from `createRedis` (scripts registered). */
export interface NotifierDeps {
  redis: RedisClient;
  namespace: string;
  config: NotifierConfig;
  channels: NotificationChannel[];
  /** Consumer name in the `notifier` group; defaults to host-pid-random. */
  consumer?: string;
  maxEntryBytes?: number;
  deadMaxLen?: number;
  /** Sends, deliveries and dead letters are counted here (see `notifierMetrics`); nothing by default. */
  metrics?: NotifierMetrics;
}

type StreamReply = Array<[Buffer, Array<[Buffer, Buffer[] | null]>]> | null;

/**
 * Consumes the notifications stream in the `notifier` consumer group and delivers each entry through its
 * channels (see `deliverEntry`). Entries run concurrently, at most `maxInFlight` at once, so one entry's
 * backoff never holds up the others; entries a crashed notifier left pending are claimed after `claimIdleMs`.
 * It never writes anything but its own delivery state, acks and dead letters: the grant is not its business.
 */
export class Notifier {
  readonly consumer: string;
  readonly keys: NotifierKeys;
  private readonly logger = new Logger('Notifier');
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly stopping = new AbortController();
  private readonly sends = new AbortController();
  private readonly ctx: DeliveryContext;
  private conn?: RedisClient;
  private loop?: Promise<void>;
  private running = false;
  private slotFreed?: () => void;
  private claimCursor = '0-0';

  constructor(private readonly deps: NotifierDeps) {
    this.consumer = deps.consumer ?? defaultWorkerId();
    this.keys = new NotifierKeys(deps.namespace);
    const { redis, config } = deps;
    const metrics = deps.metrics ?? NOOP_NOTIFIER_METRICS;
    this.ctx = {
      redis, config, keys: this.keys, consumer: this.consumer, logger: this.logger,
      channels: new Map(deps.channels.map((c) => [c.name, c])),
      state: new DeliveryState(redis, this.keys, config.deliveredTtlS),
      maxEntryBytes: deps.maxEntryBytes ?? DEFAULTS.maxEntryBytes,
      deadMaxLen: deps.deadMaxLen ?? DEFAULTS.deadMaxLen,
      stopping: this.stopping.signal,
      sends: this.sends.signal,
      metrics,
    };
    metrics.watch(() => this.inFlight.size);
  }

  /** Whether the read loop runs (started and not stopping): the notifier's health. */
  isRunning(): boolean {
    return this.running;
  }

  /** Entries being delivered right now (retrying ones included). */
  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Creates the group (from the start of the stream, so nothing emitted earlier is missed) and starts reading. */
  async start(): Promise<void> {
    try {
      await this.deps.redis.xgroup('CREATE', this.keys.stream(), NOTIFIER_GROUP, '0', 'MKSTREAM');
    } catch (err) {
      if (!String((err as Error).message).includes('BUSYGROUP')) throw err;
    }
    this.conn = duplicateForBlocking(this.deps.redis);
    this.running = true;
    this.loop = this.run();
  }

  /**
   * Stops reading, ends backoffs (those entries stay pending for another notifier), waits for sends in
   * progress up to `drainTimeoutMs`, then aborts them. Never acknowledges what was not delivered.
   */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.stopping.abort();
    this.slotFreed?.();
    this.conn?.disconnect();
    // One deadline for both: a loop stuck on an unreachable Redis must not hold the process forever either.
    const drained = (async () => {
      await this.loop?.catch(() => undefined);
      await Promise.allSettled([...this.inFlight.values()]);
    })();
    const timeout = sleep(this.deps.config.drainTimeoutMs, 'timeout' as const, { ref: false });
    if ((await Promise.race([drained, timeout])) === 'timeout') {
      this.logger.warn(`shutdown not drained within ${this.deps.config.drainTimeoutMs} ms (sends in progress or Redis unreachable): ${this.inFlight.size} entries aborted, left pending`);
      this.sends.abort();
      await Promise.race([drained, sleep(1000, undefined, { ref: false })]);
    }
  }

  private async run(): Promise<void> {
    const { config } = this.deps;
    const stream = this.keys.stream();
    // Our own pending entries first (a restart under the same consumer name), paged, then new ones.
    let from = '0';
    let claimAt = 0;
    while (this.running) {
      try {
        await this.waitForSlot();
        if (!this.running) break;
        if (Date.now() >= claimAt) {
          claimAt = Date.now() + config.claimEveryMs;
          await this.claim();
        }
        const free = config.maxInFlight - this.inFlight.size;
        if (free <= 0) continue;
        const count = Math.min(config.batchSize, free);
        const reply = (await this.conn!.xreadgroupBuffer('GROUP', NOTIFIER_GROUP, this.consumer, 'COUNT', count, 'BLOCK', from === '>' ? config.blockMs : 1, 'STREAMS', stream, from)) as StreamReply;
        const entries = reply?.[0]?.[1] ?? [];
        if (from !== '>') {
          if (entries.length === 0) from = '>';
          else from = entries[entries.length - 1][0].toString();
          for (const [id, fields] of entries) await this.dispatch(id.toString(), fields, 0);
        } else {
          for (const [id, fields] of entries) await this.dispatch(id.toString(), fields, 1);
        }
      } catch (err) {
        if (!this.running) break;
        this.logger.warn(`notifications read failed: ${(err as Error).message}`);
        await sleep(200);
      }
    }
  }

  /** Takes over entries idle longer than claimIdleMs (a crashed or stopped notifier's), as slots allow. */
  private async claim(): Promise<void> {
    const free = this.deps.config.maxInFlight - this.inFlight.size;
    if (free <= 0) return;
    const [next, claimed] = await commandBuffer<[Buffer, Array<[Buffer, Buffer[] | null]>]>(
      this.deps.redis, 'XAUTOCLAIM', this.keys.stream(), NOTIFIER_GROUP, this.consumer, this.deps.config.claimIdleMs, this.claimCursor, 'COUNT', free,
    );
    this.claimCursor = next.toString();
    for (const [id, fields] of claimed) await this.dispatch(id.toString(), fields, 0);
  }

  /** Starts one entry's delivery; `deliveries` 0 means "look it up" (history reads and claims). */
  private async dispatch(id: string, fields: Buffer[] | null, deliveries: number): Promise<void> {
    if (this.inFlight.has(id)) return; // already ours and retrying
    if (!fields) {
      // Deleted from the stream (trimmed) while pending: nothing left to deliver.
      await this.deps.redis.xack(this.keys.stream(), NOTIFIER_GROUP, id);
      return;
    }
    if (deliveries === 0) deliveries = await this.deliveryCount(id);
    const work = deliverEntry(this.ctx, { id, fields, deliveries } satisfies RawEntry)
      .catch((err) => this.logger.error(`notification entry ${id} failed unexpectedly: ${(err as Error).message}`))
      .finally(() => {
        this.inFlight.delete(id);
        this.slotFreed?.();
      });
    this.inFlight.set(id, work);
  }

  private async deliveryCount(id: string): Promise<number> {
    const pending = (await this.deps.redis.xpending(this.keys.stream(), NOTIFIER_GROUP, id, id, 1)) as Array<[string, string, number, number]>;
    return Number(pending[0]?.[3] ?? 1);
  }

  /** Backpressure: waits while maxInFlight entries are being delivered. */
  private async waitForSlot(): Promise<void> {
    while (this.running && this.inFlight.size >= this.deps.config.maxInFlight) {
      await new Promise<void>((resolve) => (this.slotFreed = resolve));
      this.slotFreed = undefined;
    }
  }
}
