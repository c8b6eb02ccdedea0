import { Logger } from '@nestjs/common';
import type { RuntimeConfig } from '../config';
import { duplicateForBlocking, isCluster, RedisClient } from '../redis/connection';

type RawEntry = [Buffer, Buffer[] | null];

interface ReaderOptions {
  group: string;
  consumer: string;
  config: RuntimeConfig;
  streamOf(partition: number): string;
}

/**
 * One XREADGROUP BLOCK loop on a connection of its own, over a set of partitions that may change. On a
 * standalone server one reader covers every owned partition in one command; a change of the set unblocks
 * it with CLIENT UNBLOCK (as a timeout: no entry is delivered and dropped).
 */
export class BlockingReader {
  private readonly logger = new Logger('BlockingReader');
  private conn?: RedisClient;
  private clientId?: number;
  private running = false;
  private loop?: Promise<void>;
  private wake?: () => void;
  /** The read under way (and the delivery of what it returned). */
  private current?: Promise<unknown>;

  constructor(
    private readonly commands: RedisClient,
    private readonly o: ReaderOptions,
    private readonly partitions: () => number[],
    private readonly deliver: (partition: number, entries: RawEntry[]) => void,
    private readonly capacity: () => Promise<void>,
  ) {}

  start(): void {
    this.running = true;
    this.conn = duplicateForBlocking(this.commands);
    this.loop = this.run();
  }

  /**
   * The partition set changed: re-issue the read with the new set. Resolves once the read that was under
   * way has returned and its entries were delivered, so a partition being handed back gets every entry
   * this worker was given.
   */
  async partitionsChanged(): Promise<void> {
    this.wake?.();
    const current = this.current;
    if (this.clientId !== undefined && !isCluster(this.commands)) {
      await this.commands.client('UNBLOCK', this.clientId).catch(() => undefined);
    }
    await current?.catch(() => undefined);
  }

  /** Stops after the read under way returns (at most blockMs), delivering what it got; then closes. */
  async stop(): Promise<void> {
    this.running = false;
    await this.partitionsChanged();
    await this.loop?.catch(() => undefined);
    this.conn?.disconnect();
  }

  private async run(): Promise<void> {
    const conn = this.conn!;
    if (!isCluster(conn)) {
      try {
        this.clientId = Number(await conn.client('ID'));
      } catch {
        this.clientId = undefined;
      }
    }
    while (this.running) {
      const parts = this.partitions();
      if (parts.length === 0) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          setTimeout(resolve, 200);
        });
        continue;
      }
      await this.capacity();
      if (!this.running) break;
      let release!: () => void;
      this.current = new Promise<void>((resolve) => (release = resolve));
      try {
        const streams = parts.map((p) => this.o.streamOf(p));
        const reply = (await conn.xreadgroupBuffer(
          'GROUP', this.o.group, this.o.consumer,
          'COUNT', this.o.config.batchSize,
          'BLOCK', this.o.config.blockMs,
          'STREAMS', ...streams, ...streams.map(() => '>'),
        )) as Array<[Buffer, RawEntry[]]> | null;
        // Delivered even when stopping: these entries are pending under this worker's name now.
        for (const [streamBuf, entries] of reply ?? []) {
          const stream = streamBuf.toString();
          const p = parts[streams.indexOf(stream)];
          if (p !== undefined) this.deliver(p, entries);
        }
        release();
      } catch (err) {
        release();
        if (!this.running) break;
        const message = (err as Error).message ?? String(err);
        // A group can vanish if its stream was deleted by hand: recreate it and go on.
        if (message.includes('NOGROUP')) {
          for (const p of parts) {
            await this.commands.xgroup('CREATE', this.o.streamOf(p), this.o.group, '0', 'MKSTREAM').catch(() => undefined);
          }
        } else {
          this.logger.warn(`read failed: ${message}`);
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    }
  }
}
