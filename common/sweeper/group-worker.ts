import { Logger } from '@nestjs/common';
import { isTerminal } from '../errors';
import { duplicateForBlocking, RedisClient } from '../redis/connection';
import { settledWithin } from '../shutdown';

export interface GroupWorkerOptions {
  /** Command connection; the blocking reads get a connection of their own. */
  redis: RedisClient;
  stream: string;
  group: string;
  consumer: string;
  /** Entries handled at once. */
  concurrency: number;
  /** Entries pending this long under any consumer (a dead one's) are claimed and handled here. */
  claimIdleMs: number;
  blockMs: number;
  /** Handles one entry; the entry is acknowledged (and deleted) only once this resolves. */
  handle(id: string, fields: string[]): Promise<void>;
  logger: Logger;
}

/** Handler failures before an entry is dropped: sweep entries are derived from the due index and made again. */
const MAX_FAILURES = 5;

/**
 * One consumer of a consumer group, for the sweep task and item streams: reads what this consumer left
 * pending (a restart under the same name), then new entries; claims entries a dead consumer left pending
 * past `claimIdleMs`; acknowledges and deletes each entry only after its handler resolved, so a crash loses
 * nothing (the entry stays pending and another consumer claims it). Acknowledged entries are deleted, so the
 * stream's length is the work not yet done.
 */
export class GroupWorker {
  private conn?: RedisClient;
  private loop?: Promise<void>;
  private running = false;
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly failures = new Map<string, number>();
  private slotFreed?: () => void;
  private acks: string[] = [];
  private ackScheduled?: Promise<void>;
  handled = 0;

  constructor(private readonly o: GroupWorkerOptions) {}

  async start(): Promise<void> {
    await ensureGroup(this.o.redis, this.o.stream, this.o.group);
    this.conn = duplicateForBlocking(this.o.redis);
    this.running = true;
    this.loop = this.run();
  }

  /** Stops reading, lets entries in progress finish (bounded), acknowledges them; the rest stays pending. */
  async stop(timeoutMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.slotFreed?.();
    this.conn?.disconnect();
    const drained = (async () => {
      await this.loop?.catch(() => undefined);
      await Promise.allSettled([...this.inFlight.values()]);
      await this.flushAcks();
    })();
    await settledWithin(drained, timeoutMs);
  }

  get busy(): number {
    return this.inFlight.size;
  }

  private async run(): Promise<void> {
    const { stream, group, consumer } = this.o;
    let from = '0';
    let claimAt = Date.now() + this.o.claimIdleMs / 2;
    let cursor = '0-0';
    while (this.running) {
      try {
        await this.waitForSlot();
        if (!this.running) break;
        if (Date.now() >= claimAt) {
          claimAt = Date.now() + Math.max(100, this.o.claimIdleMs / 2);
          const [next, claimed] = (await this.o.redis.xautoclaim(stream, group, consumer, this.o.claimIdleMs, cursor, 'COUNT', this.free())) as [string, Array<[string, string[] | null]>];
          cursor = next;
          if (claimed.length) this.o.logger.log(`claimed ${claimed.length} entries of ${stream} left pending by another consumer`);
          for (const [id, fields] of claimed) this.dispatch(id, fields);
          continue;
        }
        const block = from === '>' ? this.o.blockMs : undefined;
        const args: Array<string | number> = ['GROUP', group, consumer, 'COUNT', this.free()];
        if (block !== undefined) args.push('BLOCK', block);
        args.push('STREAMS', stream, from);
        const reply = (await (this.conn!.xreadgroup as (...a: Array<string | number>) => Promise<unknown>)(...args)) as Array<[string, Array<[string, string[] | null]>]> | null;
        const entries = reply?.[0]?.[1] ?? [];
        if (from !== '>') from = entries.length === 0 ? '>' : entries[entries.length - 1][0];
        for (const [id, fields] of entries) this.dispatch(id, fields);
      } catch (err) {
        if (!this.running) break;
        this.o.logger.warn(`reading ${stream} failed: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  private free(): number {
    return Math.max(1, this.o.concurrency - this.inFlight.size);
  }

  private dispatch(id: string, fields: string[] | null): void {
    if (this.inFlight.has(id)) return;
    if (!fields) {
      // Trimmed away while pending: nothing left to do, the next tick finds the actor again if it still stalls.
      this.ack(id);
      return;
    }
    const work = this.o
      .handle(id, fields)
      .then(
        () => this.ack(id),
        (err) => {
          const failures = (this.failures.get(id) ?? 0) + 1;
          if (isTerminal(err) || failures >= MAX_FAILURES) {
            this.o.logger.warn(`dropping entry ${id} of ${this.o.stream} after ${failures} failure(s): ${(err as Error).message}`);
            this.failures.delete(id);
            this.ack(id);
          } else {
            // Left pending: claimed again after claimIdleMs, here or by another sweeper.
            this.failures.set(id, failures);
            this.o.logger.warn(`entry ${id} of ${this.o.stream} failed (${failures}): ${(err as Error).message}`);
          }
        },
      )
      .finally(() => {
        this.inFlight.delete(id);
        this.slotFreed?.();
      });
    this.inFlight.set(id, work);
  }

  /** Acknowledges and deletes settled entries, many per round trip. */
  private ack(id: string): void {
    this.handled++;
    this.failures.delete(id);
    this.acks.push(id);
    this.ackScheduled ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.flushAcks());
  }

  private async flushAcks(): Promise<void> {
    this.ackScheduled = undefined;
    const ids = this.acks;
    if (ids.length === 0) return;
    this.acks = [];
    try {
      await this.o.redis.multi().xack(this.o.stream, this.o.group, ...ids).xdel(this.o.stream, ...ids).exec();
    } catch (err) {
      // Unacknowledged entries are claimed and handled again; the handlers are idempotent.
      this.o.logger.warn(`acknowledging ${ids.length} entries of ${this.o.stream} failed: ${(err as Error).message}`);
    }
  }

  /**
   * Waits until at most half the slots are busy, so each read brings a batch: reading again for every slot
   * that frees up would cost a round trip per entry and starve the handlers under load.
   */
  private async waitForSlot(): Promise<void> {
    const lowWater = Math.max(0, Math.ceil(this.o.concurrency / 2) - 1);
    if (this.inFlight.size < this.o.concurrency) return;
    while (this.running && this.inFlight.size > lowWater) {
      await new Promise<void>((resolve) => (this.slotFreed = resolve));
      this.slotFreed = undefined;
    }
  }
}

/** Creates a consumer group reading the stream from its start (the stream too), if it does not exist yet. */
export async function ensureGroup(redis: RedisClient, stream: string, group: string): Promise<void> {
  try {
    await redis.xgroup('CREATE', stream, group, '0', 'MKSTREAM');
  } catch (err) {
    if (!String((err as Error).message).includes('BUSYGROUP')) throw err;
  }
}
