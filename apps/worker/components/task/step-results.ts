import type { RedisClient } from '../../../../common';
import type { TaskKeys } from './task.keys';

/**
 * The first result of each reward step, `stepResult(userId, stepKey)` = the step's reference as JSON, kept
 * for the idempotency TTL. The reward component reads it to skip steps a previous run finished, and records
 * each new result with SET NX so the first one wins; the balance and coupon scripts write the same key in the
 * same script as their grant, and the webhook handler reads it before it POSTs.
 */
export class StepResults {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: TaskKeys,
    private readonly ttlS: number,
  ) {}

  /** The stored references of `stepKeys` (one user's, so one slot: one MGET), undefined where none is stored. */
  async many(userId: string, stepKeys: readonly string[]): Promise<unknown[]> {
    if (stepKeys.length === 0) return [];
    const raw = await this.redis.mget(...stepKeys.map((k) => this.keys.stepResult(userId, k)));
    return raw.map((r) => (r === null ? undefined : JSON.parse(r)));
  }

  async get(userId: string, stepKey: string): Promise<unknown> {
    const raw = await this.redis.get(this.keys.stepResult(userId, stepKey));
    return raw === null ? undefined : JSON.parse(raw);
  }

  /** Stores `ref` unless the step already has a result, and returns the one that stays (the first). */
  async record(userId: string, stepKey: string, ref: unknown): Promise<unknown> {
    const key = this.keys.stepResult(userId, stepKey);
    const json = JSON.stringify(ref ?? null);
    if ((await this.redis.set(key, json, 'EX', this.ttlS, 'NX')) === 'OK') return JSON.parse(json);
    const first = await this.redis.get(key);
    return first === null ? JSON.parse(json) : JSON.parse(first);
  }
}
