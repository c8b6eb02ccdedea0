import { Logger } from '@nestjs/common';
import { z } from 'zod';
import { encodeEnvelope } from '../codec';
import { GROUPS } from '../constants';
import type { RuntimeConfig } from '../config';
import { describeError, ErrorCode, TerminalError } from '../errors';
import { assertValidId, assertValidTypeName } from '../ids';
import { Keys } from '../keys';
import { actorAddress, partitionOf } from '../partitioning';
import { commandBuffer, duplicateForBlocking, RedisClient } from '../redis/connection';
import { scripts } from '../redis/scripts';
import { NOOP_METRICS, RuntimeMetrics } from '../observability/runtime-metrics';

/**
 * A routing rule for the ingest stream: entries whose `event` field equals `event` go to actor type `actor`,
 * with the id read from `idField` (a field of the entry, or of its JSON `payload`), as a message of type
 * `messageType` (default: the event name) carrying the payload's fields.
 */
export const ingestRouteSchema = z.object({
  event: z.string().min(1),
  actor: z.string().min(1),
  idField: z.string().min(1),
  messageType: z.string().min(1).optional(),
});
export type IngestRoute = z.infer<typeof ingestRouteSchema>;

export interface RoutedMessage {
  actor: string;
  id: string;
  message: Record<string, unknown>;
  messageId: string;
}

const MAX_JSON_DEPTH = 32;

function depthOf(value: unknown, depth = 0): number {
  if (depth > MAX_JSON_DEPTH || typeof value !== 'object' || value === null) return depth;
  let max = depth;
  for (const v of Object.values(value)) max = Math.max(max, depthOf(v, depth + 1));
  return max;
}

/**
 * Resolves the entries of events no static route names (the task center's completion receipts): the entry's
 * fields, its decoded JSON payload and its stream id in, the messages for every target actor out (each with
 * its own message id; usually `event:<eventId>`, so a redelivery is dropped as a duplicate by each actor).
 * `[]`: the event is known and counts for nobody now (acknowledged). `null`: the resolver does not know the
 * event either, and the entry is dead-lettered as UNROUTABLE, as without a resolver. A thrown TerminalError
 * dead-letters the entry with its code; any other error leaves it pending for redelivery.
 */
export type IngestResolver = (entryId: string, fields: Record<string, string>, payload: Record<string, unknown>) => Promise<RoutedMessage[] | null>;

/** The checks every entry passes before it is routed (its size, its payload) and the message id it keeps. */
function decodeIngestEntry(entryId: string, fields: Record<string, string>, maxBytes: number): { payload: Record<string, unknown>; messageId: string } {
  const size = Object.entries(fields).reduce((n, [k, v]) => n + k.length + v.length, 0);
  if (size > maxBytes) throw new TerminalError(ErrorCode.EntryTooLarge, `the entry is ${size} bytes; at most ${maxBytes} are accepted`);
  let payload: Record<string, unknown> = {};
  if (fields.payload !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(fields.payload);
    } catch (err) {
      throw new TerminalError(ErrorCode.DecodeFailed, `the payload field is not valid JSON: ${(err as Error).message}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new TerminalError(ErrorCode.DecodeFailed, 'the payload field must be a JSON object');
    }
    if (depthOf(parsed) > MAX_JSON_DEPTH) throw new TerminalError(ErrorCode.DecodeFailed, `the payload is nested deeper than ${MAX_JSON_DEPTH} levels`);
    payload = parsed as Record<string, unknown>;
  }
  const messageId = fields.eventId ? `event:${assertValidId(fields.eventId, 'eventId')}` : `ingest:${entryId}`;
  return { payload, messageId };
}

function unroutable(event: string): TerminalError {
  return new TerminalError(ErrorCode.Unroutable, `no ingest route matches event ${JSON.stringify(event)}`);
}

/**
 * Turns one plain ingest entry (string fields, as any language's `XADD key * field value` writes them) into
 * an actor message. Pure, so it is unit-tested without Redis. Two forms:
 *  - direct:  actor <type> id <id> type <messageType> [payload <json>] [eventId <id>]
 *  - routed:  event <name> [payload <json>] [eventId <id>] [<field> <value> ...], matched against `routes`.
 */
export function routeIngestEntry(entryId: string, fields: Record<string, string>, routes: readonly IngestRoute[], maxBytes: number): RoutedMessage {
  const { payload, messageId } = decodeIngestEntry(entryId, fields, maxBytes);
  if (fields.actor !== undefined) {
    const actor = assertValidTypeName(fields.actor, 'actor');
    const id = assertValidId(fields.id, 'id');
    if (!fields.type) throw new TerminalError(ErrorCode.InvalidMessage, 'a direct entry needs a "type" field naming the message type');
    return { actor, id, message: { ...payload, type: fields.type }, messageId };
  }
  if (fields.event === undefined) {
    throw new TerminalError(ErrorCode.Unroutable, 'the entry has neither "actor" (direct form) nor "event" (routed form)');
  }
  const route = routes.find((r) => r.event === fields.event);
  if (!route) throw unroutable(fields.event);
  const rawId = fields[route.idField] ?? payload[route.idField];
  if (typeof rawId !== 'string' && typeof rawId !== 'number') {
    throw new TerminalError(ErrorCode.Unroutable, `event ${route.event} needs "${route.idField}" (an entry field or a payload field) to find its ${route.actor}`);
  }
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) if (!['event', 'payload', 'eventId'].includes(k)) extra[k] = v;
  return {
    actor: assertValidTypeName(route.actor, 'actor'),
    id: assertValidId(String(rawId), route.idField),
    message: { ...extra, ...payload, type: route.messageType ?? route.event },
    messageId,
  };
}

/**
 * Routes one entry to its actors: by the direct form or a static route as {@link routeIngestEntry} does (one
 * target, synchronously), else, for an event no static route names, by the `resolver` (any number of
 * targets, each checked like a routed one). Without a resolver the answers are exactly routeIngestEntry's.
 */
export function resolveIngestEntry(entryId: string, fields: Record<string, string>, routes: readonly IngestRoute[], maxBytes: number, resolver?: IngestResolver): RoutedMessage[] | Promise<RoutedMessage[]> {
  if (!resolver || fields.actor !== undefined || fields.event === undefined || routes.some((r) => r.event === fields.event)) {
    return [routeIngestEntry(entryId, fields, routes, maxBytes)];
  }
  const event = fields.event;
  const { payload } = decodeIngestEntry(entryId, fields, maxBytes);
  return resolver(entryId, fields, payload).then((routed) => {
    if (routed === null) throw unroutable(event);
    return routed.map((r) => ({
      actor: assertValidTypeName(r.actor, 'actor'),
      id: assertValidId(r.id, 'id'),
      message: r.message,
      messageId: assertValidId(r.messageId, 'message id'),
    }));
  });
}

/**
 * Consumes the ingest stream with a consumer group shared by all workers and forwards each entry to its
 * actor's partition inbox. At-least-once: a crash between forward and XACK forwards again with the same
 * message id, which the actor drops as a duplicate. Entries that cannot be routed are dead-lettered. Events no
 * static route names go to the optional resolver; an entry it routes to several actors is acknowledged once
 * every target's XADD succeeded (a redelivery adds them again under the same message ids).
 */
export class IngestRouter {
  private readonly logger = new Logger('IngestRouter');
  private conn?: RedisClient;
  private running = false;
  private loop?: Promise<void>;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly config: RuntimeConfig,
    private readonly consumer: string,
    private readonly routes: readonly IngestRoute[],
    private readonly metrics: RuntimeMetrics = NOOP_METRICS,
    private readonly resolver?: IngestResolver,
  ) {}

  async start(): Promise<void> {
    await this.redis.xgroup('CREATE', this.keys.ingest(), GROUPS.router, '0', 'MKSTREAM').catch((err: Error) => {
      if (!err.message.includes('BUSYGROUP')) throw err;
    });
    this.running = true;
    this.conn = duplicateForBlocking(this.redis);
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.conn?.disconnect();
    await this.loop?.catch(() => undefined);
  }

  private async run(): Promise<void> {
    const stream = this.keys.ingest();
    // Our own unacknowledged entries first (a restart with the same worker id), then entries others left idle.
    let from = '0';
    let claimAt = 0;
    while (this.running) {
      try {
        if (Date.now() >= claimAt) {
          claimAt = Date.now() + this.config.claimIdleMs;
          const [, claimed] = (await commandBuffer(this.redis, 'XAUTOCLAIM', stream, GROUPS.router, this.consumer, this.config.claimIdleMs, '0-0', 'COUNT', this.config.batchSize)) as unknown as [Buffer, Array<[Buffer, Buffer[] | null]>];
          if (claimed.length) await this.forward(claimed);
        }
        const reply = (await this.conn!.xreadgroupBuffer('GROUP', GROUPS.router, this.consumer, 'COUNT', this.config.batchSize, 'BLOCK', from === '0' ? 1 : this.config.blockMs, 'STREAMS', stream, from)) as Array<[Buffer, Array<[Buffer, Buffer[] | null]>]> | null;
        const entries = reply?.[0]?.[1] ?? [];
        if (from === '0' && entries.length === 0) from = '>';
        if (entries.length) await this.forward(entries);
      } catch (err) {
        if (!this.running) break;
        this.logger.warn(`ingest read failed: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  private async forward(entries: Array<[Buffer, Buffer[] | null]>): Promise<void> {
    const stream = this.keys.ingest();
    const acks: string[] = [];
    const writes: Promise<unknown>[] = [];
    const routed: Array<{ id: string; raw: Buffer[]; targets: RoutedMessage[] | Promise<RoutedMessage[]> }> = [];
    for (const [idBuf, raw] of entries) {
      const id = idBuf.toString();
      if (!raw) {
        acks.push(id);
        continue;
      }
      const fields: Record<string, string> = {};
      for (let i = 0; i + 1 < raw.length; i += 2) fields[raw[i].toString()] = raw[i + 1].toString();
      try {
        routed.push({ id, raw, targets: resolveIngestEntry(id, fields, this.routes, this.config.maxEntryBytes, this.resolver) });
      } catch (err) {
        writes.push(this.deadLetter(stream, id, raw, err));
      }
    }
    // Resolvers run concurrently; the XADDs below still go out in entry order, so one actor's entries keep theirs.
    const settled = await Promise.allSettled(routed.map((r) => r.targets));
    settled.forEach((outcome, i) => {
      const { id, raw } = routed[i];
      if (outcome.status === 'rejected') {
        // A resolver failing on its own (Redis down) is not the entry's fault: left pending, redelivered later.
        if (!(outcome.reason instanceof TerminalError)) {
          this.logger.warn(`ingest entry ${id} not routed this time: ${describeError(outcome.reason).message}`);
          return;
        }
        writes.push(this.deadLetter(stream, id, raw, outcome.reason));
        return;
      }
      const targets = outcome.value;
      writes.push(
        Promise.all(
          targets.map((target) => {
            const ref = { type: target.actor, id: target.id };
            const envelope = encodeEnvelope({ id: target.messageId, pattern: `actor:${ref.type}`, key: actorAddress(ref), data: { id: ref.id, message: target.message }, ts: Date.now() });
            return this.redis.xadd(this.keys.inbox(partitionOf(ref, this.config.partitions)), '*', 'e', envelope);
          }),
        ).then(() => {
          acks.push(id);
          this.metrics.ingestRouted(targets.length);
        }),
      );
    });
    await Promise.allSettled(writes);
    if (acks.length) await this.redis.xack(stream, GROUPS.router, ...acks);
  }

  private deadLetter(stream: string, id: string, raw: Buffer[], err: unknown): Promise<unknown> {
    const { code, message } = describeError(err);
    const args: Array<string | Buffer | number> = ['reason', message, 'code', code, 'stream', stream, 'entry', id, 'deliveries', 1, 'consumer', this.consumer, 'at', Date.now()];
    for (let i = 0; i + 1 < raw.length; i += 2) args.push(`f:${raw[i].toString()}`, raw[i + 1]);
    this.logger.warn(`ingest entry ${id} dead-lettered (${code}): ${message}`);
    return scripts(this.redis).deadLetter(stream, this.keys.ingestDead(), GROUPS.router, id, this.config.deadMaxLen, ...args).then(() => this.metrics.deadLettered('ingest', code));
  }
}
