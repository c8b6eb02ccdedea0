import { Logger } from '@nestjs/common';
import type { SweepConfig } from '../config';
import { GROUPS } from '../constants';
import { Keys } from '../keys';
import type { RedisClient } from '../redis/connection';
import { ScriptCode, scripts } from '../redis/scripts';
import { groupOf, infoField } from '../redis/stream-info';
import { ensureGroup } from './group-worker';
import { splitPartitions } from './plan';

export interface SplitterOptions {
  redis: RedisClient;
  keys: Keys;
  sweep: SweepConfig;
  partitions: number;
  /** Holder token of the leader lease: the sweeper's id. */
  token: string;
  /** Tests and chaos only: a pause after each task appended, so a kill can land in the middle of a tick. */
  stepDelayMs?: number;
}

/** Splitter.tick's answer when it left the tick out because the previous sweep is still queued. */
export const QUEUED = -1;

export interface SplitterStats {
  ticks: number;
  tasks: number;
  /** Looks that found the previous sweep still queued and appended nothing (bounded work). */
  skipped: number;
}

/**
 * Splitter (the write-up's first layer). Every sweeper running the role competes for one leader lease
 * (SET NX PX, renewed every tick by its token, given back on shutdown); the leader splits the partitions into
 * sweep tasks and appends them, one tick at a time, with a script that appends only while it still holds the
 * lease. A tick is left out while the previous one's tasks or items are still waiting to be read, so the
 * streams never hold more than about one sweep. A leader that dies mid-tick is replaced once its lease
 * expires; the tasks it appended and the ones its successor appends again only repeat work the executors'
 * re-checks make harmless.
 */
export class Splitter {
  private readonly logger = new Logger('Splitter');
  private timer?: NodeJS.Timeout;
  private ticking?: Promise<void>;
  private stopped = false;
  private seq = 0;
  leader = false;
  readonly stats: SplitterStats = { ticks: 0, tasks: 0, skipped: 0 };

  constructor(private readonly o: SplitterOptions) {}

  async start(): Promise<void> {
    const { redis, keys } = this.o;
    await ensureGroup(redis, keys.sweepTasks(), GROUPS.sweepLoaders);
    await ensureGroup(redis, keys.sweepItems(), GROUPS.sweepExecutors);
    const loop = () => {
      if (this.stopped) return;
      let delay = this.o.sweep.tickMs;
      this.ticking = this.tick()
        .then((added) => {
          // While the last sweep is still queued, look again sooner: the next one starts as it runs out.
          if (added === QUEUED) delay = Math.max(10, Math.floor(this.o.sweep.tickMs / 4));
        })
        .catch((err) => this.logger.warn(`sweep tick failed: ${(err as Error).message}`))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(loop, delay);
        });
    };
    loop();
  }

  /** Stops ticking and gives the leader lease back, so another sweeper leads on its next tick. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.ticking;
    if (this.leader) await scripts(this.o.redis).releaseLease(this.o.keys.sweepLeader(), this.o.token).catch(() => undefined);
    this.leader = false;
  }

  /**
   * One tick: take or renew the leader lease; if leading and the previous sweep was read, append the next.
   * Returns the tasks appended (0 when not leading), or QUEUED (-1) when the previous sweep is still queued.
   */
  async tick(): Promise<number> {
    const { redis, keys, sweep, token } = this.o;
    const held = (await scripts(redis).acquireLease(keys.sweepLeader(), token, sweep.leaderTtlMs)) === 1;
    if (held !== this.leader) this.logger.log(held ? `${token} leads the sweep (splitter)` : `${token} no longer leads the sweep`);
    this.leader = held;
    if (!held) return 0;
    if (await this.previousSweepQueued()) {
      this.stats.skipped++;
      return QUEUED;
    }
    const tick = `${token}:${Date.now()}:${++this.seq}`;
    const ranges = splitPartitions(this.o.partitions, sweep.partitionsPerTask);
    // One script call for the whole tick, or one per task when a test asks for a pause between them.
    const groups = this.o.stepDelayMs ? ranges.map((r) => [r]) : [ranges];
    let added = 0;
    for (const group of groups) {
      const code = await scripts(redis).addSweepTasks(keys.sweepLeader(), keys.sweepTasks(), token, sweep.streamMaxLen, tick, group.length, ...group.flat());
      if (code === ScriptCode.LeaseLost) {
        this.logger.warn(`lost the leader lease in the middle of tick ${tick} after ${added} tasks`);
        this.leader = false;
        break;
      }
      added += code;
      if (this.o.stepDelayMs) await new Promise((r) => setTimeout(r, this.o.stepDelayMs));
    }
    this.stats.ticks++;
    this.stats.tasks += added;
    return added;
  }

  /**
   * True while the loaders have not read every task appended so far, or the executors have more than a page of
   * items still to read: the next sweep starts as the last one runs out, not after it (its few duplicates are
   * refused by the executors' re-checks).
   */
  private async previousSweepQueued(): Promise<boolean> {
    const { redis, keys, sweep } = this.o;
    const [tasks, items] = await Promise.all([
      undelivered(redis, keys.sweepTasks(), GROUPS.sweepLoaders),
      undelivered(redis, keys.sweepItems(), GROUPS.sweepExecutors),
    ]);
    return tasks > 0 || items > sweep.pageSize;
  }
}

/**
 * Entries of a stream not yet handed to a consumer group: the group's lag, or, when Redis cannot tell (entries
 * trimmed before they were read), 0 or "many" from the last delivered and last added ids.
 */
async function undelivered(redis: RedisClient, stream: string, group: string): Promise<number> {
  const [groups, info] = await Promise.all([redis.xinfo('GROUPS', stream), redis.xinfo('STREAM', stream)]);
  const g = groupOf(groups, group);
  if (!g) return 0;
  if (g.lag !== null) return g.lag;
  return g.lastDeliveredId === String(infoField(info, 'last-generated-id')) ? 0 : Number.MAX_SAFE_INTEGER;
}
