import { Logger } from '@nestjs/common';
import type { PropelConfig } from '../config';
import { Keys } from '../keys';
import type { RedisClient } from '../redis/connection';
import { SweepExecutor } from './executor';
import { SweepLoader } from './loader';
import { Splitter } from './splitter';

export const SWEEPER_ROLES = ['splitter', 'loader', 'executor'] as const;
export type SweeperRole = (typeof SWEEPER_ROLES)[number];

/** Roles from a comma-separated list (PROPEL_SWEEPER_ROLES); empty means all three. Unknown names are refused. */
export function parseRoles(raw: string | undefined): SweeperRole[] {
  if (!raw || raw.trim() === '') return [...SWEEPER_ROLES];
  const roles = raw.split(',').map((r) => r.trim()).filter(Boolean);
  const unknown = roles.filter((r) => !(SWEEPER_ROLES as readonly string[]).includes(r));
  if (unknown.length) throw new Error(`PROPEL_SWEEPER_ROLES: unknown role(s) ${unknown.join(', ')}; the roles are ${SWEEPER_ROLES.join(', ')}`);
  return [...new Set(roles)] as SweeperRole[];
}

export interface SweeperOptions {
  /** Command connection from createRedis (scripts registered); each reading role opens a blocking one of its own. */
  redis: RedisClient;
  config: PropelConfig;
  roles: readonly SweeperRole[];
  /** The sweeper's name: leader lease token and consumer name in both groups. */
  id: string;
  /** Tests and chaos only: see SplitterOptions.stepDelayMs. */
  splitStepDelayMs?: number;
}

/**
 * One sweeper process's roles (any of splitter, loader, executor) over one connection. Several sweepers
 * share the work: one leads the splitting, the loaders and executors split the streams through their
 * consumer groups and claim what a dead sweeper left pending.
 */
export class Sweeper {
  private readonly logger = new Logger('Sweeper');
  readonly splitter?: Splitter;
  readonly loader?: SweepLoader;
  readonly executor?: SweepExecutor;
  private statsTimer?: NodeJS.Timeout;
  private started = false;

  constructor(private readonly o: SweeperOptions) {
    const keys = new Keys(o.config.runtime.namespace);
    const { redis, config, id } = o;
    if (o.roles.includes('splitter')) {
      this.splitter = new Splitter({ redis, keys, sweep: config.sweep, partitions: config.runtime.partitions, token: id, stepDelayMs: o.splitStepDelayMs });
    }
    if (o.roles.includes('loader')) this.loader = new SweepLoader(redis, keys, config.sweep, id, config.runtime.tickMs);
    if (o.roles.includes('executor')) this.executor = new SweepExecutor({ redis, keys, sweep: config.sweep, runtime: config.runtime, consumer: id });
  }

  get id(): string {
    return this.o.id;
  }

  /** Between start() and stop() (the health check reads it). */
  get running(): boolean {
    return this.started;
  }

  /** Counts since start per role, for metrics: `[role, stat, value]`. */
  counts(): Array<[string, string, number]> {
    const out: Array<[string, string, number]> = [];
    if (this.splitter) out.push(['splitter', 'leading', this.splitter.leader ? 1 : 0], ...Object.entries(this.splitter.stats).map(([k, v]) => ['splitter', k, Number(v)] as [string, string, number]));
    if (this.loader) out.push(...Object.entries(this.loader.stats).map(([k, v]) => ['loader', k, Number(v)] as [string, string, number]));
    if (this.executor) out.push(...Object.entries(this.executor.stats).map(([k, v]) => ['executor', k, Number(v)] as [string, string, number]));
    return out;
  }

  async start(): Promise<void> {
    // Readers first: a splitter that leads at once finds its groups' consumers there.
    await this.executor?.start();
    await this.loader?.start();
    await this.splitter?.start();
    this.started = true;
    // A line every 10 s while there is sweeping to report (queued, driven, manual...), not for idle ticks.
    let last = this.activity();
    this.statsTimer = setInterval(() => {
      const now = this.activity();
      if (now !== last) this.logger.log(this.describe());
      last = now;
    }, 10_000);
    this.statsTimer.unref();
  }

  /** Graceful: the splitter gives its lease back; loaders and executors finish what they hold and acknowledge it. */
  async stop(): Promise<void> {
    if (this.statsTimer) clearInterval(this.statsTimer);
    this.started = false;
    await this.splitter?.stop();
    await this.loader?.stop();
    await this.executor?.stop();
    this.logger.log(`stopped; ${this.describe()}`);
  }

  private activity(): string {
    return JSON.stringify([this.splitter?.leader, this.loader?.stats.emitted, this.loader?.stats.leased, this.executor?.stats]);
  }

  /** One line of what this sweeper did so far. */
  describe(): string {
    const parts: string[] = [];
    if (this.splitter) parts.push(`splitter ${this.splitter.leader ? 'leading' : 'standing by'}: ${this.splitter.stats.ticks} ticks, ${this.splitter.stats.tasks} tasks, ${this.splitter.stats.skipped} looks found the last sweep still queued`);
    if (this.loader) parts.push(`loader: ${this.loader.stats.tasks} tasks, ${this.loader.stats.emitted} stalled actors queued, ${this.loader.stats.leased} leased skipped, ${this.loader.stats.unowned} unowned and ${this.loader.stats.progressing} progressing partitions left alone`);
    if (this.executor) parts.push(`executor: ${Object.entries(this.executor.stats).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    return parts.join('; ');
  }
}
