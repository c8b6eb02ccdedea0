import { Logger } from '@nestjs/common';
import { Keys } from '../keys';
import { assignedPartitions } from '../partitioning';
import type { RedisClient } from '../redis/connection';
import { scripts } from '../redis/scripts';
import { assignableMembers, Membership } from './membership';

export interface PartitionListener {
  /** The lease is ours: start consuming (claim what the previous owner left pending first). */
  acquired(partition: number): Promise<void>;
  /** Stop consuming; `lost` means the lease is already gone and nothing more may be written. */
  released(partition: number, reason: 'rebalance' | 'drain' | 'lost' | 'shutdown'): Promise<void>;
}

/**
 * Keeps this worker's partition leases in line with rendezvous hashing over the live members: takes the
 * partitions it wins when their lease is free, renews the ones it holds, hands back the ones another member
 * now wins (after draining them), and notices a lease it lost. While an operator's drain flag names this worker
 * it hands every partition back the same graceful way and takes none; the others leave it out of the hashing.
 */
export class PartitionManager {
  private readonly logger = new Logger('PartitionManager');
  private readonly owned = new Set<number>();
  private readonly busy = new Set<number>();
  /** Partitions whose lost lease is still being stopped: not taken again until that is done. */
  private readonly stopping = new Set<number>();
  private timer?: NodeJS.Timeout;
  private ticking?: Promise<void>;
  private stopped = false;
  members: string[] = [];
  /** When the last membership heartbeat succeeded (ms epoch): /health and the heartbeat-age gauge read it. */
  lastHeartbeatAt?: number;
  /** Whether the last heartbeat found this worker flagged for draining. */
  draining = false;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly membership: Membership,
    private readonly partitions: number,
    private readonly leaseTtlMs: number,
    private readonly intervalMs: number,
    private readonly listener: PartitionListener,
  ) {}

  get token(): string {
    return this.membership.workerId;
  }

  ownedPartitions(): number[] {
    return [...this.owned].sort((a, b) => a - b);
  }

  owns(partition: number): boolean {
    return this.owned.has(partition);
  }

  async start(): Promise<void> {
    await this.tick();
    const loop = () => {
      if (this.stopped) return;
      this.ticking = this.tick().catch((err) => this.logger.warn(`rebalance tick failed: ${(err as Error).message}`));
      this.ticking.finally(() => {
        if (!this.stopped) this.timer = setTimeout(loop, this.intervalMs);
      });
    };
    this.timer = setTimeout(loop, this.intervalMs);
  }

  /** One round: heartbeat, then take, renew and hand back leases. */
  async tick(): Promise<void> {
    const view = await this.membership.heartbeatView();
    this.members = view.live;
    this.lastHeartbeatAt = Date.now();
    const draining = view.draining.includes(this.token);
    if (draining !== this.draining) this.logger.log(draining ? 'drain flag set: handing every partition back, taking none' : 'drain flag cleared: taking partitions again');
    this.draining = draining;
    const desired = new Set(draining ? [] : assignedPartitions(this.token, assignableMembers(view), this.partitions));
    const ops: Promise<void>[] = [];
    for (let p = 0; p < this.partitions; p++) {
      if (this.stopping.has(p)) continue;
      if (this.busy.has(p)) {
        // Still being taken over or drained: keep the lease alive meanwhile, change nothing else.
        if (this.owned.has(p)) ops.push(this.extendOnly(p));
        continue;
      }
      const mine = this.owned.has(p);
      if (desired.has(p) || mine) {
        if (mine && !desired.has(p)) {
          this.background(this.handBack(p, draining ? 'drain' : 'rebalance'));
          continue;
        }
        ops.push(this.takeOrRenew(p, mine));
      }
    }
    // Only lease round trips are awaited here: take-overs and drains run in the background, so a slow
    // drain never delays the renewal of the other leases past their TTL.
    await Promise.all(ops);
  }

  private readonly pending = new Set<Promise<void>>();

  private background(op: Promise<void>): void {
    const tracked = op.catch((err) => this.logger.warn(`partition hand-over failed: ${(err as Error).message}`));
    this.pending.add(tracked);
    void tracked.finally(() => this.pending.delete(tracked));
  }

  private async takeOrRenew(p: number, mine: boolean): Promise<void> {
    const held = await scripts(this.redis).acquireLease(this.keys.lease(p), this.token, this.leaseTtlMs);
    if (this.stopped) return;
    if (held === 1 && !mine) {
      this.owned.add(p);
      this.busy.add(p);
      this.background(
        this.listener
          .acquired(p)
          .catch(async (err) => {
            // Half taken over (Redis error mid-claim): give the lease back so a later tick, here or on
            // another worker, takes the partition over cleanly instead of holding it unconsumed.
            this.logger.warn(`taking partition ${p} failed (${(err as Error).message}); releasing it`);
            this.owned.delete(p);
            await this.listener.released(p, 'lost').catch(() => undefined);
            await scripts(this.redis).releaseLease(this.keys.lease(p), this.token).catch(() => undefined);
          })
          .finally(() => this.busy.delete(p)),
      );
    } else if (held === 0 && mine) {
      this.logger.warn(`lease of partition ${p} was lost; stopping it`);
      this.background(this.stopLost(p));
    }
  }

  /**
   * Stops a partition whose lease is gone. Marked busy meanwhile, so no tick takes it again before the
   * stop has finished (a take-over racing the stop would leave the new reader's entries unhandled).
   */
  private async stopLost(p: number): Promise<void> {
    if (!this.owned.delete(p)) return;
    this.stopping.add(p);
    try {
      await this.listener.released(p, 'lost');
    } finally {
      this.stopping.delete(p);
    }
  }

  private async extendOnly(p: number): Promise<void> {
    await scripts(this.redis).acquireLease(this.keys.lease(p), this.token, this.leaseTtlMs);
  }

  private async handBack(p: number, reason: 'rebalance' | 'drain' | 'shutdown'): Promise<void> {
    if (this.busy.has(p) && reason !== 'shutdown') return;
    this.busy.add(p);
    try {
      await this.listener.released(p, reason);
      await scripts(this.redis).releaseLease(this.keys.lease(p), this.token);
    } finally {
      this.owned.delete(p);
      this.busy.delete(p);
    }
  }

  /** Drains and hands back every partition, then leaves the registry so others take over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.ticking?.catch(() => undefined);
    await Promise.allSettled([...this.pending]);
    await Promise.all(this.ownedPartitions().map((p) => this.handBack(p, 'shutdown')));
    await this.membership.leave().catch(() => undefined);
  }

  /** Called when a commit reported the lease gone: stop the partition without waiting for the next tick. */
  async lost(partition: number): Promise<void> {
    await this.stopLost(partition);
  }
}
