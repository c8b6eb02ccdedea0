import type { ActorDefinition } from '../actor/define-actor';
import type { AuditRecord } from '../actor/turn';
import { assertValidId, assertValidTypeName } from '../ids';
import { actorAddress, ActorRef, partitionOf } from '../partitioning';
import { RedisActorStore } from '../runtime/actor-store';
import { OPS_ERRORS, OpsContext, OpsError } from './context';
import { SUCCESS_STATUSES } from './inspect';
import { scanAuditNewestFirst } from './audit-stream';

/** One reason an actor is not rewarded, as its definition's `explain` gives it. */
export type AuditReason = ReturnType<NonNullable<ActorDefinition['explain']>>[number];

/** An actor's audit: where it is, what happened to it (oldest first) and, unless it was rewarded, why not. */
export interface ActorAudit {
  actor: string;
  ref: ActorRef;
  partition: number;
  status: string;
  version: number;
  /** The actor's audit records from its history list, oldest first: the last `limit` of them. */
  timeline: AuditRecord[];
  /**
   * True when older records of the actor exist and can still be read but the timeline leaves them out: the
   * history list holds more than `limit`, or it was trimmed and the partition audit stream still holds older
   * ones (`ops inspect <type> <id> --audit N` reads them).
   */
  truncated: boolean;
  /** Audit stream entries looked through for older records (0 when the history list starts at version 1). */
  scanned: number;
  /** The chain of reasons for anything not rewarded, oldest first (the definition's `explain`). */
  reasons: AuditReason[];
  /** Whether the reasons come from the actor's definition (false: ops hosts no definition of this type, or it has no `explain`). */
  explained: boolean;
  /** A success status (SUCCESS_STATUSES) with nothing missing. */
  rewarded: boolean;
}

export interface AuditOptions {
  /** Records of the timeline, the newest (default 100, more than the history list keeps by default). */
  limit?: number;
  /** Audit stream entries to look through for older records before giving up (default 5,000). */
  scanLimit?: number;
}

/**
 * How far past the oldest history record's turn time the stream scan starts. A record's stream id is Redis's
 * clock at commit, a little after the worker's turn time; the margin absorbs the turn and clock skew, so the
 * scan starts just after the records it looks for instead of at the stream's end (a busy partition would
 * otherwise use up the scan on newer entries).
 */
const SKEW_MS = 60_000;

/**
 * An actor's audit for ops and support: its status and version, its timeline from the bounded history list,
 * and, unless it was rewarded, the chain of reasons its definition gives (`explain`). When the history list was
 * trimmed, a bounded scan of the partition's audit stream says whether older records are still there
 * (`truncated`). Throws NOT_FOUND for an actor that has no record.
 */
export async function auditOf(ctx: OpsContext, ref: ActorRef, options: AuditOptions = {}): Promise<ActorAudit> {
  const checked = { type: assertValidTypeName(ref.type), id: assertValidId(ref.id, 'actor id') };
  const limit = options.limit ?? 100;
  if (!Number.isInteger(limit) || limit < 1) throw new OpsError(OPS_ERRORS.invalidInput, 'limit must be a positive integer');
  const partition = partitionOf(checked, ctx.partitions);
  const actor = actorAddress(checked);
  const store = new RedisActorStore(ctx.redis, ctx.keys);
  const [record, history] = await Promise.all([store.load(partition, checked), store.history(partition, checked)]);
  if (!record) throw new OpsError(OPS_ERRORS.notFound, `no actor ${actor} (partition ${partition}, namespace ${ctx.keys.ns})`);

  const timeline = history.slice(-limit);
  let truncated = history.length > timeline.length;
  let scanned = 0;
  const first = history[0];
  // Versions start at 1: a history list whose oldest record is past it lost older ones to its trim.
  if (!truncated && first && first.version > 1) {
    const found = await olderInStream(ctx, partition, actor, first, options.scanLimit ?? 5_000);
    truncated = found.found;
    scanned = found.scanned;
  }

  const definition = ctx.definitions?.find((d) => d.type === checked.type);
  const explained = typeof definition?.explain === 'function';
  const reasons = explained ? explainSafely(definition!, record.state) : [];
  return {
    actor,
    ref: checked,
    partition,
    status: record.status,
    version: record.version,
    timeline,
    truncated,
    scanned,
    reasons,
    explained,
    rewarded: SUCCESS_STATUSES.has(record.status) && reasons.length === 0,
  };
}

/** The definition's reasons; a state it cannot read (written by another build) is a reason of its own, not a failed request. */
function explainSafely(definition: ActorDefinition<any, any>, state: unknown): AuditReason[] {
  try {
    return definition.explain!(state);
  } catch (err) {
    return [{ code: 'UNEXPLAINED', detail: `the ${definition.type} definition could not explain this state: ${(err as Error).message}` }];
  }
}

/**
 * Whether the partition's audit stream still holds a record of `actor` older than `oldest` (its oldest history
 * record), reading newest first from just after `oldest`'s turn, at most `scanLimit` entries.
 */
async function olderInStream(ctx: OpsContext, partition: number, actor: string, oldest: AuditRecord, scanLimit: number): Promise<{ found: boolean; scanned: number }> {
  let found = false;
  const { scanned } = await scanAuditNewestFirst(ctx, partition, String(oldest.at + SKEW_MS), scanLimit, (_id, record) => (found = record.actor === actor && record.version < oldest.version));
  return { found, scanned };
}
