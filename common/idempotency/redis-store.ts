import type { RedisClient } from '../redis/client';
import { registerScripts, scripts } from '../redis/scripts';
import { Keys } from '../keys';
import { decodeResult, encodeResult } from './codec';
import type { BeginOutcome, IdempotencyStore } from './types';

/**
 * Idempotency records in Redis: one hash per key under its own hash tag, claimed, completed and abandoned by
 * one Lua script each (common/lua/*Idempotent-1.lua), so a claim is atomic on a standalone server and a Cluster.
 */
export class RedisIdempotencyStore implements IdempotencyStore {
  readonly name = 'redis' as const;
  private readonly keys: Keys;

  constructor(private readonly redis: RedisClient, namespace: string) {
    this.keys = new Keys(namespace);
    // A connection made with plain `new Redis()` lacks the scripts; registering again is harmless.
    registerScripts(redis);
  }

  async begin(key: string, fingerprint: string, ttlMs: number): Promise<BeginOutcome> {
    const [code, fp, result] = await scripts(this.redis).beginIdempotent(this.keys.idempotency(key), fingerprint, ttlMs);
    if (code === 1) return 'started';
    if (code === 3) return { state: 'done', fingerprint: fp ?? '', result: decodeResult(result) };
    return { state: 'in-progress', fingerprint: fp ?? '' };
  }

  async complete(key: string, fingerprint: string, result: unknown, ttlMs: number): Promise<boolean> {
    return (await scripts(this.redis).completeIdempotent(this.keys.idempotency(key), fingerprint, encodeResult(result), ttlMs)) === 1;
  }

  async abandon(key: string, fingerprint: string): Promise<boolean> {
    return (await scripts(this.redis).abandonIdempotent(this.keys.idempotency(key), fingerprint)) === 1;
  }
}
