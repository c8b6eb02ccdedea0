import type { ActorRecord } from '../actor/record';
import type { AuditRecord } from '../actor/turn';
import { ErrorCode, TerminalError } from '../errors';
import { parseActorAddress } from '../partitioning';
import type { ActorRef } from '../partitioning';
import { MANUAL_INTERVENTION } from '../runtime/actor-host';
import { BackoffPolicy, sweepBackoff } from './backoff';

/** One sweep task: the partitions [from, to) to look through, for the splitter's tick `tick`. */
export interface SweepTask {
  tick: string;
  from: number;
  to: number;
}

/** One execution item: a stalled actor a loader found, with the due score it saw (the executor re-checks it). */
export interface SweepItem {
  partition: number;
  member: string;
  score: number;
  tick: string;
}

/** The message names of the audit records sweepers write, and the reason code of their manual intervention. */
export const SWEEP_AUDIT = { redrive: 'SweepRedrive', manual: 'SweepManual', resume: 'ResumeFromOps' } as const;
export const SWEEP_MAX_RETRIES = 'SWEEP_MAX_RETRIES';

/** The partitions [0, partitions) cut into ranges of `perTask`, the last one shorter. */
export function splitPartitions(partitions: number, perTask: number): Array<[from: number, to: number]> {
  const ranges: Array<[number, number]> = [];
  for (let from = 0; from < partitions; from += perTask) ranges.push([from, Math.min(partitions, from + perTask)]);
  return ranges;
}

function fieldMap(fields: string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) map.set(fields[i], fields[i + 1]);
  return map;
}

function integer(map: Map<string, string>, name: string, what: string): number {
  const raw = map.get(name);
  const n = raw === undefined ? NaN : Number(raw);
  if (!Number.isSafeInteger(n)) throw new TerminalError(ErrorCode.DecodeFailed, `a ${what} needs an integer field '${name}' (got ${JSON.stringify(raw)})`);
  return n;
}

export function parseTask(fields: string[]): SweepTask {
  const map = fieldMap(fields);
  const task = { tick: map.get('t') ?? '', from: integer(map, 'from', 'sweep task'), to: integer(map, 'to', 'sweep task') };
  if (task.from < 0 || task.to < task.from) throw new TerminalError(ErrorCode.DecodeFailed, `a sweep task's range [${task.from}, ${task.to}) is empty or negative`);
  return task;
}

export function itemFields(item: SweepItem): string[] {
  return ['p', String(item.partition), 'm', item.member, 's', String(item.score), 't', item.tick];
}

export function parseItem(fields: string[]): SweepItem {
  const map = fieldMap(fields);
  const member = map.get('m') ?? '';
  if (member.indexOf('/') <= 0) throw new TerminalError(ErrorCode.DecodeFailed, `a sweep item needs an actor address 'm' of the form type/id (got ${JSON.stringify(member)})`);
  return { partition: integer(map, 'p', 'sweep item'), member, score: integer(map, 's', 'sweep item'), tick: map.get('t') ?? '' };
}

export interface SweepPolicy extends BackoffPolicy {
  maxRetries: number;
}

/** What an executor writes for one stalled actor (see redriveActor-7.lua); decided without I/O. */
export type SweepPlan =
  | { mode: 'redrive'; ref: ActorRef; record: ActorRecord; nextScore: number; audit: AuditRecord; tickId: string }
  | { mode: 'manual'; ref: ActorRef; record: ActorRecord; audit: AuditRecord };

/**
 * The executor's decision for an actor stalled at due score `item.score`, read at `record.version`: while it
 * has re-drives left, one more (retry_count + 1, the next look after the backoff, a timer tick into its
 * inbox); past `maxRetries` re-drives without progress, manual intervention with the reason. The timer
 * tick's id is the one the owner's ticker gives the same due score (`timer:<member>:<score>`), so an owner
 * that fired it too is deduplicated by the actor instead of running twice.
 */
export function planSweep(record: ActorRecord, item: SweepItem, now: number, policy: SweepPolicy, random: () => number = Math.random): SweepPlan {
  const ref = parseActorAddress(item.member);
  const version = record.version + 1;
  const overdue = now - item.score;
  const base = { at: now, actor: item.member, version, messageId: `sweep:${item.member}:${item.score}`, from: record.status };
  if (record.retryCount >= policy.maxRetries) {
    const next: ActorRecord = { ...record, version, status: MANUAL_INTERVENTION, scheduleTime: null, updatedAt: now };
    const why = `${SWEEP_MAX_RETRIES}: due at ${item.score} and still not moved ${overdue} ms later after ${record.retryCount} sweeper re-drive(s) without progress; waits for a person (ops)`;
    return { mode: 'manual', ref, record: next, audit: { ...base, message: SWEEP_AUDIT.manual, to: MANUAL_INTERVENTION, why, effects: ['manual intervention'] } };
  }
  const retry = record.retryCount + 1;
  const nextScore = now + sweepBackoff(retry, policy, random);
  const next: ActorRecord = { ...record, version, retryCount: retry, scheduleTime: nextScore, updatedAt: now };
  const why = `stalled: due at ${item.score}, not moved ${overdue} ms later; sweeper re-drive ${retry} of ${policy.maxRetries} (timer tick into its inbox), next look at ${nextScore}`;
  return {
    mode: 'redrive',
    ref,
    record: next,
    nextScore,
    tickId: `timer:${item.member}:${item.score}`,
    audit: { ...base, message: SWEEP_AUDIT.redrive, to: record.status, why, effects: [`timer tick`, `next sweep at ${nextScore}`] },
  };
}

/** What a resume from ops writes for an actor in manual intervention (see resumeFromManual). */
export interface ResumePlan {
  record: ActorRecord;
  audit: AuditRecord;
  tickId: string;
}

/**
 * Takes an actor out of manual intervention for another round: the status its own state names (the actor's
 * next turn recomputes it anyway), retry_count 0, due now, and a timer tick so its due timers and call
 * deadlines are looked at at once. The record's state is left as it is.
 */
export function planResume(record: ActorRecord, member: string, now: number, operator: string): ResumePlan {
  const version = record.version + 1;
  const own = (record.state as { status?: unknown } | null)?.status;
  const status = typeof own === 'string' && own !== MANUAL_INTERVENTION ? own : 'active';
  const next: ActorRecord = { ...record, version, status, retryCount: 0, scheduleTime: now, updatedAt: now };
  const why = `resumed from ops by ${operator} after ${record.retryCount} sweeper re-drive(s): retry count reset, timer tick appended`;
  return {
    record: next,
    tickId: `resume:${member}:${version}`,
    audit: { at: now, actor: member, version, message: SWEEP_AUDIT.resume, messageId: `resume:${member}:${version}`, from: record.status, to: status, why, effects: ['timer tick'] },
  };
}
