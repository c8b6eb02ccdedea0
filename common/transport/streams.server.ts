import { CustomTransportStrategy, Server } from '@nestjs/microservices';
import { isObservable, lastValueFrom } from 'rxjs';
import { encodeEnvelope, Envelope } from '../codec';
import { compileConfig, PropelConfig, PropelOptions } from '../config';
import { GROUPS } from '../constants';
import { describeError, ErrorCode, TerminalError } from '../errors';
import { Keys } from '../keys';
import type { ActorDefinition } from '../actor/define-actor';
import type { ActorDelivery } from '../actor/turn';
import { createRedis, RedisClient } from '../redis/connection';
import { ACTOR_PREFIX, ActorHost, Component } from '../runtime/actor-host';
import { RedisActorStore } from '../runtime/actor-store';
import { IngestResolver, IngestRoute, IngestRouter } from '../runtime/ingest-router';
import { defaultWorkerId, Membership } from '../runtime/membership';
import { PartitionManager } from '../runtime/partition-manager';
import { PartitionTicker } from '../runtime/partition-ticker';
import { MeteredActorStore } from '../runtime/metered-store';
import { NOOP_METRICS, RuntimeMetrics, WorkerStatus } from '../observability/runtime-metrics';
import { PartitionConsumer } from './partition-consumer';
import { StreamContext, StreamEntry } from './stream-context';

export interface RedisStreamsServerOptions {
  /** Raw options (compiled here) or an already compiled config. */
  config?: PropelOptions | PropelConfig;
  /** Actor types this worker hosts; each gets the pattern `actor:<type>`. */
  actors?: ActorDefinition<any, any>[];
  /** Components that `call` effects name. */
  components?: Record<string, Component>;
  /** Routing rules for the ingest stream; `false` runs no ingest router in this process. */
  ingest?: IngestRoute[] | false;
  /** Resolves ingest events no route names (the task center's completion receipts) to their actors. */
  ingestResolver?: IngestResolver;
  /** Where the runtime reports its metrics (a PropelMetrics); nothing is measured without one. */
  metrics?: RuntimeMetrics;
}

/**
 * A NestJS transport over Redis Streams. It owns partitions by lease (rendezvous hashing over the live
 * workers), consumes their inbox streams through one consumer group, and dispatches each entry to the
 * `@EventPattern` / `@MessagePattern` handler of its envelope's pattern, or to the actor host for
 * `actor:<type>`. A handler that fails is retried and finally dead-lettered; it never leads to XACK.
 */
export class RedisStreamsServer extends Server implements CustomTransportStrategy {
  readonly config: PropelConfig;
  readonly keys: Keys;
  readonly workerId: string;
  private redis?: RedisClient;
  private consumer?: PartitionConsumer;
  private partitions?: PartitionManager;
  private ticker?: PartitionTicker;
  private ingest?: IngestRouter;
  private host?: ActorHost;
  private closing?: Promise<void>;
  private started = false;
  private readonly metrics: RuntimeMetrics;
  private readonly handlerCache = new Map<string, ReturnType<Server['getHandlerByPattern']>>();

  constructor(private readonly options: RedisStreamsServerOptions = {}) {
    super();
    // Compiling is idempotent, so an already compiled config passes through unchanged.
    this.config = compileConfig(options.config as PropelOptions);
    this.keys = new Keys(this.config.runtime.namespace);
    this.workerId = this.config.runtime.workerId ?? defaultWorkerId();
    this.metrics = options.metrics ?? NOOP_METRICS;
    this.metrics.watchWorker(() => this.workerStatus());
  }

  listen(callback: (err?: unknown) => void): void {
    this.start().then(() => callback(), (err) => callback(err));
  }

  private async start(): Promise<void> {
    const rt = this.config.runtime;
    const redis = (this.redis = createRedis(this.config.redis, `propel-worker:${this.workerId}`));
    const redisStore = new RedisActorStore(redis, this.keys, GROUPS.actors, rt.auditMaxLen, rt.historyLimit);
    const store = this.metrics.enabled ? new MeteredActorStore(redisStore, this.metrics) : redisStore;
    const ticker = (this.ticker = new PartitionTicker(redis, this.keys, rt, this.workerId, this.metrics));
    const actors = new Map((this.options.actors ?? []).map((a) => [a.type, a]));
    this.host = new ActorHost(redis, this.keys, store, rt, actors, this.options.components ?? {}, () => this.workerId, (p) => ticker.kick(p), this.metrics);
    for (const type of actors.keys()) {
      this.addHandler(`actor:${type}`, (data: ActorDelivery, ctx: StreamContext) => this.host!.deliver(type, data, ctx.getEnvelope(), ctx), true);
    }
    const consumer = (this.consumer = new PartitionConsumer({
      redis,
      group: GROUPS.actors,
      consumer: this.workerId,
      config: rt,
      streamOf: (p) => this.keys.inbox(p),
      deadOf: (p) => this.keys.dead(p),
      handle: (entry, envelope, ctx) => this.dispatch(entry, envelope, ctx),
      // Actor entries without a reply address take the batched fast path; the rest go through Nest handlers.
      batchable: (envelope) => !envelope.replyTo && envelope.pattern.startsWith(ACTOR_PREFIX) && actors.has(envelope.pattern.slice(ACTOR_PREFIX.length)),
      handleBatch: (p, items) => this.host!.deliverBatch(p, items),
      onLeaseLost: (p) => void this.partitions?.lost(p),
      capacity: () => this.host!.callCapacity(),
      metrics: this.metrics,
    }));
    const membership = new Membership(redis, this.keys, this.workerId, rt.memberTtlMs);
    this.partitions = new PartitionManager(redis, this.keys, membership, rt.partitions, rt.leaseTtlMs, rt.heartbeatMs, {
      acquired: async (p) => {
        this.host!.invalidate(p);
        await consumer.addPartition(p);
        await ticker.add(p);
        this.logger.log(`partition ${p} taken`);
        this.metrics.partitionAcquired(p);
      },
      released: async (p, reason) => {
        await Promise.all([consumer.removePartition(p), ticker.remove(p)]);
        this.host!.invalidate(p);
        this.logger.log(`partition ${p} released (${reason})`);
        this.metrics.partitionReleased(p, reason);
      },
    });
    consumer.start();
    ticker.start();
    await this.partitions.start();
    if (this.options.ingest !== false) {
      this.ingest = new IngestRouter(redis, this.keys, rt, this.workerId, this.options.ingest ?? [], this.metrics, this.options.ingestResolver);
      await this.ingest.start();
    }
    this.started = true;
    this.logger.log(`worker ${this.workerId} up: ${rt.partitions} partitions, owns [${this.partitions.ownedPartitions().join(', ')}]`);
  }

  /** Runs the handler of the entry's pattern; resolves only when it succeeded. */
  private async dispatch(entry: StreamEntry, envelope: Envelope, ctx: StreamContext): Promise<void> {
    const handler = this.handlerFor(envelope.pattern);
    if (!handler) throw new TerminalError(ErrorCode.NoHandler, `no handler for pattern ${JSON.stringify(envelope.pattern).slice(0, 120)} on this worker`);
    let result: unknown;
    try {
      result = await handler(envelope.data, ctx);
      if (isObservable(result)) result = await lastValueFrom(result, { defaultValue: undefined });
    } catch (err) {
      if (envelope.replyTo && (err instanceof TerminalError || entry.deliveries >= this.config.runtime.maxDeliveries)) {
        await this.reply(envelope, { err: describeError(err) });
      }
      throw err;
    }
    if (envelope.replyTo) await this.reply(envelope, { response: result });
  }

  /**
   * Nest's getHandlerByPattern tries JSON.parse on every pattern (and throws for plain strings): cached
   * here, it was 13% of a worker's CPU. Patterns come from producers, so the cache is bounded.
   */
  private handlerFor(pattern: string): ReturnType<Server['getHandlerByPattern']> {
    let handler = this.handlerCache.get(pattern);
    if (handler === undefined) {
      handler = this.getHandlerByPattern(pattern);
      if (this.handlerCache.size < 10_000) this.handlerCache.set(pattern, handler);
    }
    return handler;
  }

  override addHandler(...args: Parameters<Server['addHandler']>): void {
    this.handlerCache?.clear();
    super.addHandler(...args);
  }

  private async reply(request: Envelope, body: { response?: unknown; err?: unknown }): Promise<void> {
    const stream = request.replyTo!;
    if (!stream.startsWith(`{${this.keys.ns}:reply:`)) return; // only our own reply streams: never write where a producer points
    const envelope = encodeEnvelope({ id: `${request.id}:reply`, pattern: request.pattern, data: { ...body, isDisposed: true }, corr: request.corr, ts: Date.now() });
    await this.redis!.multi().xadd(stream, 'MAXLEN', '~', 10_000, '*', 'e', envelope).pexpire(stream, 600_000).exec();
  }

  /** Partitions this worker owns now (for ops and tests). */
  ownedPartitions(): number[] {
    return this.partitions?.ownedPartitions() ?? [];
  }

  /** Whether an operator's drain flag names this worker: it hands its partitions back and takes none. */
  isDraining(): boolean {
    return this.partitions?.draining ?? false;
  }

  /** A snapshot of this worker for /health and the metrics gauges. */
  workerStatus(): WorkerStatus {
    return {
      workerId: this.workerId,
      running: this.started && !this.closing,
      ownedPartitions: this.ownedPartitions(),
      members: this.partitions?.members.length ?? 0,
      lastHeartbeatAt: this.partitions?.lastHeartbeatAt,
      memberTtlMs: this.config.runtime.memberTtlMs,
      calls: this.host?.callLoad() ?? { running: 0, queued: 0 },
    };
  }

  /** Graceful shutdown: stop reading, drain in-flight turns and calls, hand partitions back, leave. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.ingest?.stop();
      await this.partitions?.stop();
      await this.consumer?.close();
      await this.ticker?.stop();
      await this.host?.drain(this.config.runtime.drainTimeoutMs);
      await this.redis?.quit().catch(() => undefined);
    })();
    return this.closing;
  }

  on(): void {
    throw new Error('RedisStreamsServer emits no events; use the logs and /metrics');
  }

  unwrap<T>(): T {
    return this.redis as T;
  }
}
