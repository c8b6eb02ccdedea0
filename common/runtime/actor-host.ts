import { Logger } from '@nestjs/common';
import Redlock from 'redlock';
import { randomUUID } from 'node:crypto';
import { encode, encodeEnvelope, Envelope } from '../codec';
import type { RuntimeConfig } from '../config';
import { describeError, ErrorCode, PropelError, RetryableError, StaleVersionError, TerminalError } from '../errors';
import { assertValidId } from '../ids';
import { Keys } from '../keys';
import { actorAddress, ActorRef, partitionOf } from '../partitioning';
import type { ActorDefinition, CallReply } from '../actor/define-actor';
import { ActorRecord, CallEffect, newRecord } from '../actor/record';
import { ActorDelivery, runTurn, TurnLimits } from '../actor/turn';
import type { RedisClient } from '../redis/connection';
import type { StreamContext } from '../transport/stream-context';
import { ActorStore, CommitBatcher, CommitTurn } from './actor-store';

/** A component an actor calls through a `call` effect; the idempotency key is the same on every retry. */
export type Component = (input: unknown, ctx: { idempotencyKey: string; signal: AbortSignal; actor: ActorRef }) => Promise<unknown>;

/** What a turn answers to a request (`@MessagePattern` / `client.send`). */
export interface TurnReply<S = unknown> {
  actor: string;
  version: number;
  status: string;
  state: S;
  duplicate?: boolean;
  rejected?: { code: string; reason: string };
}

const MAX_STALE_RETRIES = 3;

/**
 * Runs actor turns for the partitions this worker owns: load (cache or Redis), pure turn, batched commit,
 * then the effects that happen after commit (call effects under the actor lease, relay kicks).
 */
export class ActorHost {
  private readonly logger = new Logger('ActorHost');
  private readonly cache = new Map<string, ActorRecord>();
  private readonly calls = new Set<Promise<void>>();
  private readonly limits: TurnLimits;
  private readonly redlock: Redlock;
  readonly batcher: CommitBatcher;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly store: ActorStore,
    private readonly config: RuntimeConfig,
    private readonly actors: Map<string, ActorDefinition<any, any>>,
    private readonly components: Record<string, Component>,
    leaseToken: (partition: number) => string,
    private readonly onOutbox: (partition: number) => void,
  ) {
    this.limits = { seenLimit: config.seenLimit, callTimeoutMs: config.callTimeoutMs };
    this.batcher = new CommitBatcher(store, leaseToken);
    // One Redis (or one Cluster) is one "instance" for redlock: the lease is lock_time, not the correctness
    // guard; the commit's version check is (architecture.md, invariant 6).
    // Extend when a third of the lease is left (redlock wants the lease ≥ threshold + 100 ms).
    this.redlock = new Redlock([redis], { retryCount: 0, automaticExtensionThreshold: Math.floor(config.actorLeaseMs / 3) });
  }

  definition(type: string): ActorDefinition<any, any> {
    const def = this.actors.get(type);
    if (!def) throw new TerminalError(ErrorCode.UnknownActor, `no actor type ${JSON.stringify(type)} is hosted here`);
    return def;
  }

  /** Handles one `actor:<type>` entry. Resolves after the turn is committed (and acknowledged with it). */
  async deliver(type: string, data: ActorDelivery, envelope: Envelope, ctx: StreamContext): Promise<TurnReply> {
    const def = this.definition(type);
    if (typeof data !== 'object' || data === null) throw new TerminalError(ErrorCode.InvalidMessage, 'an actor entry must carry { id, message }');
    const ref: ActorRef = { type, id: assertValidId(data.id, 'actor id') };
    const partition = ctx.getPartition();
    if (partitionOf(ref, this.config.partitions) !== partition) {
      throw new TerminalError(ErrorCode.Unroutable, `actor ${actorAddress(ref)} belongs to partition ${partitionOf(ref, this.config.partitions)}, not ${partition}: the producer uses another partition count`);
    }
    const cacheKey = `${partition}|${actorAddress(ref)}`;
    for (let attempt = 0; ; attempt++) {
      const now = Date.now();
      const current = this.cache.get(cacheKey) ?? (await this.store.load(partition, ref)) ?? this.fresh(def, ref.id, now);
      const result = runTurn(def, current, data, { self: ref, now, messageId: envelope.id }, this.limits);
      const turn: CommitTurn = { ref, entryId: ctx.getEntryId(), expectedVersion: -1, outbox: [], local: [], audit: [] };
      if (result.kind !== 'duplicate') {
        turn.expectedVersion = current.version;
        turn.record = result.record;
        // A timer tick always rewrites the score: fireTimers re-armed it as a safety net.
        turn.dueChanged = data.timer !== undefined || result.record.scheduleTime !== current.scheduleTime;
        for (const send of result.sends) this.route(partition, send.to, send.message, send.id, now, turn);
        for (const emit of result.emits) {
          turn.outbox.push([this.keys.named(emit.stream), encodeEnvelope({ id: emit.id, pattern: emit.stream, data: emit.payload, ts: now })]);
        }
        for (const audit of result.audit) turn.audit.push(encode(audit));
      }
      const code = await this.batcher.commit(partition, turn);
      if (code === -1) {
        // Another writer committed first: our cached or loaded state was stale. Reload and decide again.
        this.cache.delete(cacheKey);
        if (attempt >= MAX_STALE_RETRIES) throw new StaleVersionError(actorAddress(ref), current.version, -1);
        continue;
      }
      ctx.markAcked();
      const record = result.kind === 'duplicate' ? current : { ...result.record, version: code };
      this.remember(cacheKey, record);
      if (turn.outbox.length) this.onOutbox(partition);
      for (const call of result.calls) this.startCall(partition, ref, call);
      return {
        actor: actorAddress(ref),
        version: record.version,
        status: record.status,
        state: record.state,
        ...(result.kind === 'duplicate' ? { duplicate: true } : {}),
        ...(result.rejected ? { rejected: result.rejected } : {}),
      };
    }
  }

  private fresh(def: ActorDefinition<any, any>, id: string, now: number): ActorRecord {
    const initial = def.initial(id);
    return newRecord(initial, def.status ? def.status(initial) : statusOf(initial), now);
  }

  private route(from: number, to: ActorRef, message: unknown, id: string, now: number, turn: CommitTurn): void {
    assertValidId(to.id, 'target actor id');
    const target = partitionOf(to, this.config.partitions);
    const envelope = encodeEnvelope({ id, pattern: `actor:${to.type}`, key: actorAddress(to), data: { id: to.id, message }, ts: now });
    if (target === from) turn.local.push(envelope);
    else turn.outbox.push([this.keys.inbox(target), envelope]);
  }

  private remember(key: string, record: ActorRecord): void {
    if (this.config.stateCacheSize === 0) return;
    this.cache.delete(key);
    this.cache.set(key, record);
    if (this.cache.size > this.config.stateCacheSize) this.cache.delete(this.cache.keys().next().value as string);
  }

  /** Forgets cached states of a partition (taken over or handed back): the next turn reloads from Redis. */
  invalidate(partition: number): void {
    const prefix = `${partition}|`;
    for (const key of this.cache.keys()) if (key.startsWith(prefix)) this.cache.delete(key);
  }

  /** Runs a call effect under the actor lease (lock_time) and delivers its result to the actor's inbox. */
  private startCall(partition: number, ref: ActorRef, call: CallEffect): void {
    const run = this.runCall(partition, ref, call).catch((err) => this.logger.error(`call ${call.key} of ${actorAddress(ref)} could not deliver its reply: ${(err as Error).message}`));
    this.calls.add(run);
    run.finally(() => this.calls.delete(run));
  }

  private async runCall(partition: number, ref: ActorRef, call: CallEffect): Promise<void> {
    const component = this.components[call.component];
    let reply: CallReply;
    if (!component) {
      reply = { type: call.reply, key: call.key, ok: false, error: { code: ErrorCode.CallFailed, message: `no component ${call.component} is registered`, retryable: false } };
    } else {
      try {
        const value = await this.redlock.using([this.keys.actorLock(partition, ref)], this.config.actorLeaseMs, async (signal: AbortSignal) =>
          component(call.input, { idempotencyKey: call.key, signal, actor: ref }),
        );
        reply = { type: call.reply, key: call.key, ok: true, value };
      } catch (err) {
        const { code, message } = describeError(err);
        const retryable = !(err instanceof TerminalError) && (err instanceof RetryableError || !(err instanceof PropelError));
        reply = { type: call.reply, key: call.key, ok: false, error: { code, message, retryable } };
      }
    }
    const envelope = encodeEnvelope({
      id: `reply:${actorAddress(ref)}:${call.key}:${randomUUID()}`,
      pattern: `actor:${ref.type}`,
      key: actorAddress(ref),
      data: { id: ref.id, message: reply, reply: true },
      ts: Date.now(),
    });
    await this.redis.xadd(this.keys.inbox(partition), '*', 'e', envelope);
  }

  /** Waits (bounded) for running call effects; a call cut off here is answered by its deadline timer. */
  async drain(timeoutMs: number): Promise<void> {
    const all = Promise.allSettled([...this.calls]);
    await Promise.race([all, new Promise((r) => setTimeout(r, timeoutMs))]);
  }
}

function statusOf(state: unknown): string {
  const s = (state as { status?: unknown } | null)?.status;
  return typeof s === 'string' ? s : 'active';
}
