import type { RedisClient } from '../../../../common';
import { scripts } from '../../../../common/redis/scripts';
import type { ActivityKeys } from './activity.keys';
import { bucketOrder, splitBudget } from './activity.rules';
import type { Activity } from './activity.types';

/** A bucket reservation an application holds: 1 taken by this call, 2 found from an earlier attempt of its key. */
export interface HeldReservation {
  bucket: number;
  status: 1 | 2;
}

/** How the grant script treats the budget: counted inline, already reserved, or exhausted with this code. */
export type BudgetMode = 'inline' | 'reserved' | 'BUDGET_TOTAL' | 'BUDGET_DAY';

/**
 * The buckets of a split budget (`budgetBuckets` > 1), each in a slot of its own with `total/N` (remainder to
 * the first). A reservation is one unit taken by one idempotency key, at most once per key per bucket, and
 * never past the bucket's limit, so granted ≤ reserved ≤ budget at every moment.
 */
export class BudgetBuckets {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: ActivityKeys,
    private readonly ttlS: number,
  ) {}

  /** Per-bucket limits: total and per day (0 = no daily limit). */
  limits(activity: Activity): { total: number[]; perDay: number[] } {
    const n = activity.budgetBuckets;
    return { total: splitBudget(activity.budget.total, n), perDay: activity.budget.perDay ? splitBudget(activity.budget.perDay, n) : Array(n).fill(0) };
  }

  /**
   * Walks the buckets in the key's order (`bucketOrder`) until one reserves. A reservation found from an
   * earlier attempt of the same key is reused, so retries never take a second unit. A key whose reservation
   * was released before already has a stored result, which the grant script replays.
   */
  async reserve(activity: Activity, key: string, dayField: string): Promise<{ mode: BudgetMode; held: HeldReservation | null }> {
    const { total, perDay } = this.limits(activity);
    const n = activity.budgetBuckets;
    let dayExhausted = false;
    for (const i of bucketOrder(key, n)) {
      const r = await scripts(this.redis).reserveBudget(this.keys.budget(activity.id, i, n), this.keys.reservation(activity.id, i, n, key), total[i], perDay[i], dayField, this.ttlS);
      if (r === 1 || r === 2) return { mode: 'reserved', held: { bucket: i, status: r } };
      if (r === 3) return { mode: 'BUDGET_TOTAL', held: null };
      if (r === -2) dayExhausted = true;
    }
    return { mode: dayExhausted ? 'BUDGET_DAY' : 'BUDGET_TOTAL', held: null };
  }

  /** Gives a held unit back (idempotent: a released reservation stays released). */
  async release(activity: Activity, key: string, held: HeldReservation): Promise<void> {
    const n = activity.budgetBuckets;
    await scripts(this.redis).releaseBudget(this.keys.budget(activity.id, held.bucket, n), this.keys.reservation(activity.id, held.bucket, n, key), this.ttlS);
  }

  /** What `consult` sees: 'reserved' if any bucket has room now, else the exhaustion code. Reads only. */
  async peek(activity: Activity, dayField: string): Promise<BudgetMode> {
    const { total, perDay } = this.limits(activity);
    const n = activity.budgetBuckets;
    let dayExhausted = false;
    for (let i = 0; i < n; i++) {
      const [used, today] = (await this.redis.hmget(this.keys.budget(activity.id, i, n), 'used', dayField)).map((v) => Number(v ?? 0));
      if (used >= total[i]) continue;
      if (perDay[i] > 0 && today >= perDay[i]) dayExhausted = true;
      else return 'reserved';
    }
    return dayExhausted ? 'BUDGET_DAY' : 'BUDGET_TOTAL';
  }

  /** Limit and units used, summed over every bucket. */
  async usage(activity: Activity): Promise<{ limit: number; used: number }> {
    const n = activity.budgetBuckets;
    let used = 0;
    for (let i = 0; i < n; i++) used += Number((await this.redis.hget(this.keys.budget(activity.id, i, n), 'used')) ?? 0);
    return { limit: activity.budget.total, used };
  }
}
