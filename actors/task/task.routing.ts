import type { ConfigItem } from '../../common/config-center/types';
import { DEFAULTS } from '../../common/constants';
import { TerminalError } from '../../common/errors';
import { assertValidId } from '../../common/ids';
import { isRecord } from '../shared/parse';
import type { TaskDefinition } from './task.definition';
import { isEventType, MAX_EVENT_AMOUNT, MAX_EVENT_TYPE_LENGTH, termsOf } from './task.definition';
import { periodOf } from './task.period';
import { taskActorId } from './task.types';
import type { ProgressMessage } from './task.types';

/**
 * Completion receipts: one upstream event of one user ("order paid", "signed in"), turned into Progress
 * messages for the user tasks it counts for. Pure (no Redis, no clock): the ingest resolver and the gateway's
 * synchronous receipt route read the definitions and the subscription index and hand them in.
 */

/** A validated completion receipt. */
export interface Receipt {
  userId: string;
  /** The event type, lower case (`order.paid`), as task definitions name it in `events`. */
  event: string;
  /** The upstream event's id: every target task counts it once, however often it arrives. */
  eventId: string;
  /** When the event happened (ms since the epoch); deadlines and periods are judged by it. */
  occurredAt: number;
  /** What the event is worth for `amount` tasks (an order's total), unless the task names a field of its own. */
  amount?: number;
  /** Further event fields (flat: strings, numbers, booleans); an `amount` task reads its `amountField` here first. */
  fields?: Record<string, string | number | boolean | null>;
}

/** Code of the TerminalError parseReceipt throws; the ingest dead letter and the gateway's 400 carry it. */
export const INVALID_RECEIPT = 'INVALID_RECEIPT';

/** Why a task the receipt would count for is left out (`skipped`); the other targets still get the receipt. */
export const RECEIPT_SKIPS = {
  /** An `amount` task and no usable amount in the receipt (missing, not a number, ≤ 0). */
  noAmount: 'AMOUNT_MISSING',
  /** A subscribed task whose definition is no longer configured: its measure is unknown. */
  unknownDefinition: 'DEFINITION_NOT_FOUND',
  /** The task's actor id would be longer than ids may be. */
  idTooLong: 'TASK_ID_TOO_LONG',
} as const;

/**
 * Longest user id the task center accepts: the task actor id `<userId>:<taskDefId>:<period>` (definition ids
 * up to 64, periods up to 11 characters) and the claim's idempotency key built from it must stay within the
 * runtime's id length.
 */
export const MAX_TASK_USER_ID_LENGTH = 100;

const MAX_FIELDS = 32;
const MAX_FIELD_NAME = 64;
const MAX_FIELD_TEXT = 1_000;
/** The last instant calendars (Intl, periods) handle with room to spare: 9999-12-31T23:59:59.999Z. */
const MAX_OCCURRED_AT = 253_402_300_799_999;
const RECEIPT_KEYS = new Set(['userId', 'event', 'eventId', 'occurredAt', 'amount', 'fields']);
const FIELD_NAME = /^[A-Za-z0-9_.-]+$/;

/** The reason an id fails assertValidId, or undefined when it passes. */
function idProblem(value: unknown, what: string, maxLength?: number): string | undefined {
  try {
    assertValidId(value, what, maxLength);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * Validates a raw receipt (an HTTP body, or the fields of an ingest entry) and returns it typed. Every problem
 * is named in one TerminalError (INVALID_RECEIPT), so the sender fixes them all at once. `occurredAt`, when
 * absent, is `defaultOccurredAt` if given (the gateway passes its clock; the ingest path does not).
 */
export function parseReceipt(raw: unknown, defaultOccurredAt?: number): Receipt {
  if (!isRecord(raw)) {
    throw new TerminalError(INVALID_RECEIPT, 'a receipt must be an object with userId, event, eventId and occurredAt (optional: amount, fields)');
  }
  const r = raw;
  const problems: string[] = [];
  const stray = Object.keys(r).filter((k) => !RECEIPT_KEYS.has(k));
  if (stray.length > 0) {
    problems.push(`unknown field${stray.length > 1 ? 's' : ''} ${stray.slice(0, 5).map((k) => JSON.stringify(k.slice(0, 40))).join(', ')}: put event data under "fields"`);
  }

  const userProblem = idProblem(r.userId, 'userId', MAX_TASK_USER_ID_LENGTH);
  if (userProblem) problems.push(userProblem);
  else if ((r.userId as string).includes(':')) problems.push("userId must not contain ':' (task ids join user, task and period with ':')");

  if (!isEventType(r.event)) {
    problems.push(`event must be an event type of 1 to ${MAX_EVENT_TYPE_LENGTH} characters, lower case: letters, digits, ".", "_" and "-", starting with a letter (e.g. "order.paid")`);
  }

  const eventIdProblem = idProblem(r.eventId, 'eventId');
  if (eventIdProblem) problems.push(`${eventIdProblem} (the upstream event's id: a retried receipt carries the same one)`);

  const occurredAt = r.occurredAt === undefined ? defaultOccurredAt : r.occurredAt;
  if (typeof occurredAt !== 'number' || !Number.isSafeInteger(occurredAt) || occurredAt < 0 || occurredAt > MAX_OCCURRED_AT) {
    problems.push(
      r.occurredAt === undefined
        ? 'occurredAt is required: when the event happened, in ms since the epoch'
        : `occurredAt must be a whole number of ms since the epoch from 0 to ${MAX_OCCURRED_AT} (when the event happened)`,
    );
  }

  if (r.amount !== undefined && (typeof r.amount !== 'number' || !Number.isFinite(r.amount) || r.amount < 0 || r.amount > MAX_EVENT_AMOUNT)) {
    problems.push(`amount must be a finite number from 0 to ${MAX_EVENT_AMOUNT}`);
  }

  let fields: Receipt['fields'];
  if (r.fields !== undefined) {
    const f = r.fields;
    if (!isRecord(f)) {
      problems.push('fields must be an object of event fields (strings, numbers, booleans)');
    } else {
      const entries = Object.entries(f);
      if (entries.length > MAX_FIELDS) problems.push(`fields has ${entries.length} entries; at most ${MAX_FIELDS} are accepted`);
      else {
        fields = {};
        for (const [name, value] of entries) {
          const what = `fields.${name.slice(0, 40)}`;
          if (name.length > MAX_FIELD_NAME || !FIELD_NAME.test(name)) problems.push(`${JSON.stringify(name.slice(0, 40))} is not a field name: use letters, digits, ".", "_" and "-" (at most ${MAX_FIELD_NAME})`);
          else if (typeof value === 'string' ? value.length > MAX_FIELD_TEXT : typeof value === 'number' ? !Number.isFinite(value) : value !== null && typeof value !== 'boolean') {
            problems.push(`${what} must be a string of at most ${MAX_FIELD_TEXT} characters, a finite number, a boolean or null`);
          } else fields[name] = value as string | number | boolean | null;
        }
      }
    }
  }

  if (problems.length > 0) throw new TerminalError(INVALID_RECEIPT, `invalid receipt: ${problems.join('; ')}`);
  return {
    userId: r.userId as string,
    event: r.event as string,
    eventId: r.eventId as string,
    occurredAt: occurredAt as number,
    ...(r.amount !== undefined ? { amount: r.amount as number } : {}),
    ...(fields !== undefined ? { fields } : {}),
  };
}

/** A task the receipt goes to, with the Progress message it gets. */
export interface ReceiptTarget {
  taskId: string;
  message: ProgressMessage;
}

/** A task the receipt would count for and does not, with the reason. */
export interface SkippedTask {
  taskId: string;
  taskDefId: string;
  code: string;
  reason: string;
}

/** What routeReceipt reads: the configured definitions (a process's cache) and the user's subscribed tasks. */
export interface ReceiptRoutingInput {
  definitions: ReadonlyArray<ConfigItem<TaskDefinition>>;
  /** The user's tasks whose subscription counts this event at its occurrence (the subscription index's lookup). */
  subscribed: ReadonlyArray<{ taskId: string; taskDefId?: string }>;
}

/** The definition id inside a task id `<userId>:<taskDefId>:<period>` (both right-hand parts hold no ':'). */
function taskDefIdOf(taskId: string): string | undefined {
  const parts = taskId.split(':');
  return parts.length >= 3 ? parts[parts.length - 2] : undefined;
}

/** A usable amount: a finite number (or a decimal string, as ingest fields are) above 0 and at most 1e12. */
function amountOf(value: unknown): number | undefined {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d+(\.\d+)?$/.test(value) ? Number(value) : Number.NaN;
  return Number.isFinite(n) && n > 0 && n <= MAX_EVENT_AMOUNT ? n : undefined;
}

/**
 * What a receipt counts for the task under `def`: 1 for `count` tasks; for `amount` tasks the receipt's field
 * the definition names (`amountField`) when present, else its `amount`. Undefined: no usable amount.
 */
export function progressAmount(receipt: Receipt, def: Pick<TaskDefinition, 'measure' | 'amountField'>): number | undefined {
  if (def.measure !== 'amount') return 1;
  const field = receipt.fields?.[def.amountField];
  return field !== undefined && field !== null ? amountOf(field) : amountOf(receipt.amount);
}

/** Whether an auto-enrolment definition enrols on this receipt: ACTIVE, listening, and open at the event's time. */
function enrolsOn(def: TaskDefinition, receipt: Receipt): boolean {
  return (
    def.enrolment === 'auto' &&
    def.status === 'ACTIVE' &&
    def.events.includes(receipt.event) &&
    (def.startsAt === undefined || receipt.occurredAt >= def.startsAt) &&
    (def.endsAt === undefined || receipt.occurredAt < def.endsAt)
  );
}

/**
 * The tasks a receipt counts for, each with its Progress message: the user's subscribed tasks (claimed ones;
 * the actor writes its subscription when claimed), and every auto-enrolment definition listening for the
 * event, whose task of the event's period gets a Progress carrying `enrol` (the claim to apply first; ignored
 * by a task already claimed) unless that task is subscribed already. A task that cannot be given a sensible
 * amount is `skipped` with its reason; the others still get the receipt. Targets are sorted by task id.
 */
export function routeReceipt(receipt: Receipt, input: ReceiptRoutingInput): { targets: ReceiptTarget[]; skipped: SkippedTask[] } {
  const byId = new Map(input.definitions.map((d) => [d.id, d]));
  const targets = new Map<string, ReceiptTarget>();
  const skipped: SkippedTask[] = [];
  const base = { type: 'Progress' as const, eventId: receipt.eventId, event: receipt.event, occurredAt: receipt.occurredAt };

  for (const sub of input.subscribed) {
    if (targets.has(sub.taskId)) continue;
    const taskDefId = sub.taskDefId ?? taskDefIdOf(sub.taskId) ?? '';
    const item = byId.get(taskDefId);
    if (!item) {
      skipped.push({ taskId: sub.taskId, taskDefId, code: RECEIPT_SKIPS.unknownDefinition, reason: `task definition ${JSON.stringify(taskDefId)} is not configured, so what the event counts is unknown` });
      continue;
    }
    const amount = progressAmount(receipt, item.value);
    if (amount === undefined) {
      skipped.push({ taskId: sub.taskId, taskDefId, code: RECEIPT_SKIPS.noAmount, reason: noAmountReason(item.value) });
      continue;
    }
    targets.set(sub.taskId, { taskId: sub.taskId, message: { ...base, amount } });
  }

  for (const item of input.definitions) {
    const def = item.value;
    if (!enrolsOn(def, receipt)) continue;
    const { period, start, end } = periodOf(def, receipt.occurredAt);
    const taskId = taskActorId(receipt.userId, def.id, period);
    if (targets.has(taskId) || input.subscribed.some((s) => s.taskId === taskId)) continue;
    if (taskId.length > DEFAULTS.maxIdLength) {
      skipped.push({ taskId: taskId.slice(0, 80), taskDefId: def.id, code: RECEIPT_SKIPS.idTooLong, reason: `the task id would be ${taskId.length} characters; at most ${DEFAULTS.maxIdLength} are allowed` });
      continue;
    }
    const amount = progressAmount(receipt, def);
    if (amount === undefined) {
      skipped.push({ taskId, taskDefId: def.id, code: RECEIPT_SKIPS.noAmount, reason: noAmountReason(def) });
      continue;
    }
    const enrol: NonNullable<ProgressMessage['enrol']> = {
      userId: receipt.userId,
      period,
      terms: termsOf(def, item.version),
      claimedAt: receipt.occurredAt,
      ...(start !== undefined ? { periodStart: start } : {}),
      ...(end !== undefined ? { periodEnd: end } : {}),
    };
    targets.set(taskId, { taskId, message: { ...base, amount, enrol } });
  }

  return { targets: [...targets.values()].sort((a, b) => (a.taskId < b.taskId ? -1 : a.taskId > b.taskId ? 1 : 0)), skipped };
}

function noAmountReason(def: Pick<TaskDefinition, 'id' | 'amountField'>): string {
  return `task ${def.id} counts amounts: the receipt needs a number above 0 in fields.${def.amountField} or in amount`;
}
