import { Logger } from '@nestjs/common';
import { TerminalError } from '../../../../common/errors';
import type { ConfigItem, ConfigReader, ConfigView } from '../../../../common/config-center/types';
import type { IngestResolver, RoutedMessage } from '../../../../common/runtime/ingest-router';
import type { TaskDefinition } from '../../../../actors/task/task.definition';
import { parseReceipt, Receipt, routeReceipt, SkippedTask } from '../../../../actors/task/task.routing';
import type { ReceiptTarget } from '../../../../actors/task/task.routing';
import { TASK_ACTOR } from '../../../../actors/task/task.types';
import type { RedisClient } from '../../../../common/redis/client';
import type { TaskKeys } from './task.keys';
import { TASK_DEFINITION_KIND } from './task.config';

/** Code of the dead letter of a receipt that every task it would count for had to skip (see `skipped`). */
export const RECEIPT_NOT_COUNTED = 'RECEIPT_NOT_COUNTED';

/** The subscription index as the router reads it (SubscriptionIndex.lookup). */
export interface SubscriptionLookup {
  lookup(userId: string, event: string, occurredAt: number): Promise<string[]>;
}

/** The user's task set (TaskKeys.userTasks), which lists a user's tasks: auto-enrolled tasks are added when first routed. */
export interface UserTaskSet {
  add(userId: string, taskIds: string[]): Promise<void>;
}

/** The user's task set in Redis (SADD: adding a task twice is harmless). */
export function redisUserTaskSet(redis: RedisClient, keys: TaskKeys): UserTaskSet {
  return {
    async add(userId, taskIds) {
      if (taskIds.length > 0) await redis.sadd(keys.userTasks(userId), ...taskIds);
    },
  };
}

export interface TaskReceiptDeps {
  /** The process's cached configuration (task definitions of kind 'task'). */
  config: ConfigView;
  /** Reads Redis for a subscribed task's definition the cache does not hold yet (just written elsewhere). */
  reader?: Pick<ConfigReader, 'get'>;
  subscriptions: SubscriptionLookup;
  /** Where auto-enrolled tasks are recorded for listing (GET /users/:userId/tasks); without it they are not listed. */
  userTasks?: UserTaskSet;
  logger?: Pick<Logger, 'warn'>;
}

/** What one receipt routes to: the messages for the task actors (same message id each) and the tasks skipped. */
export interface RoutedReceipt {
  receipt: Receipt;
  targets: ReceiptTarget[];
  skipped: SkippedTask[];
}

/** Whether any configured definition listens for `event`: if none does, the receipt is nobody's business. */
export function eventIsListened(view: ConfigView, event: string): boolean {
  return view.list<TaskDefinition>(TASK_DEFINITION_KIND).some((d) => d.value.events.includes(event));
}

/**
 * Routes a validated receipt: looks the user's subscriptions up, adds the definitions of subscribed tasks the
 * cache does not hold yet (read from Redis), runs routeReceipt, and records the tasks it enrols in the user's
 * task set before any message is sent. Shared by the ingest resolver and the gateway's synchronous POST /receipts.
 */
export async function routeTaskReceipt(receipt: Receipt, deps: Omit<TaskReceiptDeps, 'logger'>): Promise<RoutedReceipt> {
  const taskIds = await deps.subscriptions.lookup(receipt.userId, receipt.event, receipt.occurredAt);
  const definitions: ConfigItem<TaskDefinition>[] = deps.config.list<TaskDefinition>(TASK_DEFINITION_KIND);
  const known = new Set(definitions.map((d) => d.id));
  const subscribed = taskIds.map((taskId) => ({ taskId, taskDefId: taskId.split(':').at(-2) ?? '' }));
  if (deps.reader) {
    const missing = [...new Set(subscribed.map((s) => s.taskDefId).filter((id) => id && !known.has(id)))];
    const found = await Promise.all(missing.map((id) => deps.reader!.get<TaskDefinition>(TASK_DEFINITION_KIND, id)));
    for (const item of found) if (item) definitions.push(item);
  }
  const routed = routeReceipt(receipt, { definitions, subscribed });
  const enrolled = routed.targets.filter((t) => t.message.enrol !== undefined).map((t) => t.taskId);
  if (enrolled.length > 0) await deps.userTasks?.add(receipt.userId, enrolled);
  return { receipt, ...routed };
}

/** The messages of a routed receipt, as the ingest router writes them: message id `event:<eventId>` for each target. */
export function receiptMessages(routed: RoutedReceipt): RoutedMessage[] {
  return routed.targets.map((t) => ({ actor: TASK_ACTOR, id: t.taskId, message: t.message as unknown as Record<string, unknown>, messageId: `event:${routed.receipt.eventId}` }));
}

const RECEIPT_FIELDS = ['userId', 'eventId', 'occurredAt', 'amount'] as const;

/** A number written as a decimal string (every field of an ingest entry is a string); anything else as it is. */
function numeric(value: unknown, pattern: RegExp): unknown {
  return typeof value === 'string' && pattern.test(value) ? Number(value) : value;
}

/**
 * The receipt an ingest entry carries: `userId`, `eventId`, `occurredAt` and `amount` from the entry's fields or
 * its JSON payload (numbers may be decimal strings), `fields` from the payload's `fields` object plus every
 * other flat field of the entry and of the payload (nested values are left out). parseReceipt judges the rest.
 */
export function receiptOfEntry(fields: Record<string, string>, payload: Record<string, unknown>): Record<string, unknown> {
  const pick = (name: string): unknown => fields[name] ?? payload[name];
  const extra: Record<string, unknown> = {};
  const skip = new Set<string>(['event', 'payload', 'fields', ...RECEIPT_FIELDS]);
  for (const [k, v] of Object.entries(payload)) if (!skip.has(k) && (v === null || ['string', 'number', 'boolean'].includes(typeof v))) extra[k] = v;
  for (const [k, v] of Object.entries(fields)) if (!skip.has(k)) extra[k] = v;
  const nested = payload.fields;
  const merged = typeof nested === 'object' && nested !== null && !Array.isArray(nested) ? { ...extra, ...(nested as Record<string, unknown>) } : extra;
  const raw: Record<string, unknown> = {
    event: fields.event,
    userId: pick('userId'),
    eventId: pick('eventId'),
    occurredAt: numeric(pick('occurredAt'), /^\d{1,16}$/),
  };
  const amount = numeric(pick('amount'), /^\d+(\.\d+)?$/);
  if (amount !== undefined) raw.amount = amount;
  if (Object.keys(merged).length > 0) raw.fields = merged;
  return raw;
}

/**
 * The ingest resolver of completion receipts (wired into the worker's IngestRouter): an entry whose `event`
 * some task definition listens for is parsed as a receipt and sent to every task it counts for, each under
 * the message id `event:<eventId>` (a redelivered entry is dropped by each task as a duplicate). An event no
 * definition listens for answers null (the router's UNROUTABLE dead letter); an invalid receipt dead-letters
 * with INVALID_RECEIPT and every problem named; a receipt every task had to skip dead-letters with
 * RECEIPT_NOT_COUNTED and the reasons; a valid receipt no task counts now is acknowledged and dropped.
 *
 * Entry shape: `XADD {<ns>:ingest}:stream * event order.paid userId alice eventId o-1 occurredAt 1767225600000 amount 25 [payload {"fields":{...}}]`.
 */
export function taskReceiptResolver(deps: TaskReceiptDeps): IngestResolver {
  const logger = deps.logger ?? new Logger('TaskReceipts');
  return async (_entryId, fields, payload) => {
    if (!eventIsListened(deps.config, fields.event)) return null;
    const receipt = parseReceipt(receiptOfEntry(fields, payload));
    const routed = await routeTaskReceipt(receipt, deps);
    if (routed.targets.length === 0 && routed.skipped.length > 0) {
      throw new TerminalError(RECEIPT_NOT_COUNTED, `receipt ${receipt.eventId} counts for no task: ${routed.skipped.map((s) => `${s.taskId} ${s.code}: ${s.reason}`).join('; ')}`);
    }
    if (routed.skipped.length > 0) {
      logger.warn(`receipt ${receipt.eventId} skipped ${routed.skipped.map((s) => `${s.taskId} (${s.code})`).join(', ')}`);
    }
    return receiptMessages(routed);
  };
}
