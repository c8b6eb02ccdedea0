import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Keys } from '../keys';
import type { RedisClient } from '../redis/connection';

export function defaultWorkerId(): string {
  return `${hostname().replace(/[^a-zA-Z0-9_.-]/g, '-').slice(0, 40)}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/** The registry as one heartbeat saw it: the live members and the ids flagged for draining (both sorted). */
export interface MembershipView {
  live: string[];
  draining: string[];
}

/**
 * The members partitions are spread over: the live ones not flagged for draining. A draining member keeps
 * heartbeating (it is alive and still handing partitions back) but wins nothing, so the others take its share.
 */
export function assignableMembers(view: MembershipView): string[] {
  const draining = new Set(view.draining);
  return view.live.filter((m) => !draining.has(m));
}

/**
 * Membership registry: each worker heartbeats an expiry into a ZSET. AP by design (as the write-up argues
 * for service registries): a stale view only delays a hand-over; leases and version checks keep state right.
 */
export class Membership {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    readonly workerId: string,
    private readonly ttlMs: number,
  ) {}

  /** Renews this worker's entry and returns the live members, sorted. */
  async heartbeat(now = Date.now()): Promise<string[]> {
    return (await this.heartbeatView(now)).live;
  }

  /** Renews this worker's entry and returns the live members and the drain flags, read in the same transaction. */
  async heartbeatView(now = Date.now()): Promise<MembershipView> {
    const results = await this.redis
      .multi()
      .zadd(this.keys.members(), now + this.ttlMs, this.workerId)
      .zremrangebyscore(this.keys.members(), '-inf', now)
      .zrangebyscore(this.keys.members(), now, '+inf')
      .hset(this.keys.memberInfo(), this.workerId, JSON.stringify({ pid: process.pid, host: hostname(), seen: now }))
      .hkeys(this.keys.drains())
      .exec();
    const live = (results?.[2]?.[1] as string[] | undefined) ?? [];
    const draining = (results?.[4]?.[1] as string[] | undefined) ?? [];
    return { live: live.sort(), draining: draining.sort() };
  }

  async live(now = Date.now()): Promise<string[]> {
    return (await this.redis.zrangebyscore(this.keys.members(), now, '+inf')).sort();
  }

  /**
   * Leaves at once, so the others take this worker's partitions on their next tick instead of after a TTL. Its
   * drain flag goes too: the drain has done its job, and a worker restarted under the same id after a deploy
   * must take partitions again.
   */
  async leave(): Promise<void> {
    await this.redis.multi().zrem(this.keys.members(), this.workerId).hdel(this.keys.memberInfo(), this.workerId).hdel(this.keys.drains(), this.workerId).exec();
  }
}
