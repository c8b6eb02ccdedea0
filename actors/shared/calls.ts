import type { CallReply } from '../../common/actor';
import { ErrorCode } from '../../common/errors';

/** How a failed call is classified: a final business rejection, a transient failure, or a system failure. */
export type FailureKind = 'rejected' | 'transient' | 'system';

// Non-retryable codes that come from the runtime, not from a business rule: a missing component or input it
// refused. Treating them as a business rejection would deny a reward for good; a person has to look.
const SYSTEM_FAILURES: ReadonlySet<string> = new Set([ErrorCode.CallFailed, ErrorCode.InvalidMessage]);

/**
 * Classifies a failed call's reply for every actor that calls components: a runtime code is a system failure
 * (a person looks), otherwise the component's `retryable` decides between retrying and a final rejection.
 */
export function failureKind(reply: Extract<CallReply, { ok: false }>): FailureKind {
  if (SYSTEM_FAILURES.has(reply.error.code)) return 'system';
  return reply.error.retryable ? 'transient' : 'rejected';
}

/** Delay before retry round `round` (1-based): base × 2^(round−1), capped. No jitter: `decide` is pure. */
export function backoffMs(policy: { backoffBaseMs: number; backoffCapMs: number }, round: number): number {
  return Math.min(policy.backoffCapMs, policy.backoffBaseMs * 2 ** (round - 1));
}
