import { Logger } from '@nestjs/common';
import Redlock from 'redlock';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { encode, encodeEnvelope, Envelope } from '../codec';
import type { RuntimeConfig } from '../config';
import { describeError, ErrorCode, PropelError, RetryableError, StaleVersionError, TerminalError } from '../errors';
import { assertValidId } from '../ids';
import { Keys } from '../keys';
import { actorAddress, ActorRef, partitionOf } from '../partitioning';
import type { ActorDefinition, CallReply } from '../actor/define-actor';
import { ActorRecord, CallEffect, newRecord } from '../actor/record';
import { ActorDelivery, runTurn, TurnLimits } from '../actor/turn';
import { NOOP_METRICS, RuntimeMetrics } from '../observability/runtime-metrics';
import type { RedisClient } from '../redis/connection';
import type { BatchItem, BatchOutcome } from '../transport/partition-consumer';
import type { StreamContext } from '../transport/stream-context';
import { ActorStore, CommitBatcher, CommitTurn } from './actor-store';
import { settledWithin } from '../shutdown';

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
export const ACTOR_PREFIX = 'actor:';

/** The status the runtime indexes for ops: an actor waiting for a person (see Keys.manual). */
export const MANUAL_INTERVENTION = 'MANUAL_INTERVENTION';

/**
 * Runs actor turns for the partitions this worker owns: load (cache or Redis), pure turn, batched commit,
 * then the effects that happen after commit (call effects under the actor lease, relay kicks).
 */
export class ActorHost {
  private readonly logger = new Logger('ActorHost');
  private readonly cache = new Map<string, ActorRecord>();
  /** Call effects started or queued, until their replies are delivered (drain waits for them). */
  private readonly calls = new Set<Promise<void>>();
  /** Actors' call groups waiting for a slot; at most `maxConcurrentCalls` groups run at once. */
  private readonly callQueue: Array<() => void> = [];
  private runningCalls = 0;
  private capacityWaiters: Array<() => void> = [];
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
    private readonly leaseToken: (partition: number) => string,
    private readonly onOutbox: (partition: number) => void,
    private readonly metrics: RuntimeMetrics = NOOP_METRICS,
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

  /** Checks an `actor:<type>` entry's target and returns its definition, address and cache key. */
  private target(type: string, data: ActorDelivery, partition: number): { def: ActorDefinition<any, any>; ref: ActorRef; cacheKey: string } {
    const def = this.definition(type);
    if (typeof data !== 'object' || data === null) throw new TerminalError(ErrorCode.InvalidMessage, 'an actor entry must carry { id, message }');
    const ref: ActorRef = { type, id: assertValidId(data.id, 'actor id') };
    const home = partitionOf(ref, this.config.partitions);
    if (home !== partition) {
      throw new TerminalError(ErrorCode.Unroutable, `actor ${actorAddress(ref)} belongs to partition ${home}, not ${partition}: the producer uses another partition count`);
    }
    return { def, ref, cacheKey: `${partition}|${actorAddress(ref)}` };
  }

  /** Runs the pure turn and encodes everything its commit writes. */
  private prepare(partition: number, def: ActorDefinition<any, any>, ref: ActorRef, current: ActorRecord, data: ActorDelivery, messageId: string, entryId: string, now: number) {
    const result = runTurn(def, current, data, { self: ref, now, messageId }, this.limits);
    const turn: CommitTurn = { ref, entryId, expectedVersion: -1, outbox: [], local: [], audit: [] };
    if (result.kind !== 'duplicate') {
      turn.expectedVersion = current.version;
      turn.record = result.record;
      // A timer tick always rewrites the score: fireTimers re-armed it as a safety net.
      turn.dueChanged = data.timer !== undefined || result.record.scheduleTime !== current.scheduleTime;
      const wasManual = current.status === MANUAL_INTERVENTION;
      const isManual = result.record.status === MANUAL_INTERVENTION;
      if (isManual !== wasManual) turn.manual = isManual ? now : 'left';
      for (const send of result.sends) this.route(partition, send.to, send.message, send.id, now, turn);
      for (const emit of result.emits) {
        turn.outbox.push([this.keys.named(emit.stream), encodeEnvelope({ id: emit.id, pattern: emit.stream, data: emit.payload, ts: now })]);
      }
      for (const audit of result.audit) turn.audit.push(encode(audit));
    }
    const next: ActorRecord = result.kind === 'duplicate' ? current : { ...result.record, version: current.version + 1 };
    return { result, turn, next };
  }

  /** After a commit: cache the new record, relay the outbox now, start call effects. */
  private committed(partition: number, ref: ActorRef, cacheKey: string, next: ActorRecord, turn: CommitTurn, calls: CallEffect[]): void {
    this.remember(cacheKey, next);
    if (turn.outbox.length) this.onOutbox(partition);
    if (calls.length) this.startCalls(partition, ref, calls);
  }

  /** Handles one `actor:<type>` entry. Resolves after the turn is committed (and acknowledged with it). */
  async deliver(type: string, data: ActorDelivery, envelope: Envelope, ctx: StreamContext): Promise<TurnReply> {
    const partition = ctx.getPartition();
    const { def, ref, cacheKey } = this.target(type, data, partition);
    for (let attempt = 0; ; attempt++) {
      const now = Date.now();
      const current = this.cache.get(cacheKey) ?? (await this.store.load(partition, ref)) ?? this.fresh(def, ref.id, now);
      const { result, turn, next } = this.prepare(partition, def, ref, current, data, envelope.id, ctx.getEntryId(), now);
      const code = await this.batcher.commit(partition, turn);
      if (code === -1) {
        // Another writer committed first: our cached or loaded state was stale. Reload and decide again.
        this.cache.delete(cacheKey);
        if (attempt >= MAX_STALE_RETRIES) throw new StaleVersionError(actorAddress(ref), current.version, -1);
        continue;
      }
      ctx.markAcked();
      this.committed(partition, ref, cacheKey, next, turn, result.calls);
      return {
        actor: actorAddress(ref),
        version: next.version,
        status: next.status,
        state: next.state,
        ...(result.kind === 'duplicate' ? { duplicate: true } : {}),
        ...(result.rejected ? { rejected: result.rejected } : {}),
      };
    }
  }

  /**
   * The fast path: a read's worth of entries of one partition, decided in order in memory (an actor's
   * turns chained on its in-memory state) and committed in one script call. Anything that does not
   * commit here (a stale version, a failing turn and the rest of that actor's entries) is handed back as
   * 'single' and goes through `deliver` with its retries, in order.
   */
  async deliverBatch(partition: number, items: BatchItem[]): Promise<BatchOutcome[]> {
    const outcomes: BatchOutcome[] = items.map(() => 'single');
    const targets = items.map(({ envelope }) => {
      try {
        return this.target(envelope.pattern.slice(ACTOR_PREFIX.length), envelope.data as ActorDelivery, partition);
      } catch {
        return undefined; // the per-entry path dead-letters it with the reason
      }
    });
    const missing = new Map<string, ActorRef>();
    for (const t of targets) if (t && !this.cache.has(t.cacheKey)) missing.set(t.cacheKey, t.ref);
    const loaded = new Map<string, ActorRecord | null>();
    if (missing.size) {
      const records = await this.store.loadMany(partition, [...missing.values()]);
      [...missing.keys()].forEach((key, i) => loaded.set(key, records[i]));
    }

    const now = Date.now();
    const working = new Map<string, ActorRecord>();
    const blocked = new Set<string>();
    const prepared: Array<{ index: number; target: NonNullable<(typeof targets)[number]>; turn: CommitTurn; next: ActorRecord; calls: CallEffect[] }> = [];
    items.forEach(({ entry, envelope }, index) => {
      const t = targets[index];
      if (!t || blocked.has(t.cacheKey)) return;
      const current = working.get(t.cacheKey) ?? this.cache.get(t.cacheKey) ?? loaded.get(t.cacheKey) ?? this.fresh(t.def, t.ref.id, now);
      try {
        const { result, turn, next } = this.prepare(partition, t.def, t.ref, current, envelope.data as ActorDelivery, envelope.id, entry.id, now);
        working.set(t.cacheKey, next);
        prepared.push({ index, target: t, turn, next, calls: result.calls });
      } catch {
        blocked.add(t.cacheKey); // this entry and the actor's later ones take the per-entry path
      }
    });
    if (prepared.length === 0) return outcomes;

    const codes = await this.store.commit(partition, prepared.map((p) => p.turn), this.leaseToken(partition));
    prepared.forEach((p, i) => {
      if (codes[i] === -1) {
        this.cache.delete(p.target.cacheKey); // stale: the per-entry path reloads and decides again
        return;
      }
      outcomes[p.index] = 'done';
      this.committed(partition, p.target.ref, p.target.cacheKey, p.next, p.turn, p.calls);
    });
    return outcomes;
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

  /**
   * Runs a turn's call effects in parallel under ONE actor lease (lock_time), extended while any runs, and
   * delivers each result to the actor's inbox as soon as it is in. One lease per turn, not per call: the
   * calls of one decision (a referral's two rewards) must not shut each other out.
   */
  /**
   * Runs a turn's call effects once a slot is free: at most `maxConcurrentCalls` actors' calls run at once and
   * the rest wait in order. Calls still queued when their deadline passes are not started; the deadline timer
   * answers them with CALL_TIMEOUT and the actor retries with the same idempotency keys.
   */
  private startCalls(partition: number, ref: ActorRef, calls: CallEffect[]): void {
    const deadline = Date.now() + this.config.callTimeoutMs;
    const run = new Promise<void>((resolve) => this.callQueue.push(resolve))
      .then(() => {
        if (Date.now() >= deadline) {
          for (const call of calls) this.metrics.callFinished(call.component, 'expired');
          return;
        }
        return this.runCalls(partition, ref, calls);
      })
      .catch((err) => this.logger.error(`calls of ${actorAddress(ref)} could not deliver their replies: ${(err as Error).message}`))
      .finally(() => {
        this.runningCalls--;
        this.pumpCalls();
      });
    this.calls.add(run);
    void run.finally(() => this.calls.delete(run));
    this.pumpCalls();
  }

  private pumpCalls(): void {
    while (this.runningCalls < this.config.maxConcurrentCalls && this.callQueue.length > 0) {
      this.runningCalls++;
      this.callQueue.shift()!();
    }
    if (this.callQueue.length < this.config.maxQueuedCalls && this.capacityWaiters.length > 0) {
      const waiters = this.capacityWaiters;
      this.capacityWaiters = [];
      waiters.forEach((w) => w());
    }
  }

  /** Resolves while queued call effects are under `maxQueuedCalls`: the readers pause until then (backpressure). */
  callCapacity(): Promise<void> {
    if (this.callQueue.length < this.config.maxQueuedCalls) return Promise.resolve();
    return new Promise((resolve) => this.capacityWaiters.push(resolve));
  }

  /** Call effects running and waiting for a slot (for metrics and tests). */
  callLoad(): { running: number; queued: number } {
    return { running: this.runningCalls, queued: this.callQueue.length };
  }

  private async runCalls(partition: number, ref: ActorRef, calls: CallEffect[]): Promise<void> {
    const deliver = (reply: CallReply) => this.deliverReply(partition, ref, reply);
    try {
      await this.redlock.using([this.keys.actorLock(partition, ref)], this.config.actorLeaseMs, (signal: AbortSignal) =>
        Promise.all(calls.map(async (call) => deliver(await this.runCall(ref, call, signal)))),
      );
    } catch (err) {
      // The lease could not be taken (another holder, e.g. a sweeper re-driving the actor): every call is
      // answered as a passing failure, so the actor retries with the same idempotency keys.
      const { code, message } = describeError(err);
      for (const call of calls) this.metrics.callFinished(call.component, 'retryable');
      await Promise.all(calls.map((call) => deliver({ type: call.reply, key: call.key, ok: false, error: { code, message: `actor lease: ${message}`, retryable: true } })));
    }
  }

  private async runCall(ref: ActorRef, call: CallEffect, signal: AbortSignal): Promise<CallReply> {
    const component = this.components[call.component];
    if (!component) {
      this.metrics.callFinished(call.component, 'terminal');
      return { type: call.reply, key: call.key, ok: false, error: { code: ErrorCode.CallFailed, message: `no component ${call.component} is registered`, retryable: false } };
    }
    const started = performance.now();
    try {
      const value = await component(call.input, { idempotencyKey: call.key, signal, actor: ref });
      this.metrics.callFinished(call.component, 'ok', (performance.now() - started) / 1000);
      return { type: call.reply, key: call.key, ok: true, value };
    } catch (err) {
      const { code, message } = describeError(err);
      const retryable = !(err instanceof TerminalError) && (err instanceof RetryableError || !(err instanceof PropelError));
      this.metrics.callFinished(call.component, retryable ? 'retryable' : 'terminal', (performance.now() - started) / 1000);
      return { type: call.reply, key: call.key, ok: false, error: { code, message, retryable } };
    }
  }

  private async deliverReply(partition: number, ref: ActorRef, reply: CallReply): Promise<void> {
    const envelope = encodeEnvelope({
      id: `reply:${actorAddress(ref)}:${reply.key}:${randomUUID()}`,
      pattern: `actor:${ref.type}`,
      key: actorAddress(ref),
      data: { id: ref.id, message: reply, reply: true },
      ts: Date.now(),
    });
    await this.redis.xadd(this.keys.inbox(partition), '*', 'e', envelope);
  }

  /** Waits (bounded) for running call effects; a call cut off here is answered by its deadline timer. */
  async drain(timeoutMs: number): Promise<void> {
    await settledWithin(Promise.allSettled([...this.calls]), timeoutMs);
  }
}

function statusOf(state: unknown): string {
  const s = (state as { status?: unknown } | null)?.status;
  return typeof s === 'string' ? s : 'active';
}
