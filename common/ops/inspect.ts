import type { ActorRecord } from '../actor/record';
import type { AuditRecord } from '../actor/turn';
import { assertValidId, assertValidTypeName } from '../ids';
import { actorAddress, ActorRef, partitionOf } from '../partitioning';
import { RedisActorStore } from '../runtime/actor-store';
import type { OpsContext } from './context';
import { scanAuditNewestFirst } from './audit-stream';

/** Statuses that are a success, nothing to explain: a referral with both sides granted, a user task rewarded. */
export const SUCCESS_STATUSES: ReadonlySet<string> = new Set(['BOTH_REWARDED', 'REWARDED']);

/** A machine-readable reason the actor's state carries (a refused step, a last error, manual intervention). */
export interface WhyCode {
  /** Where in the state: `sharer`, `relation`, `sharer.lastError`, `manual`, `terminated`. */
  where: string;
  code: string;
  detail?: string;
}

/** A step of the actor's history that explains where it is: a refused message or a change of status. */
export interface WhyStep {
  at: number;
  message: string;
  from: string;
  to: string;
  kind: 'rejected' | 'transition';
  /** The rejection code (rejected steps). */
  code?: string;
  text: string;
}

/** Why an actor is where it is: the reasons in its state, then the chain of history steps that led there. */
export interface Why {
  status: string;
  codes: WhyCode[];
  steps: WhyStep[];
}

/** One audit record of the actor from the partition's audit stream, with its stream id. */
export type AuditEntry = AuditRecord & { id: string };

export interface Inspection {
  actor: string;
  ref: ActorRef;
  partition: number;
  /** The record (version, status, state, schedule_time, timers, pending calls), or null if the actor has none. */
  record: ActorRecord | null;
  /** The actor's bounded history list, oldest first. */
  history: AuditRecord[];
  /** Its records found in the partition audit stream (newest `auditLimit`, shown oldest first). */
  audit: { entries: AuditEntry[]; scanned: number; complete: boolean };
  /** Its score in the due index, when it has one. */
  dueAt: number | null;
  /** When it entered manual intervention, when it is in the manual index. */
  manualSince: number | null;
  /** Whether its actor lease (lock_time) is held: a call effect is running now. */
  leaseHeld: boolean;
  /** Null for a success (SUCCESS_STATUSES) or when there is nothing to explain. */
  why: Why | null;
}

export interface InspectOptions {
  /** Audit records of the actor to return (default 100). */
  auditLimit?: number;
  /** Audit stream entries to look through, newest first, before giving up (default 20,000). */
  auditScan?: number;
}

/**
 * Everything about one actor: its record, its history, its timeline in the partition's audit stream, whether it
 * is due, in manual intervention or holding its lease, and, unless it succeeded, why it is where it is.
 */
export async function inspect(ctx: OpsContext, ref: ActorRef, options: InspectOptions = {}): Promise<Inspection> {
  const checked = { type: assertValidTypeName(ref.type), id: assertValidId(ref.id, 'actor id') };
  const partition = partitionOf(checked, ctx.partitions);
  const actor = actorAddress(checked);
  const store = new RedisActorStore(ctx.redis, ctx.keys);
  const k = ctx.keys;
  const [record, history, audit, dueAt, manualSince, leaseHeld] = await Promise.all([
    store.load(partition, checked),
    store.history(partition, checked),
    auditOf(ctx, partition, actor, options.auditLimit ?? 100, options.auditScan ?? 20_000),
    ctx.redis.zscore(k.due(partition), actor),
    ctx.redis.zscore(k.manual(partition), actor),
    ctx.redis.exists(k.actorLock(partition, checked)),
  ]);
  return {
    actor,
    ref: checked,
    partition,
    record,
    history,
    audit,
    dueAt: dueAt === null ? null : Number(dueAt),
    manualSince: manualSince === null ? null : Number(manualSince),
    leaseHeld: leaseHeld === 1,
    why: record ? explain(record, history) : null,
  };
}

async function auditOf(ctx: OpsContext, partition: number, actor: string, limit: number, scanLimit: number): Promise<Inspection['audit']> {
  const found: AuditEntry[] = [];
  if (limit < 1) return { entries: found, scanned: 0, complete: false };
  const scan = await scanAuditNewestFirst(ctx, partition, '+', scanLimit, (id, record) => {
    if (record.actor === actor) found.push({ id, ...record });
    return found.length >= limit;
  });
  // The whole stream was read: every record of the actor still in it is here (unless the limit cut it short).
  return { entries: found.reverse(), scanned: scan.scanned, complete: scan.exhausted && found.length < limit };
}

/**
 * Why an actor is where it is, unless it succeeded: the machine-readable reasons its state carries (a step
 * REJECTED with its reason, a pending step's last error, manual intervention, a termination from ops) and the
 * history steps that refused a message or changed its status, in order. Pure.
 */
export function explain(record: Pick<ActorRecord, 'status' | 'state'>, history: readonly AuditRecord[]): Why | null {
  if (SUCCESS_STATUSES.has(record.status)) return null;
  const codes = stateCodes(record.state);
  const steps: WhyStep[] = [];
  for (const h of history) {
    if (h.rejected) steps.push({ at: h.at, message: h.message, from: h.from, to: h.to, kind: 'rejected', code: h.rejected.code, text: h.rejected.reason });
    else if (h.from !== h.to) steps.push({ at: h.at, message: h.message, from: h.from, to: h.to, kind: 'transition', text: h.why ?? '' });
  }
  if (codes.length === 0 && steps.length === 0) return null;
  return { status: record.status, codes, steps };
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reasons in a state, read by shape (a step `{ outcome, reason, lastError }`, `manual`, `terminated`), so any actor that keeps them is explained. */
function stateCodes(state: unknown): WhyCode[] {
  if (!isObj(state)) return [];
  const codes: WhyCode[] = [];
  for (const [where, value] of Object.entries(state)) {
    if (!isObj(value)) continue;
    if (where === 'manual' && typeof value.reason === 'string') {
      codes.push({ where, code: value.reason, ...(typeof value.detail === 'string' ? { detail: value.detail } : {}) });
    } else if (where === 'terminated' && typeof value.operator === 'string') {
      codes.push({ where, code: 'TERMINATED_BY_OPS', detail: `by ${value.operator}${typeof value.reason === 'string' ? `: ${value.reason}` : ''}` });
    } else if (value.outcome === 'REJECTED' && typeof value.reason === 'string') {
      codes.push({ where, code: value.reason });
    } else if (value.outcome === 'PENDING' && typeof value.lastError === 'string') {
      codes.push({ where: `${where}.lastError`, code: value.lastError });
    }
  }
  // The state's own verdict first (why it waits or ended), then the steps' codes.
  const rank = (c: WhyCode) => (c.where === 'manual' || c.where === 'terminated' ? 0 : 1);
  return codes.sort((a, b) => rank(a) - rank(b));
}
