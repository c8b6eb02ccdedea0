import { Logger } from '@nestjs/common';
import { TerminalError } from '../../common';

/** Error codes of the notifier (dead letters and logs carry them; callers branch on them, never on text). */
export const NotifierErrorCode = {
  /** The payload is not a notification (no `kind`, not a map): no retry can fix it. */
  InvalidNotification: 'INVALID_NOTIFICATION',
  /** The webhook answered 4xx (except 408/429): the request itself is wrong. */
  WebhookRejected: 'WEBHOOK_REJECTED',
  /** The webhook answered 5xx, 408 or 429, or could not be reached in time. */
  WebhookUnavailable: 'WEBHOOK_UNAVAILABLE',
  /** A route names a channel this process has no adapter for. */
  UnknownChannel: 'UNKNOWN_CHANNEL',
} as const;

/** One notification as the channels see it, decoded from a notifications stream entry. */
export interface Notification {
  /** Stable across redelivery and re-emission: the payload's `notificationId`, else the envelope id. */
  id: string;
  /** e.g. REFERRAL_TASK_ASSIGNED, REFERRAL_REWARDED. */
  kind: string;
  userId?: string;
  /** The payload as the actor emitted it. */
  data: Record<string, unknown>;
  /** Producer's clock when the notification was made (ms since epoch). */
  ts: number;
  /** The stream entry it came from (for logs, not for identity: a re-emitted notification has another). */
  entryId: string;
}

/** What a channel's send receives besides the notification. */
export interface SendOptions {
  /** Aborted when the notifier shuts down past its drain timeout; a send must give up promptly. */
  signal: AbortSignal;
}

/**
 * A delivery adapter (log, webhook, push...). `send` resolves once the notification is delivered; it throws
 * a RetryableError for a passing failure (retried with backoff) and a TerminalError for a permanent one
 * (dead-lettered at once). Any other thrown value counts as retryable.
 */
export interface NotificationChannel {
  /** Unique name, used in routes, in the per-channel delivery state and in dead letters. */
  readonly name: string;
  send(notification: Notification, options: SendOptions): Promise<void>;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);
}

/**
 * Builds a Notification from a decoded envelope's parts; a payload that is not a map with a string `kind`
 * throws a TerminalError, since redelivering the same bytes cannot make it valid.
 */
export function toNotification(envelope: { id: string; data: unknown; ts: number }, entryId: string): Notification {
  const data = envelope.data;
  if (!isPlainObject(data)) throw new TerminalError(NotifierErrorCode.InvalidNotification, 'the notification payload must be a map');
  if (typeof data.kind !== 'string' || data.kind.length === 0) {
    throw new TerminalError(NotifierErrorCode.InvalidNotification, 'the notification payload has no kind');
  }
  const id = typeof data.notificationId === 'string' && data.notificationId.length > 0 ? data.notificationId : envelope.id;
  const userId = typeof data.userId === 'string' ? data.userId : undefined;
  return { id, kind: data.kind, userId, data, ts: envelope.ts, entryId };
}

/** Where the log channel writes its lines; Nest's Logger by default, a collecting function in tests. */
export type LogSink = (line: string) => void;

/**
 * Writes one JSON line per notification. The simplest channel and the default route: an operator (or a log
 * shipper) sees every notification even when no external channel is configured. Never fails by itself.
 */
export class LogChannel implements NotificationChannel {
  readonly name = 'log';
  private readonly sink: LogSink;

  constructor(sink?: LogSink) {
    const logger = new Logger('Notifier');
    this.sink = sink ?? ((line) => logger.log(line));
  }

  async send(n: Notification): Promise<void> {
    this.sink(JSON.stringify({ channel: this.name, id: n.id, kind: n.kind, userId: n.userId, ts: n.ts, data: n.data }));
  }
}
