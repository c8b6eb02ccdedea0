import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Keys } from '../keys';
import type { RedisClient } from '../redis/connection';

export function defaultWorkerId(): string {
  return `${hostname().replace(/[^a-zA-Z0-9_.-]/g, '-').slice(0, 40)}-${process.pid}-${randomBytes(3).toString('hex')}`;
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
    const results = await this.redis
      .multi()
      .zadd(this.keys.members(), now + this.ttlMs, this.workerId)
      .zremrangebyscore(this.keys.members(), '-inf', now)
      .zrangebyscore(this.keys.members(), now, '+inf')
      .hset(this.keys.memberInfo(), this.workerId, JSON.stringify({ pid: process.pid, host: hostname(), seen: now }))
      .exec();
    const live = (results?.[2]?.[1] as string[] | undefined) ?? [];
    return live.sort();
  }

  async live(now = Date.now()): Promise<string[]> {
    return (await this.redis.zrangebyscore(this.keys.members(), now, '+inf')).sort();
  }

  /** Leaves at once, so the others take this worker's partitions on their next tick instead of after a TTL. */
  async leave(): Promise<void> {
    await this.redis.multi().zrem(this.keys.members(), this.workerId).hdel(this.keys.memberInfo(), this.workerId).exec();
  }
}
