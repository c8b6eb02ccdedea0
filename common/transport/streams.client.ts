import { Logger } from '@nestjs/common';
import { ClientProxy, ReadPacket, WritePacket } from '@nestjs/microservices';
import { randomUUID } from 'node:crypto';
import { decodeEnvelope, encodeEnvelope, ENVELOPE_FIELD } from '../codec';
import { compileConfig, PropelConfig, PropelOptions } from '../config';
import { ErrorCode, PropelError } from '../errors';
import { assertValidId } from '../ids';
import { Keys } from '../keys';
import { actorAddress, fnv1a, partitionOf } from '../partitioning';
import type { ActorDefinition, MessageOf, StateOf } from '../actor/define-actor';
import { createRedis, duplicateForBlocking, RedisClient } from '../redis/connection';
import type { TurnReply } from '../runtime/actor-host';
import { fieldOf } from './stream-context';
import { settledWithin } from '../shutdown';

const DEFAULT_ASK_TIMEOUT_MS = 30_000;

/**
 * A Nest ClientProxy that produces to Propel's partition streams. `emit(pattern, data)` appends an event;
 * `send(pattern, data)` appends a request with a reply stream of this client's own and resolves with the
 * handler's answer. `actor:<type>` patterns take `{ id, message }` and go to that actor's partition.
 */
export class RedisStreamsClient extends ClientProxy {
  private readonly logger = new Logger('RedisStreamsClient');
  readonly config: PropelConfig;
  readonly keys: Keys;
  readonly clientId = randomUUID();
  private redis?: RedisClient;
  private replyConn?: RedisClient;
  private replyLoop?: Promise<void>;
  private replyLoopStarted?: Promise<void>;
  private readonly waiting = new Map<string, (packet: WritePacket) => void>();

  constructor(options: PropelOptions | PropelConfig = {}) {
    super();
    this.config = compileConfig(options as PropelOptions);
    this.keys = new Keys(this.config.runtime.namespace);
  }

  async connect(): Promise<RedisClient> {
    this.redis ??= createRedis(this.config.redis, `propel-client:${this.clientId}`);
    return this.redis;
  }

  async close(): Promise<void> {
    const redis = this.redis;
    this.redis = undefined;
    // With Redis unreachable the reply loop never starts and QUIT never answers: wait at most a second for each.
    await settledWithin(this.replyLoopStarted, 1_000);
    const conn = this.replyConn;
    this.replyConn = undefined;
    conn?.disconnect();
    await settledWithin(this.replyLoop, 1_000);
    this.replyLoopStarted = undefined;
    this.replyLoop = undefined;
    const quit = redis?.quit();
    if (!(await settledWithin(quit, 1_000))) redis?.disconnect();
  }

  unwrap<T>(): T {
    return this.redis as T;
  }

  /**
   * Sends a typed message to an actor and waits for the committed turn (at most `timeoutMs`; the message
   * stays in the inbox and is still applied if the wait times out). A fixed `messageId` makes retries safe.
   */
  ask<D extends ActorDefinition<any, any>>(actor: D, id: string, message: MessageOf<D>, options: { timeoutMs?: number; messageId?: string } = {}): Promise<TurnReply<StateOf<D>>> {
    const pattern = `actor:${actor.type}`;
    const corr = randomUUID();
    const timeoutMs = options.timeoutMs ?? DEFAULT_ASK_TIMEOUT_MS;
    return new Promise<TurnReply<StateOf<D>>>((resolve, reject) => {
      // Only a message known to be in the inbox "stays queued": a timeout while the append is still pending (Redis
      // unreachable, a failover) is NOT_QUEUED, so a caller sends it again instead of counting it as accepted.
      let appended = false;
      const timer = setTimeout(() => {
        this.waiting.delete(corr);
        reject(
          appended
            ? new PropelError(ErrorCode.CallTimeout, `no answer from ${pattern} ${id} within ${timeoutMs} ms (the message stays queued)`)
            : new PropelError(ErrorCode.NotQueued, `the message for ${pattern} ${id} could not be written to its inbox within ${timeoutMs} ms; send it again`),
        );
      }, timeoutMs);
      this.waiting.set(corr, (packet) => {
        clearTimeout(timer);
        if (packet.err) reject(Object.assign(new PropelError((packet.err as { code?: string }).code ?? ErrorCode.HandlerFailed, (packet.err as { message?: string }).message ?? 'request failed'), { detail: packet.err }));
        else resolve(packet.response as TurnReply<StateOf<D>>);
      });
      this.ensureReplyLoop()
        .then(() => this.append(pattern, { id, message }, options.messageId ?? randomUUID(), { replyTo: this.keys.replies(this.clientId), corr }))
        .then(() => {
          appended = true;
        })
        .catch((err) => {
          clearTimeout(timer);
          this.waiting.delete(corr);
          // The append itself failed (Redis unreachable, a failover): the message is not in the inbox. A Propel
          // error (an invalid id, a message too large) is the caller's to handle as it is.
          reject(err instanceof PropelError ? err : new PropelError(ErrorCode.NotQueued, `the message for ${pattern} ${id} could not be written to its inbox (${(err as Error)?.message ?? err}); send it again`, { cause: err }));
        });
    });
  }

  /** Appends a typed message for an actor; resolves once it is in the actor's inbox. */
  async tell<D extends ActorDefinition<any, any>>(actor: D, id: string, message: MessageOf<D>, messageId?: string): Promise<string> {
    return this.append(`actor:${actor.type}`, { id, message }, messageId);
  }

  /** Appends an entry for `pattern` and returns its stream id. */
  async append(pattern: string, data: unknown, messageId: string = randomUUID(), extra: { replyTo?: string; corr?: string } = {}): Promise<string> {
    const redis = await this.connect();
    const { stream, key } = this.route(pattern, data);
    const envelope = encodeEnvelope({ id: messageId, pattern, key, data, ts: Date.now(), ...extra });
    return (await redis.xadd(stream, '*', ENVELOPE_FIELD, envelope)) as string;
  }

  /** Where an entry goes: an actor's partition, or the partition of its `key` (or pattern) for plain handlers. */
  route(pattern: string, data: unknown): { stream: string; key: string } {
    const partitions = this.config.runtime.partitions;
    if (pattern.startsWith('actor:')) {
      const id = assertValidId((data as { id?: unknown } | null)?.id, 'actor id');
      const ref = { type: pattern.slice('actor:'.length), id };
      return { stream: this.keys.inbox(partitionOf(ref, partitions)), key: actorAddress(ref) };
    }
    const dataKey = (data as { key?: unknown } | null)?.key;
    const key = typeof dataKey === 'string' ? dataKey : pattern;
    return { stream: this.keys.inbox(fnv1a(key) % partitions), key };
  }

  protected async dispatchEvent<T = unknown>(packet: ReadPacket): Promise<T> {
    await this.append(this.normalizePattern(packet.pattern), packet.data);
    return undefined as T;
  }

  protected publish(packet: ReadPacket, callback: (packet: WritePacket) => void): () => void {
    const corr = randomUUID();
    this.waiting.set(corr, callback);
    this.ensureReplyLoop()
      .then(() => this.append(this.normalizePattern(packet.pattern), packet.data, randomUUID(), { replyTo: this.keys.replies(this.clientId), corr }))
      .catch((err) => {
        this.waiting.delete(corr);
        callback({ err, isDisposed: true });
      });
    return () => this.waiting.delete(corr);
  }

  private ensureReplyLoop(): Promise<void> {
    // One loop per client, however many first requests race to start it.
    this.replyLoopStarted ??= this.connect().then((redis) => {
      const conn = (this.replyConn = duplicateForBlocking(redis));
      this.replyLoop = this.readReplies(conn, this.keys.replies(this.clientId));
    });
    return this.replyLoopStarted;
  }

  private async readReplies(conn: RedisClient, stream: string): Promise<void> {
    // The reply stream is this client's own and new, so reading from the start misses nothing
    // (starting at '$' would drop a reply written between two blocking reads).
    let last = '0-0';
    while (this.replyConn === conn) {
      try {
        const reply = (await conn.xreadBuffer('BLOCK', 1000, 'STREAMS', stream, last)) as Array<[Buffer, Array<[Buffer, Buffer[]]>]> | null;
        for (const [id, fields] of reply?.[0]?.[1] ?? []) {
          last = id.toString();
          const env = decodeEnvelope<{ response?: unknown; err?: unknown; isDisposed?: boolean }>(fieldOf(fields, ENVELOPE_FIELD));
          const cb = env.corr ? this.waiting.get(env.corr) : undefined;
          if (!cb) continue;
          this.waiting.delete(env.corr!);
          cb({ response: env.data.response, err: env.data.err, isDisposed: true });
        }
      } catch (err) {
        if (this.replyConn !== conn) break;
        this.logger.warn(`reply read failed: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }
}

