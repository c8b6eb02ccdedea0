import { Logger } from '@nestjs/common';
import { decodeEnvelope, ENVELOPE_FIELD, Envelope } from '../codec';
import { describeError, ErrorCode, isTerminal, LeaseLostError } from '../errors';
import type { RuntimeConfig } from '../config';
import { commandBuffer, isCluster, RedisClient } from '../redis/connection';
import { scripts } from '../redis/scripts';
import { groupOf } from '../redis/stream-info';
import { compareEntryIds } from '../actor/turn';
import { NOOP_METRICS, RuntimeMetrics } from '../observability/runtime-metrics';
import { fieldOf, StreamContext, StreamEntry } from './stream-context';
import { BlockingReader } from './blocking-reader';

export type EntryHandler = (entry: StreamEntry, envelope: Envelope, ctx: StreamContext) => Promise<void>;

export interface BatchItem {
  entry: StreamEntry;
  envelope: Envelope;
}

/**
 * Per item of a batch: 'done' (committed and acknowledged by the handler itself), or 'single' (not done:
 * it goes through the per-entry path, with its retries, after the earlier entries of its key).
 */
export type BatchOutcome = 'done' | 'single';

/** Handles many entries of one partition at once (the actor host commits them in one script call). */
export type BatchHandler = (partition: number, items: BatchItem[]) => Promise<BatchOutcome[]>;

export interface PartitionConsumerOptions {
  redis: RedisClient;
  group: string;
  consumer: string;
  config: RuntimeConfig;
  streamOf(partition: number): string;
  deadOf(partition: number): string;
  handle: EntryHandler;
  /** Optional fast path: entries it accepts are handled a read at a time by `handleBatch`. */
  batchable?(envelope: Envelope): boolean;
  handleBatch?: BatchHandler;
  /** A handler reported the partition lease gone. */
  onLeaseLost(partition: number): void;
  /** More backpressure: reading pauses until this resolves (e.g. while too many call effects are queued). */
  capacity?(): Promise<void>;
  /** Dead letters are counted here, and each owned inbox's lag sampled on the maintenance tick. */
  metrics?: RuntimeMetrics;
}

type RawEntry = [Buffer, Buffer[] | null];

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Consumes partition streams through a consumer group: reads in batches, runs handlers one at a time per
 * ordering key and many keys at once, acknowledges only what succeeded, retries failures with backoff and
 * dead-letters what cannot succeed. Entries it never settles stay pending for the next owner to claim.
 */
export class PartitionConsumer {
  private readonly logger = new Logger('PartitionConsumer');
  private readonly active = new Set<number>();
  /** Partitions the readers read: added only after what the previous owner left pending is dispatched. */
  private readonly readable = new Set<number>();
  private readonly inflight = new Map<number, Set<string>>();
  private readonly chains = new Map<string, Promise<void>>();
  /** Tail of each partition's sequence of runs. */
  private readonly runs = new Map<number, Promise<void>>();
  private readonly acks = new Map<number, string[]>();
  private readonly readers = new Map<number | 'all', BlockingReader>();
  private readonly reclaimCursor = new Map<number, string>();
  private inFlightCount = 0;
  private capacityWaiters: Array<() => void> = [];
  private drainWaiters: Array<() => void> = [];
  private ackScheduled = false;
  private closed = false;
  private maintenance?: NodeJS.Timeout;
  private lastTrim = 0;

  private readonly metrics: RuntimeMetrics;

  constructor(private readonly o: PartitionConsumerOptions) {
    this.metrics = o.metrics ?? NOOP_METRICS;
  }

  get inFlight(): number {
    return this.inFlightCount;
  }

  activePartitions(): number[] {
    return [...this.active].sort((a, b) => a - b);
  }

  private readablePartitions(): number[] {
    return [...this.readable].sort((a, b) => a - b);
  }

  start(): void {
    const every = Math.max(this.o.config.tickMs * 10, 1000);
    const loop = () => {
      if (this.closed) return;
      this.maintain().catch((err) => this.logger.warn(`maintenance failed: ${(err as Error).message}`)).finally(() => {
        if (!this.closed) this.maintenance = setTimeout(loop, every);
      });
    };
    this.maintenance = setTimeout(loop, every);
  }

  /** Adds and removals of one partition run one after the other, never interleaved. */
  private readonly membershipOps = new Map<number, Promise<void>>();

  private serialized(p: number, op: () => Promise<void>): Promise<void> {
    const next = (this.membershipOps.get(p) ?? Promise.resolve()).catch(() => undefined).then(op);
    this.membershipOps.set(p, next);
    void next.finally(() => {
      if (this.membershipOps.get(p) === next) this.membershipOps.delete(p);
    }).catch(() => undefined);
    return next;
  }

  /** Starts consuming a partition: creates its group, dispatches everything left pending, then reads new entries. */
  addPartition(p: number): Promise<void> {
    return this.serialized(p, () => this.add(p));
  }

  private async add(p: number): Promise<void> {
    const stream = this.o.streamOf(p);
    await this.o.redis.xgroup('CREATE', stream, this.o.group, '0', 'MKSTREAM').catch((err: Error) => {
      if (!String(err.message).includes('BUSYGROUP')) throw err;
    });
    this.active.add(p);
    this.inflight.set(p, this.inflight.get(p) ?? new Set());
    // Entries a previous owner read but never settled come first, in stream order, to keep per-actor order.
    let cursor = '0-0';
    do {
      const [next, entries] = (await commandBuffer(this.o.redis, 'XAUTOCLAIM', stream, this.o.group, this.o.consumer, 0, cursor, 'COUNT', this.o.config.batchSize)) as unknown as [Buffer, RawEntry[]];
      cursor = next.toString();
      await this.dispatchClaimed(p, entries);
    } while (cursor !== '0-0' && this.active.has(p));
    // Only now may new entries be read: an older pending entry of an actor must reach its chain first.
    if (!this.active.has(p)) return;
    this.readable.add(p);
    this.startReading(p);
  }

  /**
   * Stops reading a partition, takes in whatever the read under way returns for it, and waits (bounded)
   * for its in-flight entries to settle: a graceful hand-back leaves nothing pending under this worker.
   */
  removePartition(p: number): Promise<void> {
    return this.serialized(p, () => this.remove(p));
  }

  private async remove(p: number): Promise<void> {
    if (!this.active.has(p)) return;
    this.readable.delete(p);
    await this.stopReading(p);
    this.active.delete(p);
    await this.drain(() => (this.inflight.get(p)?.size ?? 0) === 0);
    this.flushAcks();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.maintenance) clearTimeout(this.maintenance);
    this.readable.clear();
    await Promise.all([...this.readers.values()].map((r) => r.stop()));
    this.readers.clear();
    this.active.clear();
    await this.drain(() => this.inFlightCount === 0);
    this.flushAcks();
  }

  private startReading(p: number): void {
    if (isCluster(this.o.redis)) {
      // Streams of different slots cannot share one XREADGROUP on a Cluster: one reader per partition.
      const reader = new BlockingReader(this.o.redis, this.o, () => (this.readable.has(p) ? [p] : []), (q, e) => this.dispatchAll(q, e, 1), () => this.waitCapacity());
      this.readers.set(p, reader);
      reader.start();
      return;
    }
    let reader = this.readers.get('all');
    if (!reader) {
      reader = new BlockingReader(this.o.redis, this.o, () => this.readablePartitions(), (q, e) => this.dispatchAll(q, e, 1), () => this.waitCapacity());
      this.readers.set('all', reader);
      reader.start();
    } else void reader.partitionsChanged();
  }

  private async stopReading(p: number): Promise<void> {
    const own = this.readers.get(p);
    if (own) {
      this.readers.delete(p);
      await own.stop();
    } else await this.readers.get('all')?.partitionsChanged();
  }

  private async dispatchClaimed(p: number, entries: RawEntry[]): Promise<void> {
    const live = entries.filter((e) => e && e[1]);
    if (live.length === 0) return;
    const first = live[0][0].toString();
    const last = live[live.length - 1][0].toString();
    const pending = (await this.o.redis.xpending(this.o.streamOf(p), this.o.group, first, last, live.length, this.o.consumer)) as Array<[string, string, number, number]>;
    const counts = new Map(pending.map(([id, , , n]) => [id, Number(n)]));
    const mine = this.inflight.get(p);
    // Entries already being handled here are skipped: claiming them only refreshed their idle time.
    const fresh = live.filter(([idBuf]) => !mine?.has(idBuf.toString()));
    this.dispatchEntries(p, fresh.map(([idBuf, fields]) => [idBuf.toString(), fields as Buffer[], counts.get(idBuf.toString()) ?? 1]));
  }

  /** Called by readers with freshly read entries (delivery count 1). */
  dispatchAll(p: number, entries: RawEntry[], deliveries: number): void {
    // Entries of a partition no longer ours (a read that raced with a lost lease) stay pending for the
    // next owner; a partition being handed back still takes in what its last read returned.
    if (!this.active.has(p)) return;
    const list: Array<[string, Buffer[], number]> = [];
    for (const [idBuf, fields] of entries) if (fields) list.push([idBuf.toString(), fields, deliveries]);
    this.dispatchEntries(p, list);
  }

  /**
   * Decodes entries and queues them as one run on the partition. Runs of a partition go one after the other
   * (so a run decides on what the previous one committed), each in stream order.
   */
  private dispatchEntries(p: number, list: Array<[id: string, fields: Buffer[], deliveries: number]>): void {
    const items: BatchItem[] = [];
    for (const [id, fields, deliveries] of list) {
      const entry: StreamEntry = { partition: p, stream: this.o.streamOf(p), id, fields, deliveries };
      this.inFlightCount++;
      this.inflight.get(p)?.add(id);
      try {
        items.push({ entry, envelope: decodeEnvelope(fieldOf(fields, ENVELOPE_FIELD), this.o.config.maxEntryBytes) });
      } catch (err) {
        void this.deadLetter(entry, err).finally(() => this.settle(p, id));
      }
    }
    if (items.length === 0) return;
    const tail = (this.runs.get(p) ?? Promise.resolve()).then(() => this.run(p, items));
    this.runs.set(p, tail);
    void tail.finally(() => {
      if (this.runs.get(p) === tail) this.runs.delete(p);
    });
  }

  /**
   * One run: entries the batch handler accepts go to it together, unless their key already has work in
   * flight (a retry) or an earlier entry of the key in this run did not go; everything else, and whatever
   * the batch did not finish, runs one at a time on its key's chain, in stream order.
   */
  private async run(p: number, items: BatchItem[]): Promise<void> {
    const keyOf = (item: BatchItem) => `${p}|${item.envelope.key ?? item.envelope.id}`;
    const batch: BatchItem[] = [];
    const held = new Set<string>();
    for (const item of items) {
      const key = keyOf(item);
      if (!held.has(key) && !this.chains.has(key) && this.o.handleBatch && this.o.batchable?.(item.envelope)) batch.push(item);
      else held.add(key);
    }
    let done = new Set<BatchItem>();
    if (batch.length) {
      try {
        const outcomes = await this.o.handleBatch!(p, batch);
        done = new Set(batch.filter((_, i) => outcomes[i] === 'done'));
      } catch (err) {
        // The whole batch failed (Redis error, lease lost): every item goes its own way, with retries.
        this.logger.warn(`batch of ${batch.length} on partition ${p} failed: ${(err as Error).message}`);
      }
    }
    const rest = new Map<string, BatchItem[]>();
    for (const item of items) {
      if (done.has(item)) {
        this.settle(p, item.entry.id);
        continue;
      }
      const key = keyOf(item);
      const list = rest.get(key);
      if (list) list.push(item);
      else rest.set(key, [item]);
    }
    for (const [key, list] of rest) {
      this.chain(key, async () => {
        for (const item of list) await this.process(item.entry, item.envelope).finally(() => this.settle(p, item.entry.id));
      });
    }
  }

  /** Runs `work` after everything queued on the key; the chain is dropped when it runs dry. */
  private chain(key: string, work: () => Promise<void>): void {
    const prev = this.chains.get(key);
    const run: Promise<void> = (prev ? prev.then(work) : work()).finally(() => {
      if (this.chains.get(key) === run) this.chains.delete(key);
    });
    this.chains.set(key, run);
  }

  /** Runs the handler with retries; never rejects. */
  private async process(entry: StreamEntry, envelope: Envelope): Promise<void> {
    let attempt = Math.max(1, entry.deliveries);
    for (;;) {
      const ctx = new StreamContext({ ...entry, deliveries: attempt }, envelope);
      try {
        await this.o.handle(entry, envelope, ctx);
        if (!ctx.isAcked()) this.ack(entry.partition, entry.id);
        return;
      } catch (err) {
        if (err instanceof LeaseLostError) {
          this.o.onLeaseLost(entry.partition);
          return; // left pending: the next owner claims it
        }
        if (isTerminal(err) || attempt >= this.o.config.maxDeliveries) {
          await this.deadLetter(entry, err, attempt);
          return;
        }
        const { code, message } = describeError(err);
        this.logger.warn(`entry ${entry.stream} ${entry.id} failed (attempt ${attempt}, ${code}): ${message}`);
        await sleep(Math.min(this.o.config.retryMaxMs, this.o.config.retryBaseMs * 2 ** (attempt - 1)));
        attempt++;
        if (!this.active.has(entry.partition) || this.closed) return; // handed over meanwhile: the next owner retries
      }
    }
  }

  private async deadLetter(entry: StreamEntry, err: unknown, deliveries = entry.deliveries): Promise<void> {
    const { code: cause, message } = describeError(err);
    const terminal = isTerminal(err);
    // Exhausted retries are filed under MAX_DELIVERIES; the handler's own code is kept as the cause.
    const code = terminal ? cause : ErrorCode.MaxDeliveries;
    const reason = terminal ? message : `gave up after ${deliveries} deliveries: ${message}`;
    const args: Array<string | Buffer | number> = [
      'reason', reason, 'code', code, 'cause', cause, 'stream', entry.stream, 'entry', entry.id,
      'deliveries', deliveries, 'consumer', this.o.consumer, 'at', Date.now(),
    ];
    for (let i = 0; i + 1 < entry.fields.length; i += 2) args.push(`f:${entry.fields[i].toString()}`, entry.fields[i + 1]);
    try {
      await scripts(this.o.redis).deadLetter(entry.stream, this.o.deadOf(entry.partition), this.o.group, entry.id, this.o.config.deadMaxLen, ...args);
      this.metrics.deadLettered('inbox', code);
      this.logger.warn(`dead-lettered ${entry.stream} ${entry.id} (${code}): ${reason}`);
    } catch (e) {
      // Left pending: the entry is claimed and dead-lettered again later; nothing is lost.
      this.logger.error(`could not dead-letter ${entry.stream} ${entry.id}: ${(e as Error).message}`);
    }
  }

  private ack(p: number, id: string): void {
    let list = this.acks.get(p);
    if (!list) this.acks.set(p, (list = []));
    list.push(id);
    if (!this.ackScheduled) {
      this.ackScheduled = true;
      setImmediate(() => this.flushAcks());
    }
  }

  private flushAcks(): void {
    this.ackScheduled = false;
    for (const [p, ids] of this.acks) {
      this.acks.delete(p);
      this.o.redis.xack(this.o.streamOf(p), this.o.group, ...ids).catch((err: Error) => {
        this.logger.warn(`XACK on ${this.o.streamOf(p)} failed (${ids.length} entries stay pending and are redelivered): ${err.message}`);
      });
    }
  }

  private settle(p: number, id: string): void {
    this.inFlightCount--;
    this.inflight.get(p)?.delete(id);
    if (this.inFlightCount < this.o.config.maxInFlight && this.capacityWaiters.length) {
      const waiters = this.capacityWaiters;
      this.capacityWaiters = [];
      waiters.forEach((w) => w());
    }
    if (this.drainWaiters.length) this.drainWaiters.forEach((w) => w());
  }

  private async waitCapacity(): Promise<void> {
    if (this.inFlightCount >= this.o.config.maxInFlight) await new Promise<void>((resolve) => this.capacityWaiters.push(resolve));
    await this.o.capacity?.();
  }

  private async drain(done: () => boolean): Promise<void> {
    const deadline = Date.now() + this.o.config.drainTimeoutMs;
    while (!done() && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 50);
        this.drainWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
      this.drainWaiters = [];
    }
  }

  /** Claims entries idle past claimIdleMs (lost deliveries, stuck consumers) and trims acknowledged history. */
  private async maintain(): Promise<void> {
    for (const p of this.activePartitions()) {
      const stream = this.o.streamOf(p);
      const cursor = this.reclaimCursor.get(p) ?? '0-0';
      const [next, entries] = (await commandBuffer(this.o.redis, 'XAUTOCLAIM', stream, this.o.group, this.o.consumer, this.o.config.claimIdleMs, cursor, 'COUNT', this.o.config.batchSize)) as unknown as [Buffer, RawEntry[]];
      this.reclaimCursor.set(p, next.toString());
      if (this.active.has(p)) await this.dispatchClaimed(p, entries);
    }
    if (this.metrics.enabled) await this.sampleInboxes();
    if (Date.now() - this.lastTrim > 5000) {
      this.lastTrim = Date.now();
      await Promise.all(this.activePartitions().map((p) => this.trim(p)));
    }
  }

  /**
   * Reports each owned inbox's lag (not yet read by the group) and pending count from XINFO GROUPS: one
   * command per partition per maintenance tick, off the read and commit path.
   */
  private async sampleInboxes(): Promise<void> {
    await Promise.all(
      this.activePartitions().map(async (p) => {
        const group = groupOf(await this.o.redis.xinfo('GROUPS', this.o.streamOf(p)).catch(() => null), this.o.group);
        if (!group || !this.active.has(p)) return;
        this.metrics.inboxSampled(p, group.lag, group.pending);
      }),
    );
  }

  /** Drops acknowledged entries below both the oldest pending entry and the group's last delivered id. */
  private async trim(p: number): Promise<void> {
    const stream = this.o.streamOf(p);
    const [summary, groups] = await Promise.all([
      this.o.redis.xpending(stream, this.o.group) as Promise<[number, string | null, string | null, unknown]>,
      this.o.redis.xinfo('GROUPS', stream),
    ]);
    const group = groupOf(groups, this.o.group);
    if (!group) return;
    const lastDelivered = group.lastDeliveredId;
    const oldestPending = summary[1];
    const minId = oldestPending && compareEntryIds(oldestPending, lastDelivered) < 0 ? oldestPending : lastDelivered;
    if (minId && minId !== '0-0') await this.o.redis.xtrim(stream, 'MINID', '~', minId);
  }
}
