/**
 * Errors carry a machine-readable `code`; callers branch on codes, never on message text.
 * Wire-facing errors (HTTP bodies, dead letters) carry the code and a sentence a person can act on.
 */
export enum ErrorCode {
  InvalidConfig = 'INVALID_CONFIG',
  InvalidId = 'INVALID_ID',
  DecodeFailed = 'DECODE_FAILED',
  UnsupportedVersion = 'UNSUPPORTED_VERSION',
  EntryTooLarge = 'ENTRY_TOO_LARGE',
  NoHandler = 'NO_HANDLER',
  UnknownActor = 'UNKNOWN_ACTOR',
  HandlerFailed = 'HANDLER_FAILED',
  MaxDeliveries = 'MAX_DELIVERIES',
  StaleVersion = 'STALE_VERSION',
  LeaseLost = 'LEASE_LOST',
  Unroutable = 'UNROUTABLE',
  Rejected = 'REJECTED',
  InvalidMessage = 'INVALID_MESSAGE',
  CallTimeout = 'CALL_TIMEOUT',
  /** The message was not (yet) written to the actor's inbox when the caller gave up: send it again. */
  NotQueued = 'NOT_QUEUED',
  CallFailed = 'CALL_FAILED',
  ShuttingDown = 'SHUTTING_DOWN',
}

export class PropelError extends Error {
  constructor(
    readonly code: ErrorCode | string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Retrying cannot help (bad input, a business rule): the entry is dead-lettered or the call answered at once. */
export class TerminalError extends PropelError {}

/** A passing failure (timeout, downstream down): retry after `retryAfterMs`. */
export class RetryableError extends PropelError {
  constructor(code: ErrorCode | string, message: string, readonly retryAfterMs = 0, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** The commit found another version than the turn was decided on: a stale writer, refused. */
export class StaleVersionError extends RetryableError {
  constructor(readonly actorKey: string, readonly expected: number, readonly actual: number) {
    super(ErrorCode.StaleVersion, `actor ${actorKey} is at version ${actual}, not ${expected}: the turn was decided on stale state`);
  }
}

/** The worker no longer holds the partition lease: it must stop writing to that partition. */
export class LeaseLostError extends RetryableError {
  constructor(readonly partition: number) {
    super(ErrorCode.LeaseLost, `this worker no longer holds the lease of partition ${partition}`);
  }
}

/** A short, stable description of any thrown value, for dead letters and logs. */
export function describeError(err: unknown): { code: string; message: string } {
  if (err instanceof PropelError) return { code: String(err.code), message: err.message };
  if (err instanceof Error) return { code: ErrorCode.HandlerFailed, message: err.message || err.name };
  return { code: ErrorCode.HandlerFailed, message: String(err) };
}

export function isTerminal(err: unknown): boolean {
  return err instanceof TerminalError;
}
