import { Logger } from '@nestjs/common';
import Redlock from 'redlock';
import type { Lock } from 'redlock';
import type { ActorRecord } from '../actor/record';
import { decode, encode, encodeEnvelope } from '../codec';
import type { RuntimeConfig, SweepConfig } from '../config';
import { GROUPS } from '../constants';
import { Keys } from '../keys';
import { parseActorAddress } from '../partitioning';
import type { RedisClient } from '../redis/connection';
import { ScriptCode, scripts } from '../redis/scripts';
import { GroupWorker } from './group-worker';
import { parseItem, planSweep, SweepItem, SweepPlan, SweepPolicy } from './plan';

/**
 * What became of one execution item:
 * - driven: re-driven (retry_count + 1, next look after the backoff, a timer tick in its inbox)
 * - manual: past the maximum re-drives, sent to manual intervention
 * - moved: its due score is no longer the one the loader saw (the owner fired it, another executor or a
 *   duplicate item moved it first, or it left the due index): nothing to do
 * - not-due: not overdue by the grace (yet)
 * - busy: its actor lease is held by someone else (a call effect running, another executor)
 * - stale: a turn committed between our read and our write: refused by the version check
 * - lease-lost: our actor lease expired before the write: refused
 * - dropped: a due entry without an actor record, removed
 */
export type SweepOutcome = 'driven' | 'manual' | 'moved' | 'not-due' | 'busy' | 'stale' | 'lease-lost' | 'dropped';

export type ExecutorStats = Record<SweepOutcome, number>;

export interface SweepExecutorOptions {
  redis: RedisClient;
  keys: Keys;
  sweep: SweepConfig;
  /** The runtime's settings this executor must agree with (audit and history limits). */
  runtime: Pick<RuntimeConfig, 'auditMaxLen' | 'historyLimit'>;
  consumer: string;
  random?: () => number;
}

/**
 * Executor (the write-up's third layer), one consumer of the executors' group on the execution items. Per
 * item: the due score and the record (a cheap re-check first), the actor lease (redlock, short TTL, no
 * retries), then one script (`redriveActor`) that writes only if the lease, the version and the due score
 * are all still what was read, and gives the lease back with the write. So an item executed twice
 * (redelivered, claimed, duplicated by two ticks) drives the actor at most once: the second finds the score
 * moved, or the version.
 */
export class SweepExecutor {
  private readonly logger = new Logger('SweepExecutor');
  private readonly redlock: Redlock;
  private readonly worker: GroupWorker;
  private readonly policy: SweepPolicy;
  readonly stats: ExecutorStats = { driven: 0, manual: 0, moved: 0, 'not-due': 0, busy: 0, stale: 0, 'lease-lost': 0, dropped: 0 };

  constructor(private readonly o: SweepExecutorOptions) {
    const { redis, keys, sweep } = o;
    // One Redis (or Cluster) is one redlock "instance"; the lease keeps executors and call effects apart,
    // the version check in the script is what keeps state right.
    this.redlock = new Redlock([redis], { retryCount: 0 });
    this.redlock.on('error', () => undefined); // a held lease is an outcome here ('busy'), not an error to log
    this.policy = { maxRetries: sweep.maxRetries, baseMs: sweep.backoffBaseMs, capMs: sweep.backoffCapMs, jitter: sweep.jitter };
    this.worker = new GroupWorker({
      redis,
      stream: keys.sweepItems(),
      group: GROUPS.sweepExecutors,
      consumer: o.consumer,
      concurrency: sweep.concurrency,
      claimIdleMs: sweep.claimIdleMs,
      blockMs: Math.max(100, Math.min(1000, sweep.tickMs)),
      handle: async (_id, fields) => void (await this.execute(parseItem(fields))),
      logger: this.logger,
    });
  }

  start(): Promise<void> {
    return this.worker.start();
  }

  stop(): Promise<void> {
    return this.worker.stop();
  }

  /** Items being executed right now. */
  get busy(): number {
    return this.worker.busy;
  }

  /** Executes one item end to end. Idempotent: executing it again finds the due score moved. */
  async execute(item: SweepItem, now = Date.now()): Promise<SweepOutcome> {
    const outcome = await this.executeOnce(item, now);
    this.stats[outcome]++;
    return outcome;
  }

  private async executeOnce(item: SweepItem, now: number): Promise<SweepOutcome> {
    if (item.score > now - this.o.sweep.graceMs) return 'not-due';
    const { keys, redis } = this.o;
    const ref = parseActorAddress(item.member);
    // The due score and the record in one round trip, before the lease: duplicates and items the owner fired
    // meanwhile end here. Reading before the lease is safe: the script refuses if either moved since.
    const [[scoreErr, score], [recordErr, fields]] = ((await redis.pipeline().zscore(keys.due(item.partition), item.member).hmgetBuffer(keys.actor(item.partition, ref), 'v', 'd').exec()) ?? []) as Array<[Error | null, unknown]>;
    if (scoreErr || recordErr) throw scoreErr ?? recordErr;
    if (score === null || Number(score) !== item.score) return 'moved';
    let lock: Lock;
    try {
      lock = await this.redlock.acquire([keys.actorLock(item.partition, ref)], this.o.sweep.actorLeaseMs);
    } catch {
      return 'busy';
    }
    let outcome: SweepOutcome | undefined;
    try {
      outcome = await this.apply(item, toRecord(fields as Array<Buffer | null>), now, lock.value);
      return outcome;
    } finally {
      // A write that went through gave the lease back in the same script; anything else gives it back here.
      if (outcome !== 'driven' && outcome !== 'manual') await lock.release().catch(() => undefined);
    }
  }

  /**
   * Decides and writes for a record read at `record.version` (under the actor lease `leaseValue`, or '' for
   * none): one `redriveActor` call, refused when the lease, the due score or the version moved meanwhile.
   */
  async apply(item: SweepItem, record: ActorRecord | null, now: number, leaseValue = ''): Promise<SweepOutcome> {
    const { keys } = this.o;
    const ref = parseActorAddress(item.member);
    const p = item.partition;
    const keyList = [keys.actor(p, ref), keys.due(p), keys.inbox(p), keys.audit(p), keys.history(p, ref), keys.manual(p), keys.actorLock(p, ref)];
    const limits = [this.o.runtime.auditMaxLen, this.o.runtime.historyLimit, leaseValue] as const;
    if (!record) {
      const code = await scripts(this.o.redis).redriveActor(...keyList, 'drop', 0, item.score, item.member, '', '', '', '', ...limits);
      return code === 0 ? 'dropped' : outcomeOf(code);
    }
    const plan: SweepPlan = planSweep(record, item, now, this.policy, this.o.random);
    const tick =
      plan.mode === 'redrive'
        ? encodeEnvelope({ id: plan.tickId, pattern: `actor:${ref.type}`, key: item.member, data: { id: ref.id, timer: now }, ts: now })
        : '';
    const code = await scripts(this.o.redis).redriveActor(
      ...keyList,
      plan.mode,
      record.version,
      item.score,
      item.member,
      encode(plan.record),
      plan.mode === 'redrive' ? plan.nextScore : now,
      tick,
      encode(plan.audit),
      ...limits,
    );
    if (code > 0) {
      if (plan.mode === 'manual') this.logger.warn(`${item.member} (partition ${p}) sent to manual intervention: ${plan.audit.why}`);
      return plan.mode === 'manual' ? 'manual' : 'driven';
    }
    return outcomeOf(code);
  }
}

function toRecord([v, d]: Array<Buffer | null>): ActorRecord | null {
  if (!d) return null;
  const record = decode<ActorRecord>(d);
  record.version = Number(v?.toString() ?? 0);
  return record;
}

function outcomeOf(code: number): SweepOutcome {
  switch (code) {
    case ScriptCode.StaleVersion:
      return 'stale';
    case ScriptCode.DueMoved:
      return 'moved';
    case ScriptCode.ActorLeaseLost:
      return 'lease-lost';
    default:
      throw new Error(`redriveActor returned an unknown code ${code}`);
  }
}
