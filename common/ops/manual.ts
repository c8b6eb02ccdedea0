import { MANUAL_INTERVENTION } from '../runtime/actor-host';
import type { TurnReply } from '../runtime/actor-host';
import { resumeFromManual } from '../sweeper/resume';
import { RedisActorStore } from '../runtime/actor-store';
import type { ActorRecord } from '../actor/record';
import type { ActorDefinition } from '../actor/define-actor';
import { assertValidId, assertValidTypeName } from '../ids';
import { actorAddress, ActorRef, parseActorAddress, partitionOf } from '../partitioning';
import { clientOf, mapLimited, nowOf, OPS_ERRORS, OpsContext, OpsError, Progress } from './context';

/** An actor waiting for a person, and why. */
export interface ManualItem {
  actor: string;
  ref: ActorRef;
  partition: number;
  /** When it entered manual intervention (its score in the manual index). */
  since: number;
  /** The record's status now (MANUAL_INTERVENTION unless a turn moved it since it was listed). */
  status: string;
  version: number;
  /** The actor's own reason (a referral's `state.manual.reason`), else its status. */
  reason: string;
  detail?: string;
  /** Where it is stuck, when the actor says (a referral's `stage`: RELATION or REWARD). */
  stage?: string;
}

export interface ManualPage {
  items: ManualItem[];
  /** Pass back as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
  /** Actors in manual intervention over every partition. */
  total: number;
}

/** Why an actor waits for a person, from its record: `state.manual` when the actor keeps one, else its status. */
export function manualReason(record: Pick<ActorRecord, 'status' | 'state'>): { reason: string; detail?: string; since?: number; stage?: string } {
  const state = record.state as { manual?: { reason?: unknown; detail?: unknown; since?: unknown }; stage?: unknown } | null;
  const m = state?.manual;
  const out: { reason: string; detail?: string; since?: number; stage?: string } = { reason: typeof m?.reason === 'string' ? m.reason : record.status };
  if (typeof m?.detail === 'string') out.detail = m.detail;
  if (typeof m?.since === 'number') out.since = m.since;
  if (typeof state?.stage === 'string') out.stage = state.stage;
  return out;
}

function encodeCursor(since: number, actor: string): string {
  return Buffer.from(JSON.stringify([since, actor])).toString('base64url');
}

function decodeCursor(cursor: string): { since: number; actor: string } {
  try {
    const [since, actor] = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as [unknown, unknown];
    if (typeof since === 'number' && typeof actor === 'string') return { since, actor };
  } catch {
    // falls through to the error below
  }
  throw new OpsError(OPS_ERRORS.invalidInput, 'the cursor is not one a previous page returned');
}

/**
 * Actors in manual intervention over every partition, oldest first (by when they entered it), a page at a time,
 * each with its reason. Reads the per-partition manual index the commit script keeps, then the records.
 */
export async function listManual(ctx: OpsContext, options: { limit?: number; cursor?: string; onProgress?: Progress } = {}): Promise<ManualPage> {
  const limit = options.limit ?? 50;
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new OpsError(OPS_ERRORS.invalidInput, 'limit must be an integer from 1 to 10000');
  const after = options.cursor ? decodeCursor(options.cursor) : undefined;
  // Per partition: the first `limit` members after the cursor (ties on the cursor's score are ordered by address).
  const perPartition = await mapLimited([...Array(ctx.partitions).keys()], 16, async (p) => {
    const key = ctx.keys.manual(p);
    const ties = after ? await ctx.redis.zcount(key, after.since, after.since) : 0;
    const total = await ctx.redis.zcard(key);
    const flat = await ctx.redis.zrangebyscore(key, after ? after.since : '-inf', '+inf', 'WITHSCORES', 'LIMIT', 0, limit + ties);
    const members: Array<{ actor: string; since: number; partition: number }> = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const actor = flat[i];
      const since = Number(flat[i + 1]);
      if (after && since === after.since && actor <= after.actor) continue;
      members.push({ actor, since, partition: p });
    }
    return { members, total };
  }, options.onProgress);
  const merged = perPartition.flatMap((x) => x.members).sort((a, b) => a.since - b.since || (a.actor < b.actor ? -1 : a.actor > b.actor ? 1 : 0));
  const page = merged.slice(0, limit);
  const records = await loadAll(ctx, page.map((m) => ({ ref: parseActorAddress(m.actor), partition: m.partition })));
  const items: ManualItem[] = page.map((m, i) => {
    const record = records[i];
    const why = record ? manualReason(record) : { reason: 'NO_RECORD' };
    return {
      actor: m.actor,
      ref: parseActorAddress(m.actor),
      partition: m.partition,
      since: m.since,
      status: record?.status ?? 'NO_RECORD',
      version: record?.version ?? 0,
      reason: why.reason,
      ...(why.detail !== undefined ? { detail: why.detail } : {}),
      ...(why.stage !== undefined ? { stage: why.stage } : {}),
    };
  });
  const last = page[page.length - 1];
  return {
    items,
    nextCursor: merged.length > limit && last ? encodeCursor(last.since, last.actor) : null,
    total: perPartition.reduce((n, x) => n + x.total, 0),
  };
}

/** Every actor in manual intervention (optionally of one type), following the pages: what `retry --all` works through. */
export async function allManual(ctx: OpsContext, options: { type?: string } = {}): Promise<ManualItem[]> {
  const type = options.type === undefined ? undefined : assertValidTypeName(options.type);
  const all: ManualItem[] = [];
  let cursor: string | undefined;
  do {
    const page = await listManual(ctx, { limit: 1000, ...(cursor ? { cursor } : {}) });
    all.push(...page.items.filter((item) => type === undefined || item.ref.type === type));
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return all;
}

async function loadAll(ctx: OpsContext, items: Array<{ ref: ActorRef; partition: number }>): Promise<Array<ActorRecord | null>> {
  const store = new RedisActorStore(ctx.redis, ctx.keys);
  const byPartition = new Map<number, number[]>();
  items.forEach((item, i) => byPartition.set(item.partition, [...(byPartition.get(item.partition) ?? []), i]));
  const out = new Array<ActorRecord | null>(items.length).fill(null);
  await Promise.all(
    [...byPartition].map(async ([p, indexes]) => {
      const records = await store.loadMany(p, indexes.map((i) => items[i].ref));
      indexes.forEach((i, k) => (out[i] = records[k]));
    }),
  );
  return out;
}

/** The answer of an actor to an ops message: the committed turn, and its rejection if the actor refused. */
export interface OpsTurn {
  actor: string;
  /** The committed turn (status and state after it). */
  turn: TurnReply;
  /** Set when the actor refused the message (e.g. NOT_IN_MANUAL_INTERVENTION, ALREADY_TERMINAL). */
  rejected: { code: string; reason: string } | null;
  /** The same request (same actor version) was already applied: this one changed nothing. */
  duplicate: boolean;
}

export interface AskOptions {
  /** How long to wait for the committed turn (default 10 s); the message stays queued after that. */
  timeoutMs?: number;
}

/**
 * Re-drives an actor in manual intervention: sends it `RetryFromOps` and waits for the committed turn. The
 * message id is derived from the actor's version, so the same retry sent twice (a double click, two operators)
 * is applied once; the actor's idempotency keys keep each grant to at most one either way.
 */
export async function retryManual(ctx: OpsContext, ref: ActorRef, operator: string, options: AskOptions = {}): Promise<OpsTurn> {
  const checked = { type: assertValidTypeName(ref.type), id: assertValidId(ref.id, 'actor id') };
  const p = partitionOf(checked, ctx.partitions);
  const record = await new RedisActorStore(ctx.redis, ctx.keys).load(p, checked);
  // The sweepers parked it (its own state never went to manual intervention, so the actor would refuse
  // RetryFromOps): resume it at the runtime level instead, re-driving its timers once.
  if (record && parkedBySweepers(record)) return resumeParked(ctx, p, checked, record, assertValidId(operator, 'operator'));
  return askActor(ctx, ref, 'retry', { type: 'RetryFromOps', operator: assertValidId(operator, 'operator') }, options, record);
}

/** In MANUAL_INTERVENTION by the runtime's record while the actor's own state says otherwise: parked by the sweepers. */
export function parkedBySweepers(record: Pick<ActorRecord, 'status' | 'state'>): boolean {
  const own = (record.state as { status?: unknown } | null)?.status;
  return record.status === MANUAL_INTERVENTION && own !== MANUAL_INTERVENTION;
}

async function resumeParked(ctx: OpsContext, partition: number, ref: ActorRef, record: ActorRecord, operator: string): Promise<OpsTurn> {
  const address = actorAddress(ref);
  const r = await resumeFromManual(ctx.redis, ctx.keys, partition, ref, { operator, now: nowOf(ctx) });
  const turn = (version: number, status: string): TurnReply => ({ actor: address, version, status, state: record.state });
  switch (r.outcome) {
    case 'resumed':
      return { actor: address, turn: turn(r.version, r.status), rejected: null, duplicate: false };
    case 'missing':
      throw new OpsError(OPS_ERRORS.notFound, `no actor ${address} (namespace ${ctx.keys.ns}, ${ctx.partitions} partitions)`);
    case 'not-manual':
      return { actor: address, turn: turn(record.version, r.status), rejected: { code: 'NOT_IN_MANUAL_INTERVENTION', reason: `${address} is ${r.status}, no longer in manual intervention` }, duplicate: false };
    case 'stale':
      return { actor: address, turn: turn(record.version, record.status), rejected: { code: 'STALE_VERSION', reason: `${address} moved while resuming; look again and retry` }, duplicate: false };
  }
}

/** Gives up on an actor in manual intervention: sends it `TerminateFromOps` (the referral ends TERMINATED). */
export function terminateManual(ctx: OpsContext, ref: ActorRef, operator: string, reason?: string, options: AskOptions = {}): Promise<OpsTurn> {
  return askActor(ctx, ref, 'terminate', { type: 'TerminateFromOps', operator: assertValidId(operator, 'operator'), ...(reason ? { reason } : {}) }, options);
}

/** One outcome of a bulk retry: the turn, or the error that kept the message from being applied. */
export type BulkOutcome = { actor: string; result: OpsTurn } | { actor: string; error: { code: string; message: string } };

/** Retries many actors (e.g. every one in manual intervention), a few at a time, reporting progress. */
export function retryManualMany(ctx: OpsContext, refs: readonly ActorRef[], operator: string, options: AskOptions & { concurrency?: number; onProgress?: Progress } = {}): Promise<BulkOutcome[]> {
  return mapLimited(refs, options.concurrency ?? 4, async (ref) => {
    try {
      return { actor: actorAddress(ref), result: await retryManual(ctx, ref, operator, options) };
    } catch (err) {
      const e = err as { code?: unknown; message?: string };
      return { actor: actorAddress(ref), error: { code: String(e.code ?? 'ERROR'), message: e.message ?? String(err) } };
    }
  }, options.onProgress);
}

/** Asks an actor; `loaded` is its record when the caller already read it (undefined: read it here). */
async function askActor(ctx: OpsContext, ref: ActorRef, verb: string, message: { type: string; [field: string]: unknown }, options: AskOptions, loaded?: ActorRecord | null): Promise<OpsTurn> {
  const checked = { type: assertValidTypeName(ref.type), id: assertValidId(ref.id, 'actor id') };
  const client = clientOf(ctx);
  const address = actorAddress(checked);
  const record = loaded !== undefined ? loaded : await new RedisActorStore(ctx.redis, ctx.keys).load(partitionOf(checked, ctx.partitions), checked);
  if (!record) throw new OpsError(OPS_ERRORS.notFound, `no actor ${address} (namespace ${ctx.keys.ns}, ${ctx.partitions} partitions)`);
  // ops hosts no actor definitions: the client only reads the type name to route the message.
  const actor = { type: checked.type } as ActorDefinition<unknown, { type: string }>;
  const turn = await client.ask(actor, checked.id, message, { timeoutMs: options.timeoutMs ?? 10_000, messageId: `ops:${verb}:${address}@${record.version}` });
  return { actor: address, turn, rejected: turn.rejected ?? null, duplicate: turn.duplicate === true };
}
