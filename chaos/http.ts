import { keepAliveAgent, request as requestOn } from '../bench/lib/http';
import type { Answer } from '../bench/lib/http';

const agent = keepAliveAgent(64);

/** One JSON request on a keep-alive connection; rejects on network errors and after `timeoutMs`. */
const request = (base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}, timeoutMs = 15_000): Promise<Answer> =>
  requestOn(agent, base, method, path, body, headers, timeoutMs);

/** Counts of HTTP outcomes by route and status (`network` for requests that got no answer). */
export class HttpTally {
  readonly byRoute = new Map<string, Map<string, number>>();
  sent = 0;
  retries = 0;
  gaveUp = 0;

  note(route: string, outcome: string): void {
    let m = this.byRoute.get(route);
    if (!m) this.byRoute.set(route, (m = new Map()));
    m.set(outcome, (m.get(outcome) ?? 0) + 1);
  }

  toJSON(): Record<string, Record<string, number>> {
    return Object.fromEntries([...this.byRoute].map(([route, m]) => [route, Object.fromEntries([...m].sort())]));
  }

  /** Requests answered with a 5xx or not answered at all (what the client had to retry). */
  errors(): number {
    let n = 0;
    for (const m of this.byRoute.values()) for (const [k, v] of m) if (k === 'network' || k.startsWith('5')) n += v;
    return n;
  }
}

/**
 * Sends a request until it gets an answer that is not a passing failure (no answer, 5xx, 429), with backoff,
 * for at most `maxMs`. Returns the final answer, or null when it gave up.
 */
export async function requestWithRetry(tally: HttpTally, route: string, base: () => string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}, maxMs = 60_000): Promise<Answer | null> {
  const deadline = Date.now() + maxMs;
  for (let attempt = 0; ; attempt++) {
    tally.sent++;
    if (attempt > 0) tally.retries++;
    let answer: Answer | null = null;
    try {
      answer = await request(base(), method, path, body, headers);
      tally.note(route, String(answer.status));
    } catch {
      tally.note(route, 'network');
    }
    if (answer && answer.status < 500 && answer.status !== 429) return answer;
    if (Date.now() > deadline) {
      tally.gaveUp++;
      return null;
    }
    await new Promise((r) => setTimeout(r, Math.min(2_000, 100 * 2 ** Math.min(attempt, 5))));
  }
}
