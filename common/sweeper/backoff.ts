/** How far apart the sweepers re-drive one actor: exponential, capped, with jitter. */
export interface BackoffPolicy {
  baseMs: number;
  capMs: number;
  /** 0..1: the delay is spread over ± this share of itself, so actors stalled together do not return together. */
  jitter: number;
}

/**
 * Delay before the sweepers look at an actor again after its `retry`-th re-drive (1-based):
 * `baseMs × 2^(retry−1)`, capped at `capMs`, then spread by ± `jitter` of itself and capped again.
 * `random` is injected (0 ≤ r < 1) so the policy is testable; never below 1 ms.
 */
export function sweepBackoff(retry: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const exponent = Math.max(0, Math.min(retry - 1, 52));
  const delay = Math.min(policy.capMs, policy.baseMs * 2 ** exponent);
  const spread = delay * policy.jitter * (2 * random() - 1);
  return Math.max(1, Math.min(policy.capMs, Math.round(delay + spread)));
}
