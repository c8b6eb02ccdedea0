/** Where idempotency records live: Redis (preferred, SET-NX-like claim in one script) or MariaDB (a table). */
export type IdempotencyStoreName = 'redis' | 'mariadb';

/**
 * What a duplicate call gets: `first-result` the stored result of the first call (waiting a bounded time while
 * it still runs), `code` an {@link IdempotencyMarker}, `throw` a {@link DuplicateRequestError}.
 */
export type DuplicateStrategy = 'first-result' | 'code' | 'throw';

export const STORE_NAMES: readonly IdempotencyStoreName[] = ['redis', 'mariadb'];
export const DUPLICATE_STRATEGIES: readonly DuplicateStrategy[] = ['first-result', 'code', 'throw'];

/** What `begin` found: the caller claimed the key, or another call holds it (running or done). */
export type BeginOutcome =
  | 'started'
  | { state: 'in-progress'; fingerprint: string }
  | { state: 'done'; fingerprint: string; result: unknown };

/**
 * One seam for every idempotency backend. `begin` claims atomically: of any number of concurrent calls with
 * one key, exactly one gets 'started' until the record expires or is abandoned.
 */
export interface IdempotencyStore {
  readonly name: IdempotencyStoreName;
  begin(key: string, fingerprint: string, ttlMs: number): Promise<BeginOutcome>;
  /** Records the result of the caller's claim (same fingerprint, still in progress); false if the claim was lost. */
  complete(key: string, fingerprint: string, result: unknown, ttlMs: number): Promise<boolean>;
  /** Drops the caller's in-progress claim (the operation failed) so a retry runs the operation again. */
  abandon(key: string, fingerprint: string): Promise<boolean>;
}

/** The value a `code`-strategy duplicate returns instead of running the operation. */
export interface IdempotencyMarker {
  idempotent: 'DUPLICATE' | 'KEY_REUSED';
  /** IDEMPOTENCY_DUPLICATE or IDEMPOTENCY_KEY_REUSED. */
  code: string;
  key: string;
  /** The state of the first call when the duplicate arrived. */
  state: 'in-progress' | 'done';
}

export function isIdempotencyMarker(value: unknown): value is IdempotencyMarker {
  return typeof value === 'object' && value !== null && (value as { idempotent?: unknown }).idempotent !== undefined && typeof (value as { code?: unknown }).code === 'string';
}

/** The switchable part of an operation's policy: what dynamic configuration may change at run time. */
export interface IdempotencyPolicy {
  store: IdempotencyStoreName;
  onDuplicate: DuplicateStrategy;
}
