import { Logger } from '@nestjs/common';
import type { SweepConfig } from '../config';
import { GROUPS } from '../constants';
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
}

/**
 * Loader (the write-up's second layer), one consumer of the loaders' group on the sweep task stream. For
 * each partition of a task it pages through the due index for actors whose score passed more than
 * `graceMs` ago, skips those whose actor lease is held, and emits one execution item per actor with the
 * score it saw. At most `maxPerTask` actors per partition per task: the rest waits for the next tick.
 * A partition no worker holds is left alone: nobody would read a re-drive there, and the worker that takes
 * it fires its due timers itself (so a full outage does not use up the actors' re-drives).
 */
export class SweepLoader {
  private readonly logger = new Logger('SweepLoader');
  private readonly worker: GroupWorker;
  readonly stats: LoaderStats = { tasks: 0, emitted: 0, leased: 0, unowned: 0 };

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly config: SweepConfig,
    consumer: string,
  ) {
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
    const cutoff = now - this.config.graceMs;
    const { pageSize, maxPerTask, streamMaxLen } = this.config;
    let emitted = 0;
    if ((await this.redis.exists(this.keys.lease(p))) === 0) {
      this.stats.unowned++;
      return 0;
    }
    // Offset paging: executors move scores forward meanwhile, so a page may skip an actor; the next tick sees it.
    for (let offset = 0; emitted < maxPerTask; offset += pageSize) {
      const page = await this.redis.zrangebyscore(this.keys.due(p), '-inf', cutoff, 'WITHSCORES', 'LIMIT', offset, pageSize);
      if (page.length === 0) break;
      const members: Array<{ member: string; score: number }> = [];
      for (let i = 0; i + 1 < page.length; i += 2) {
        const member = page[i];
        if (member.indexOf('/') > 0) members.push({ member, score: Number(page[i + 1]) });
      }
      const locks = this.redis.pipeline();
      for (const { member } of members) locks.exists(this.keys.actorLock(p, parseActorAddress(member)));
      const held = ((await locks.exec()) ?? []).map(([err, n]) => !err && Number(n) > 0);
      const add = this.redis.pipeline();
      let added = 0;
      members.forEach((m, i) => {
        if (held[i]) {
          this.stats.leased++;
          return;
        }
        if (emitted + added >= maxPerTask) return;
        add.xadd(this.keys.sweepItems(), 'MAXLEN', '~', streamMaxLen, '*', ...itemFields({ partition: p, member: m.member, score: m.score, tick }));
        added++;
      });
      if (added > 0) {
        const results = (await add.exec()) ?? [];
        const failed = results.find(([err]) => err);
        if (failed) throw failed[0];
      }
      emitted += added;
      if (page.length < 2 * pageSize) break;
    }
    this.stats.emitted += emitted;
    return emitted;
  }
}
