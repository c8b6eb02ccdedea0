import { PropelError, RetryableError, TerminalError } from '../errors';

/** Codes of the idempotency component, carried by its errors and markers. */
export const IdempotencyCode = {
  Duplicate: 'IDEMPOTENCY_DUPLICATE',
  KeyReused: 'IDEMPOTENCY_KEY_REUSED',
  InProgress: 'IDEMPOTENCY_IN_PROGRESS',
  StoreUnavailable: 'IDEMPOTENCY_STORE_UNAVAILABLE',
} as const;

/** A call repeated an idempotency key already used (strategy `throw`); the first call's effect stands. */
export class DuplicateRequestError extends TerminalError {
  constructor(readonly key: string, readonly state: 'in-progress' | 'done') {
    super(IdempotencyCode.Duplicate, `the request with idempotency key ${key} was already ${state === 'done' ? 'processed' : 'received and is still running'}; it is not run again`);
  }
}

/** The idempotency key was first used with another payload: a client bug, never answered with the other's result. */
export class IdempotencyKeyReusedError extends TerminalError {
  constructor(readonly key: string) {
    super(IdempotencyCode.KeyReused, `idempotency key ${key} was already used with a different payload; use a new key for a different request`);
  }
}

/** A `first-result` duplicate waited its bound and the first call is still running: retry later. */
export class IdempotencyInProgressError extends RetryableError {
  constructor(readonly key: string, retryAfterMs: number) {
    super(IdempotencyCode.InProgress, `the request with idempotency key ${key} is still running; retry in a moment for its result`, retryAfterMs);
  }
}

/** A store was chosen (by the decorator or dynamic configuration) that this process has not configured. */
export class IdempotencyStoreUnavailableError extends PropelError {
  constructor(store: string) {
    super(IdempotencyCode.StoreUnavailable, `idempotency store '${store}' is not configured in IdempotencyModule.forRoot; configure it or switch the operation to another store`);
  }
}
