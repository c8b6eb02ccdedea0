import { assertValidId } from '../../../../common';
import type { RedisClient } from '../../../../common';
import type { TaskKeys } from './task.keys';

/** One line of a user's task reward ledger: a granted points, growth or coupon step. */
export interface TaskLedgerEntry {
  /** The step key `<taskId>#s<stage>#<step>`: unique per grant. */
  key: string;
  type: 'points' | 'growth' | 'coupon';
  /** Points or growth granted. */
  amount?: number;
  /** Coupon template and the code issued. */
  template?: string;
  code?: string;
  taskId: string;
  merchantId: string;
  /** When the reward ran (ms). */
  at: number;
}

/** A user's balances; a kind never granted reads 0. */
export interface TaskBalances {
  points: number;
  growth: number;
}

/** Ledger entries a read returns when the caller names no limit, and the most it may ask for. */
export const LEDGER_READ_DEFAULT = 50;
export const LEDGER_READ_MAX = 1_000;

/** The read side of task rewards for the gateway: balances and the ledger, straight from the user's slot. */
export class TaskRewards {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: TaskKeys,
  ) {}

  async balances(userId: string): Promise<TaskBalances> {
    assertValidId(userId, 'userId');
    const [points, growth] = await this.redis.hmget(this.keys.balances(userId), 'points', 'growth');
    return { points: Number(points ?? 0), growth: Number(growth ?? 0) };
  }

  /** The user's last `limit` ledger entries (1 … LEDGER_READ_MAX), oldest first. */
  async ledger(userId: string, limit: number = LEDGER_READ_DEFAULT): Promise<TaskLedgerEntry[]> {
    assertValidId(userId, 'userId');
    const n = Math.max(1, Math.min(LEDGER_READ_MAX, Math.floor(limit) || LEDGER_READ_DEFAULT));
    const raw = await this.redis.lrange(this.keys.ledger(userId), -n, -1);
    return raw.map((r) => JSON.parse(r) as TaskLedgerEntry);
  }
}
