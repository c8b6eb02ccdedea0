import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '@nestjs/common';
import { decodeEnvelope, describeError, ENVELOPE_FIELD, ErrorCode, RetryableError, TerminalError, type RedisClient } from '../../common';
import { commandBuffer } from '../../common/redis/connection';
import { scripts } from '../../common/redis/scripts';
import { NotifierErrorCode, toNotification, type Notification, type NotificationChannel } from './channel';
import { DeliveryState, NOTIFIER_GROUP, NotifierKeys } from './delivery-state';
import { channelsFor, type NotifierConfig } from './notifier.config';
import type { NotifierMetrics } from './notifier.metrics';

/** A notifications stream entry as read: its id, raw fields and how many times Redis delivered it. */
export interface RawEntry {
  id: string;
  fields: Buffer[];
  deliveries: number;
}

/** What the delivery of one entry shares with its notifier. */
export interface DeliveryContext {
  redis: RedisClient;
  keys: NotifierKeys;
  config: NotifierConfig;
  channels: ReadonlyMap<string, NotificationChannel>;
  state: DeliveryState;
  consumer: string;
  maxEntryBytes: number;
  deadMaxLen: number;
  /** Aborted when the notifier stops: backoffs end and the entry is left pending for another notifier. */
  stopping: AbortSignal;
  /** Aborted past the drain timeout: sends in progress give up. */
  sends: AbortSignal;
  logger: Logger;
  metrics?: NotifierMetrics;
}

interface Failure {
  channel: string;
  err: unknown;
}

function field(entry: RawEntry, name: string): Buffer | undefined {
  for (let i = 0; i + 1 < entry.fields.length; i += 2) if (entry.fields[i].toString() === name) return entry.fields[i + 1];
  return undefined;
}

/**
 * Delivers one entry to each of its channels, independently: a channel that delivered is recorded and never
 * sent again (across retries and redeliveries); a channel that fails terminally is dropped from later
 * attempts; the others are retried with exponential backoff. The entry is acknowledged when every channel
 * delivered, and dead-lettered (with the failing channels and the original bytes) when a channel failed
 * terminally or the attempts ran out. Never rejects.
 */
export async function deliverEntry(ctx: DeliveryContext, entry: RawEntry): Promise<void> {
  let n: Notification;
  let targets: NotificationChannel[];
  try {
    n = toNotification(decodeEnvelope(field(entry, ENVELOPE_FIELD), ctx.maxEntryBytes), entry.id);
    targets = channelsFor(ctx.config, n).map((name) => {
      const channel = ctx.channels.get(name);
      if (!channel) throw new TerminalError(NotifierErrorCode.UnknownChannel, `no adapter for channel '${name}' in this notifier`);
      return channel;
    });
  } catch (err) {
    return deadLetter(ctx, entry, [{ channel: '', err }], entry.deliveries);
  }
  const terminal: Failure[] = [];
  for (let attempt = Math.max(1, entry.deliveries); ; attempt++) {
    const failures: Failure[] = [];
    try {
      const done = await ctx.state.delivered(n.id);
      const todo = targets.filter((c) => !done.has(c.name) && !terminal.some((f) => f.channel === c.name));
      await Promise.all(todo.map((c) => sendOne(ctx, c, n).then((f) => f && (f.err instanceof TerminalError ? terminal : failures).push(f))));
    } catch (err) {
      failures.push({ channel: '', err }); // Redis unavailable while reading the delivery state
    }
    if (failures.length === 0) {
      if (terminal.length === 0) {
        await ctx.redis.xack(ctx.keys.stream(), NOTIFIER_GROUP, entry.id).then(() => ctx.metrics?.delivered(), (err) => warnLeftPending(ctx, entry, err));
      }
      else await deadLetter(ctx, entry, terminal, attempt, n.id);
      return;
    }
    if (ctx.stopping.aborted) return; // left pending: another notifier claims it
    if (attempt >= ctx.config.maxAttempts) return deadLetter(ctx, entry, [...failures, ...terminal], attempt, n.id);
    const hinted = Math.max(0, ...failures.map((f) => (f.err instanceof RetryableError ? f.err.retryAfterMs : 0)));
    const delay = Math.min(ctx.config.retryMaxMs, Math.max(ctx.config.retryBaseMs * 2 ** (attempt - 1), hinted));
    const { code, message } = describeError(failures[0].err);
    ctx.logger.warn(`notification ${n.id} (entry ${entry.id}) failed on ${names(failures)} (attempt ${attempt}, ${code}): ${message}; retry in ${delay} ms`);
    await sleep(delay, undefined, { signal: ctx.stopping }).catch(() => undefined);
    if (ctx.stopping.aborted || !(await keepOwnership(ctx, entry.id))) return;
  }
}

async function sendOne(ctx: DeliveryContext, channel: NotificationChannel, n: Notification): Promise<Failure | undefined> {
  try {
    await channel.send(n, { signal: ctx.sends });
  } catch (err) {
    ctx.metrics?.sent(channel.name, err instanceof TerminalError ? 'terminal' : 'retryable');
    return { channel: channel.name, err };
  }
  ctx.metrics?.sent(channel.name, 'ok');
  try {
    await ctx.state.markDelivered(n.id, channel.name, Date.now());
  } catch (err) {
    // Sent but not recorded: the retry sends again (at-least-once; the webhook's Idempotency-Key covers it).
    return { channel: channel.name, err };
  }
  return undefined;
}

/**
 * Checks the entry is still ours and resets its idle time (XCLAIM JUSTID keeps the delivery count), so a
 * long backoff is not mistaken for a crash and the entry is not claimed twice. False: another notifier owns it.
 */
async function keepOwnership(ctx: DeliveryContext, id: string): Promise<boolean> {
  try {
    const stream = ctx.keys.stream();
    const pending = (await ctx.redis.xpending(stream, NOTIFIER_GROUP, id, id, 1)) as Array<[string, string, number, number]>;
    if (pending.length === 0 || pending[0][1] !== ctx.consumer) return false;
    await commandBuffer(ctx.redis, 'XCLAIM', stream, NOTIFIER_GROUP, ctx.consumer, 0, id, 'JUSTID');
    return true;
  } catch {
    return true; // Redis hiccup: keep trying; the deadLetter script and XACK are safe to repeat
  }
}

function names(failures: Failure[]): string {
  return failures.map((f) => f.channel || '(entry)').join(',');
}

async function deadLetter(ctx: DeliveryContext, entry: RawEntry, failures: Failure[], attempts: number, notificationId?: string): Promise<void> {
  const { code: cause, message } = describeError(failures[0].err);
  const terminal = failures[0].err instanceof TerminalError;
  // Exhausted retries are filed under MAX_DELIVERIES; the channel's own code is kept as the cause.
  const code = terminal ? cause : ErrorCode.MaxDeliveries;
  const reason = terminal ? message : `gave up after ${attempts} attempts: ${message}`;
  const args: Array<string | Buffer | number> = [
    'reason', reason, 'code', code, 'cause', cause, 'channel', failures.map((f) => f.channel).filter(Boolean).join(','),
    'stream', ctx.keys.stream(), 'entry', entry.id, 'deliveries', attempts, 'consumer', ctx.consumer, 'at', Date.now(),
  ];
  if (notificationId) args.push('notificationId', notificationId);
  for (let i = 0; i + 1 < entry.fields.length; i += 2) args.push(`f:${entry.fields[i].toString()}`, entry.fields[i + 1]);
  try {
    await scripts(ctx.redis).deadLetter(ctx.keys.stream(), ctx.keys.dead(), NOTIFIER_GROUP, entry.id, ctx.deadMaxLen, ...args);
    ctx.metrics?.deadLettered(code);
    ctx.logger.warn(`dead-lettered notification entry ${entry.id} (${code}, channel ${names(failures)}): ${reason}`);
  } catch (err) {
    warnLeftPending(ctx, entry, err);
  }
}

function warnLeftPending(ctx: DeliveryContext, entry: RawEntry, err: unknown): void {
  // Left pending: claimed and settled again later; nothing is lost.
  ctx.logger.error(`could not settle notification entry ${entry.id}: ${(err as Error).message}`);
}
