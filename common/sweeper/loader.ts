import { Logger } from '@nestjs/common';
import type { SweepConfig } from '../config';
import { DEFAULTS, GROUPS } from '../constants';
import { Keys } from '../keys';
import { parseActorAddress } from '../partitioning';
import type { RedisClient } from '../redis/connection';
import { GroupWorker } from './group-worker';
import { itemFields, parseTask, SweepTask } from './plan';

/** What one loader did so far (for logs, tests and the benchmark). */
export interface LoaderStats {
  tasks: number;
  /** Stalled actors emitted as execution items. */
  emitted: number;
  /** Stalled actors skipped because their actor lease was held (busy, e.g. a call effect running). */
  leased: number;
  /** Partitions skipped because no worker held their lease (whoever takes one fires its due timers itself). */
  unowned: number;
  /** Looks at partitions whose owner was still firing their due timers (left to it). */
  progressing: number;
}

/**
 * Loader (the write-up's second layer), one consumer of the loaders' group on the sweep task stream. For
 * each partition of a task it pages through the due index for actors whose score passed more than
 * `graceMs` ago, skips those whose actor lease is held, and emits one execution item per actor with the
 * score it saw. At most `maxPerTask` actors per partition per task: the rest waits for the next tick.
 * Only partitions whose owner stopped firing are swept. The owner fires its oldest due actors every tick, so
 * the loader watches each partition's oldest overdue actor (in `Keys.sweepWatch`): one still at the same score
 * a few owner ticks later means the owner is stuck or dead, and the partition is swept; otherwise the owner is
 * working through its backlog and is left to it (a sweeper racing a busy owner only adds work). A partition no
 * worker holds is left alone too: nobody would read a re-drive there, and the worker that takes it fires its
 * due timers itself (so a full outage does not use up the actors' re-drives).
 */
export class SweepLoader {
  private readonly logger = new Logger('SweepLoader');
  private readonly worker: GroupWorker;
  private readonly minObserveMs: number;
  /** Once a partition was found stalled, how long the actor watched next must stay put to go on sweeping. */
  private readonly confirmMs: number;
  readonly stats: LoaderStats = { tasks: 0, emitted: 0, leased: 0, unowned: 0, progressing: 0 };

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly config: SweepConfig,
    consumer: string,
    /** The owners' timer tick (runtime.tickMs): an owner that is firing moves its oldest overdue actor within a few. */
    ownerTickMs: number = DEFAULTS.tickMs,
  ) {
    // Long enough that a busy owner (its event loop behind, ticks late) is not taken for a stalled one, whose
    // actors are overdue by the grace already: half the grace, at least a few owner ticks.
    this.confirmMs = Math.max(250, 5 * ownerTickMs);
    this.minObserveMs = Math.max(this.confirmMs, Math.floor(config.graceMs / 2));
    this.worker = new GroupWorker({
      redis,
      stream: keys.sweepTasks(),
      group: GROUPS.sweepLoaders,
      consumer,
      concurrency: 4,
      claimIdleMs: config.claimIdleMs,
      blockMs: Math.max(100, Math.min(1000, config.tickMs)),
      handle: async (_id, fields) => void (await this.load(parseTask(fields))),
      logger: this.logger,
    });
  }

  start(): Promise<void> {
    return this.worker.start();
  }

  stop(): Promise<void> {
    return this.worker.stop();
  }

  /** Loads every partition of one task. Idempotent: loading twice only emits items the executors refuse. */
  async load(task: SweepTask, now = Date.now()): Promise<number> {
    let emitted = 0;
    for (let p = task.from; p < task.to; p++) emitted += await this.loadPartition(p, task.tick, now);
    this.stats.tasks++;
    return emitted;
  }

  private async loadPartition(p: number, tick: string, now: number): Promise<number> {
    const { redis, keys } = this;
    const cutoff = now - this.config.graceMs;
    const [leased, oldest, watched] = await Promise.all([
      redis.exists(keys.lease(p)),
      redis.zrangebyscore(keys.due(p), '-inf', cutoff, 'WITHSCORES', 'LIMIT', 0, 1),
      redis.hget(keys.sweepWatch(), String(p)),
    ]);
    if (leased === 0) {
      this.stats.unowned++;
      return 0;
    }
    if (oldest.length === 0) {
      if (watched !== null) await redis.hdel(keys.sweepWatch(), String(p));
      return 0;
    }
    // Is the owner still firing this partition's due timers? It fires the oldest first, within one of its ticks,
    // so an actor that was the oldest overdue one and still sits at the same score a while later was not fired.
    const watch = parseWatch(watched);
    const watchedScore = watch ? await redis.zscore(keys.due(p), watch.member) : null;
    if (!watch || watchedScore === null || Number(watchedScore) !== watch.score) {
      await redis.hset(keys.sweepWatch(), String(p), formatWatch(oldest[0], Number(oldest[1]), now));
      this.stats.progressing++;
      return 0;
    }
    if (now - watch.at < this.minObserveMs) return 0;
    return this.sweepPartition(p, tick, now, cutoff);
  }

  /** Emits an item per stalled actor of a stalled partition, oldest first, up to maxPerTask; watches the first one left. */
  private async sweepPartition(p: number, tick: string, now: number, cutoff: number): Promise<number> {
    const { redis, keys } = this;
    const { pageSize, maxPerTask, streamMaxLen } = this.config;
    // One snapshot of this tick's share, and one more to watch: paging by offset while the executors move the
    // first pages' scores forward would skip actors.
    const snapshot = await redis.zrangebyscore(keys.due(p), '-inf', cutoff, 'WITHSCORES', 'LIMIT', 0, maxPerTask + 1);
    const stalled: Array<{ member: string; score: number }> = [];
    for (let i = 0; i + 1 < snapshot.length; i += 2) {
      if (snapshot[i].indexOf('/') > 0) stalled.push({ member: snapshot[i], score: Number(snapshot[i + 1]) });
    }
    let left = stalled.length > maxPerTask ? stalled.pop() : undefined;
    let emitted = 0;
    // Pipelines of a page each: the lease check, then the items of the actors not leased.
    for (let from = 0; from < stalled.length; from += pageSize) {
      const page = stalled.slice(from, from + pageSize);
      const locks = redis.pipeline();
      for (const { member } of page) locks.exists(keys.actorLock(p, parseActorAddress(member)));
      const held = ((await locks.exec()) ?? []).map(([err, n]) => !err && Number(n) > 0);
      const add = redis.pipeline();
      let added = 0;
      page.forEach((m, i) => {
        if (held[i]) {
          this.stats.leased++;
          if (!left || m.score < left.score) left = m;
          return;
        }
        add.xadd(keys.sweepItems(), 'MAXLEN', '~', streamMaxLen, '*', ...itemFields({ partition: p, member: m.member, score: m.score, tick }));
        added++;
      });
      if (added > 0) {
        const results = (await add.exec()) ?? [];
        const failed = results.find(([err]) => err);
        if (failed) throw failed[0];
      }
      emitted += added;
    }
    // The next look checks an actor these items do not move: if it is still there, the owner is still stalled.
    // The stall is known already, so a few owner ticks confirm it (the watch is dated back to ask no more).
    if (left) await redis.hset(keys.sweepWatch(), String(p), formatWatch(left.member, left.score, now - (this.minObserveMs - this.confirmMs)));
    else await redis.hdel(keys.sweepWatch(), String(p));
    this.stats.emitted += emitted;
    return emitted;
  }
}

/** The watch of one partition: `<score>|<at>|<member>` (the member last: an id may hold '|'). */
function formatWatch(member: string, score: number, at: number): string {
  return `${score}|${at}|${member}`;
}

function parseWatch(raw: string | null): { member: string; score: number; at: number } | undefined {
  if (!raw) return undefined;
  const a = raw.indexOf('|');
  const b = raw.indexOf('|', a + 1);
  if (a < 0 || b < 0) return undefined;
  const score = Number(raw.slice(0, a));
  const at = Number(raw.slice(a + 1, b));
  return Number.isFinite(score) && Number.isFinite(at) ? { score, at, member: raw.slice(b + 1) } : undefined;
}
