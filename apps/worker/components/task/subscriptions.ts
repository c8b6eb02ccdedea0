import { assertValidId, ErrorCode, TerminalError } from '../../../../common';
import type { RedisClient } from '../../../../common';
import type { SubscriptionInput } from '../../../../actors/task/task.types';
import type { TaskKeys } from './task.keys';
import { taskScripts } from './task.scripts';

/** One entry of a user's subscription index, as stored (JSON). */
export interface SubscriptionEntry {
  events: string[];
  /** Last instant an event still counts (ms), or null while unbounded. */
  until: number | null;
}

export interface SubscriptionIndexOptions {
  /** An entry whose `until` is older than this is dropped when a lookup meets it; default 1 day (late events). */
  graceMs?: number;
  clock?: () => number;
}

/**
 * The parts of a task actor id `<userId>:<taskDefId>:<period>`. The definition id and the period never hold
 * ':' (the definition schema forbids it), so they are read from the right and the user id keeps the rest.
 */
export function parseTaskId(taskId: string): { userId: string; taskDefId: string; period: string } | null {
  const last = taskId.lastIndexOf(':');
  const middle = last > 0 ? taskId.lastIndexOf(':', last - 1) : -1;
  if (middle <= 0 || last === taskId.length - 1 || last - middle === 1) return null;
  return { userId: taskId.slice(0, middle), taskDefId: taskId.slice(middle + 1, last), period: taskId.slice(last + 1) };
}

/**
 * Which entries of an index (task id → stored JSON) count `event` at `occurredAt`, and which are expired past
 * the grace at `now` (to prune, with the value read, so a concurrent re-subscription is kept). Unreadable
 * entries are pruned too: no writer of this index makes them.
 */
export function matchSubscriptions(
  entries: Record<string, string>,
  event: string,
  occurredAt: number,
  now: number,
  graceMs: number,
): { taskIds: string[]; expired: Array<[taskId: string, value: string]> } {
  const taskIds: string[] = [];
  const expired: Array<[string, string]> = [];
  for (const [taskId, value] of Object.entries(entries)) {
    let entry: SubscriptionEntry;
    try {
      entry = JSON.parse(value) as SubscriptionEntry;
    } catch {
      expired.push([taskId, value]);
      continue;
    }
    if (!Array.isArray(entry?.events)) {
      expired.push([taskId, value]);
      continue;
    }
    const until = typeof entry.until === 'number' ? entry.until : null;
    if (until !== null && until < now - graceMs) expired.push([taskId, value]);
    if (entry.events.includes(event) && (until === null || until >= occurredAt)) taskIds.push(taskId);
  }
  return { taskIds: taskIds.sort(), expired };
}

/**
 * The subscription index: which of a user's tasks count which events, for the receipt router. A task writes
 * its entry when it starts counting (`task.subscribe`) and removes it when it stops (`task.unsubscribe`); the
 * entry's `until` lets a lookup ignore it once events can no longer count, and drop it a grace later. The
 * definition's enrolled set follows the same writes, so ending a definition reaches every task still counting.
 */
export class SubscriptionIndex {
  private readonly graceMs: number;
  private readonly clock: () => number;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: TaskKeys,
    options: SubscriptionIndexOptions = {},
  ) {
    this.graceMs = options.graceMs ?? 86_400_000;
    this.clock = options.clock ?? Date.now;
  }

  /** Writes the task's entry and enrols it in its definition; repeating it rewrites the same entry. */
  async subscribe(input: SubscriptionInput): Promise<void> {
    const { taskDefId } = this.check(input);
    const entry: SubscriptionEntry = { events: [...input.events], until: input.until };
    // Two slots (the user's, the definition's), written at once: idempotent writes, so a retry completes a
    // half-done pair whichever failed. The user's task set gets it too, so tasks another actor claimed (a
    // referral's preset task) are listed like claimed ones.
    await Promise.all([
      this.redis.multi().hset(this.keys.subscriptions(input.userId), input.taskId, JSON.stringify(entry)).sadd(this.keys.userTasks(input.userId), input.taskId).exec(),
      this.redis.sadd(this.keys.enrolled(taskDefId), input.taskId),
    ]);
  }

  /** Removes the task's entry and its enrolment; removing what is gone is a no-op. */
  async unsubscribe(input: Pick<SubscriptionInput, 'userId' | 'taskId'>): Promise<void> {
    const { taskDefId } = this.check(input);
    await Promise.all([this.redis.hdel(this.keys.subscriptions(input.userId), input.taskId), this.redis.srem(this.keys.enrolled(taskDefId), input.taskId)]);
  }

  /** The user's task ids that count `event` occurring at `occurredAt`, sorted; prunes long-expired entries. */
  async lookup(userId: string, event: string, occurredAt: number): Promise<string[]> {
    assertValidId(userId, 'userId');
    const key = this.keys.subscriptions(userId);
    const entries = await this.redis.hgetall(key);
    const { taskIds, expired } = matchSubscriptions(entries, event, occurredAt, this.clock(), this.graceMs);
    // Best effort and off the receipt's path (not awaited): an entry left behind is ignored by every lookup and
    // pruned by the next one. Commands on one connection run in order, so a later read sees the prune.
    if (expired.length > 0) void taskScripts(this.redis).pruneSubscriptions(key, ...expired.flat()).catch(() => undefined);
    return taskIds;
  }

  /** Task ids enrolled in a definition (the tasks still counting its events), sorted. */
  async enrolled(taskDefId: string): Promise<string[]> {
    assertValidId(taskDefId, 'taskDefId');
    return (await this.redis.smembers(this.keys.enrolled(taskDefId))).sort();
  }

  private check(input: Pick<SubscriptionInput, 'userId' | 'taskId'>): { taskDefId: string } {
    assertValidId(input.userId, 'userId');
    assertValidId(input.taskId, 'taskId');
    const parts = parseTaskId(input.taskId);
    if (!parts || parts.userId !== input.userId) {
      throw new TerminalError(ErrorCode.InvalidMessage, `task id ${input.taskId} is not <userId>:<taskDefId>:<period> of user ${input.userId}`);
    }
    return { taskDefId: parts.taskDefId };
  }
}
