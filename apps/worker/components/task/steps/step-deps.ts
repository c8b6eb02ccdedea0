import type { RedisClient } from '../../../../../common';
import type { StepResults } from '../step-results';
import type { TaskKeys } from '../task.keys';

/** What the built-in step handlers share: the connection, the key layout and how long marks are kept. */
export interface StepDeps {
  redis: RedisClient;
  keys: TaskKeys;
  results: StepResults;
  /** TTL of every idempotency mark (step results, coupon reservations, notification marks), in seconds. */
  ttlS: number;
  /** Ledger entries kept per user. */
  ledgerMax: number;
}
