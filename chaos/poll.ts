import { decode } from '../common';
import { groupByPartition } from '../bench/lib/propel';
import type { ActorRecord, Keys, RedisClient } from '../common';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The Redis side of a load driver: its connection and the run's keys. */
export interface RedisSide {
  redis: RedisClient;
  keys: Keys;
}

/**
 * What the polls saw of the actors still moving: each poll reads a record and its due-index score in one
 * MULTI, so a record outside the due index is a real gap, not a race with its next commit.
 */
export interface ProgressSamples {
  polls: number;
  /** Non-terminal, non-manual records read. */
  samples: number;
  /** Records that were not in the due index: every non-terminal actor must be (invariant 4). */
  outsideDueIndex: string[];
  /** The longest an actor was seen past its due time, and which. */
  maxOverdueMs: number;
  maxOverdueActor: string;
  /** Samples past `overdueLimitMs` (lease TTL + sweep tick + grace): moments the schedule was late. */
  overdueSamples: number;
  overdueLimitMs: number;
}

export const newProgress = (overdueLimitMs: number): ProgressSamples => ({ polls: 0, samples: 0, outsideDueIndex: [], maxOverdueMs: 0, maxOverdueActor: '', overdueSamples: 0, overdueLimitMs });

/**
 * Notes one moving actor's due score: a missing score is a gap in the due index (the first 50 kept, as
 * `notIndexed`), a present one how late the schedule runs (`actor` names the latest seen).
 */
export function sampleDue(pr: ProgressSamples, due: string | null, now: number, actor: string, notIndexed: () => string): void {
  if (due === null) {
    if (pr.outsideDueIndex.length < 50) pr.outsideDueIndex.push(notIndexed());
    return;
  }
  const overdue = now - Number(due);
  if (overdue > pr.maxOverdueMs) {
    pr.maxOverdueMs = overdue;
    pr.maxOverdueActor = actor;
  }
  if (overdue > pr.overdueLimitMs) pr.overdueSamples++;
}

/** Where a polled item's actor lives. */
export interface PolledActor {
  partition: number;
  type: string;
  id: string;
}

/**
 * Reads every item's record and due score, one MULTI per partition (one slot) and 500 items, so each record
 * and its due score are of the same instant; `visit` gets them in order (a failed read throws).
 */
export async function pollRecords<T, S = unknown>(side: RedisSide, items: T[], actorOf: (item: T) => PolledActor, visit: (item: T, rec: ActorRecord<S> | null, due: string | null, now: number) => void): Promise<void> {
  await Promise.all(
    [...groupByPartition(items, (item) => actorOf(item).partition)].map(async ([p, list]) => {
      for (let i = 0; i < list.length; i += 500) {
        const slice = list.slice(i, i + 500);
        const tx = side.redis.multi();
        for (const item of slice) {
          const { type, id } = actorOf(item);
          tx.hmgetBuffer(side.keys.actor(p, { type, id }), 'v', 'd');
          tx.zscore(side.keys.due(p), `${type}/${id}`);
        }
        const replies = (await tx.exec()) ?? [];
        const now = Date.now();
        slice.forEach((item, j) => {
          const [err, raw] = replies[2 * j] ?? [null, null];
          if (err) throw err;
          const d = (raw as Array<Buffer | null>)[1];
          visit(item, d ? decode<ActorRecord<S>>(d) : null, (replies[2 * j + 1]?.[1] as string | null) ?? null, now);
        });
      }
    }),
  );
}

/** Runs `pollOnce` every `intervalMs` from start() until stop(); a failed poll is logged and tried again. */
export class Pump {
  private pumping = false;
  private loop?: Promise<void>;

  constructor(
    private readonly pollOnce: () => Promise<void>,
    private readonly log: (line: string) => void,
    private readonly what: string,
  ) {}

  start(intervalMs = 500): void {
    if (this.pumping) return;
    this.pumping = true;
    this.loop = (async () => {
      while (this.pumping) {
        try {
          await this.pollOnce();
        } catch (err) {
          this.log(`load: ${this.what} failed (${(err as Error).message}); retrying`);
        }
        await sleep(intervalMs);
      }
    })();
  }

  async stop(): Promise<void> {
    this.pumping = false;
    await this.loop;
  }
}

/** XADDs to the ingest stream, each entry retried until Redis takes it (or `maxMs` passed), counting entries and retries. */
export class IngestWriter {
  entries = 0;
  retries = 0;

  constructor(
    private readonly side: RedisSide,
    private readonly log: (line: string) => void,
    private readonly what: string,
  ) {}

  async xadd(fields: string[], maxMs = 60_000): Promise<boolean> {
    const deadline = Date.now() + maxMs;
    for (;;) {
      try {
        this.entries++;
        await this.side.redis.xadd(this.side.keys.ingest(), '*', ...fields);
        return true;
      } catch (err) {
        this.retries++;
        if (Date.now() > deadline) {
          this.log(`load: XADD ${this.what} failed for ${maxMs / 1000} s (${(err as Error).message}); giving up on one entry`);
          return false;
        }
        await sleep(250);
      }
    }
  }
}
