/**
 * Error codes of the task center's worker-side components. A `TerminalError` with one of them is a business
 * refusal the task records as its stage's reason (FAILED; a replay may succeed once the merchant fixes the
 * cause); a `RetryableError` is a passing failure the task retries with backoff. Callers branch on these.
 */
export const TASK_REWARD_ERRORS = {
  /** A flow step names a handler this worker does not have. */
  unknownStep: 'UNKNOWN_STEP',
  /** The reward's flow is not configured (or the version the reward is pinned to has left the history). */
  flowNotFound: 'FLOW_NOT_FOUND',
  /** The flow belongs to another merchant than the task. */
  flowMerchantMismatch: 'FLOW_MERCHANT_MISMATCH',
  /** The stored flow does not pass the flow schema. */
  flowInvalid: 'FLOW_INVALID',
  /** The coupon template issued its whole stock. */
  couponOutOfStock: 'COUPON_OUT_OF_STOCK',
  /** The merchant's webhook answered 4xx (except 408 and 429): the request itself is refused. */
  webhookRejected: 'WEBHOOK_REJECTED',
  /** The merchant's webhook answered 5xx, 408 or 429, timed out or could not be reached. */
  webhookUnavailable: 'WEBHOOK_UNAVAILABLE',
  /** Redis or another dependency failed, or the call was aborted (its lease was lost); nothing is lost. */
  unavailable: 'TASK_REWARD_UNAVAILABLE',
} as const;
