import { RetryableError, TerminalError } from '../../common';
import { NotifierErrorCode, type Notification, type NotificationChannel, type SendOptions } from './channel';

/** How a webhook's HTTP status is handled. */
export type StatusClass = 'ok' | 'retryable' | 'terminal';

/**
 * 2xx is delivered; 408 (timeout) and 429 (rate limit) and every 5xx are passing; any other status (4xx,
 * and the odd 1xx/3xx a redirect-less fetch can surface) means the request is wrong and a retry repeats it.
 */
export function classifyStatus(status: number): StatusClass {
  if (status >= 200 && status < 300) return 'ok';
  if (status === 408 || status === 429 || status >= 500) return 'retryable';
  return 'terminal';
}

/** Retry-After in ms (seconds or an HTTP date), or 0 when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number {
  if (!header) return 0;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(header);
  return Number.isFinite(at) ? Math.max(0, at - now) : 0;
}

/** Settings of the webhook channel. */
export interface WebhookOptions {
  url: string;
  /** Each request is abandoned after this long and counts as a retryable failure. */
  timeoutMs: number;
  /** Injected for tests; Node 20's global fetch otherwise. */
  fetch?: typeof fetch;
}

/**
 * POSTs each notification as JSON to one URL. The `Idempotency-Key` header is the notification id, so the
 * receiver can drop the duplicates at-least-once delivery produces (a crash between its 2xx and our record).
 */
export class WebhookChannel implements NotificationChannel {
  readonly name = 'webhook';
  private readonly fetch: typeof fetch;

  constructor(private readonly options: WebhookOptions) {
    this.fetch = options.fetch ?? fetch;
  }

  async send(n: Notification, { signal }: SendOptions): Promise<void> {
    const body = JSON.stringify({ id: n.id, kind: n.kind, userId: n.userId, ts: n.ts, data: n.data });
    let res: Response;
    try {
      res = await this.fetch(this.options.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': n.id },
        body,
        signal: AbortSignal.any([signal, AbortSignal.timeout(this.options.timeoutMs)]),
      });
    } catch (err) {
      // Network errors, DNS, refused connections, our timeout and shutdown aborts: all passing.
      const what = (err as Error).name === 'TimeoutError' ? `no answer within ${this.options.timeoutMs} ms` : (err as Error).message;
      throw new RetryableError(NotifierErrorCode.WebhookUnavailable, `webhook ${this.options.url} unreachable: ${what}`, 0, { cause: err });
    }
    // Drain the body so the connection returns to the pool.
    await res.arrayBuffer().catch(() => undefined);
    const verdict = classifyStatus(res.status);
    if (verdict === 'ok') return;
    if (verdict === 'terminal') {
      throw new TerminalError(NotifierErrorCode.WebhookRejected, `webhook ${this.options.url} rejected the notification with HTTP ${res.status}`);
    }
    throw new RetryableError(
      NotifierErrorCode.WebhookUnavailable,
      `webhook ${this.options.url} answered HTTP ${res.status}`,
      retryAfterMs(res.headers.get('retry-after')),
    );
  }
}
