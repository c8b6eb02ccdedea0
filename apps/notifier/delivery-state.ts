import { Keys, type RedisClient } from '../../common';

/** The stream the outbox relay fills with notifications (actors emit to `notifications`). */
export const NOTIFICATIONS = 'notifications';
/** Consumer group shared by every notifier process. */
export const NOTIFIER_GROUP = 'notifier';

/**
 * The notifier's keys, derived from the runtime's `Keys` so the stream names stay defined in one place. The
 * dead-letter stream shares the stream's hash tag, as the deadLetter script requires.
 */
export class NotifierKeys {
  private readonly keys: Keys;

  constructor(readonly ns: string) {
    this.keys = new Keys(ns);
  }

  /** `{<ns>:out:notifications}:stream`. */
  stream(): string {
    return this.keys.named(NOTIFICATIONS);
  }
  /** `{<ns>:out:notifications}:dead`. */
  dead(): string {
    return this.stream().replace(/:stream$/, ':dead');
  }
  /** Hash of channel → delivery time for one notification id: `{<ns>:notify:<id>}`. */
  delivered(notificationId: string): string {
    return `{${this.ns}:notify:${notificationId}}`;
  }
}

/**
 * Which channels already delivered a notification. Written after each successful send, read before each
 * attempt, so a retried or redelivered entry never re-sends to a channel that succeeded (a failing webhook
 * does not repeat the log line). Records expire after `ttlS`: the window for recognising a redelivery.
 */
export class DeliveryState {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: NotifierKeys,
    private readonly ttlS: number,
  ) {}

  /** Channel names that delivered this notification. */
  async delivered(notificationId: string): Promise<Set<string>> {
    const fields = await this.redis.hkeys(this.keys.delivered(notificationId));
    return new Set(fields);
  }

  /** Records one channel's delivery; the TTL is refreshed with it. */
  async markDelivered(notificationId: string, channel: string, at: number): Promise<void> {
    const key = this.keys.delivered(notificationId);
    await this.redis.multi().hset(key, channel, at).expire(key, this.ttlS).exec();
  }
}
