/**
 * Counts failed dashboard logins per client address and refuses more than `maxFailures` within `windowMs`,
 * so the login form cannot be used to guess the admin token at request speed. In memory: each gateway
 * instance counts its own (a guesser spread over N instances gets N times the budget, still tiny).
 */
export class LoginThrottle {
  private readonly failures = new Map<string, { count: number; resetAt: number }>();

  constructor(
    readonly maxFailures = 10,
    readonly windowMs = 5 * 60_000,
    /** Addresses tracked at most; past that the expired ones are dropped, then the oldest. */
    private readonly maxTracked = 10_000,
  ) {}

  /** 0 when `client` may try now, else the ms until it may. */
  retryAfterMs(client: string, now = Date.now()): number {
    const f = this.failures.get(client);
    if (!f || f.resetAt <= now) return 0;
    return f.count >= this.maxFailures ? f.resetAt - now : 0;
  }

  /** Records a failed attempt. */
  fail(client: string, now = Date.now()): void {
    const f = this.failures.get(client);
    if (!f || f.resetAt <= now) {
      if (this.failures.size >= this.maxTracked) this.prune(now);
      this.failures.set(client, { count: 1, resetAt: now + this.windowMs });
    } else {
      f.count++;
    }
  }

  /** A successful login clears the address's failures. */
  succeed(client: string): void {
    this.failures.delete(client);
  }

  private prune(now: number): void {
    for (const [client, f] of this.failures) if (f.resetAt <= now) this.failures.delete(client);
    // Still full (a flood of addresses): forget the oldest entries (Map keeps insertion order).
    for (const client of this.failures.keys()) {
      if (this.failures.size < this.maxTracked) break;
      this.failures.delete(client);
    }
  }
}
