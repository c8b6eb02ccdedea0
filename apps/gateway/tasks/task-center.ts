import { Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { partitionOf, RedisActorStore } from '../../../common';
import type { AuditRecord } from '../../../common';
import { ConfigCache, ConfigStore, ConfigVersionConflictError } from '../../../common/config-center';
import type { ConfigCacheOptions, ConfigItem } from '../../../common/config-center';
import { RewardFlow, TaskDefinition, termsOf } from '../../../actors/task/task.definition';
import { periodOf } from '../../../actors/task/task.period';
import { taskActor, taskView } from '../../../actors/task/task.actor';
import { taskActorId } from '../../../actors/task/task.types';
import type { ClaimMessage, ProgressMessage, TaskMessage, TaskState, TaskView } from '../../../actors/task/task.types';
import { redisUserTaskSet, REWARD_FLOW_KIND, SubscriptionIndex, TASK_CONFIG_KINDS, TASK_DEFINITION_KIND, TaskKeys, TaskRewards } from '../../worker/components/task';
import type { UserTaskSet } from '../../worker/components/task';
import { GatewayContext } from '../gateway.context';
import { GatewayError } from '../gateway.errors';
import { MerchantTokens } from './merchant-auth';
import { settledWithin } from '../../../common/shutdown';

/** Codes of the task routes' refusals (besides validation). */
export const TASK_CENTER_ERRORS = {
  notFound: 'TASK_NOT_FOUND',
  flowNotFound: 'FLOW_NOT_FOUND',
  taskNotFound: 'USER_TASK_NOT_FOUND',
  idTaken: 'ID_TAKEN',
  ended: 'TASK_ENDED',
  paused: 'TASK_PAUSED',
  notStarted: 'TASK_NOT_STARTED',
  closed: 'TASK_CLOSED',
  autoEnrolment: 'TASK_ENROLS_AUTOMATICALLY',
  versionConflict: 'VERSION_CONFLICT',
} as const;

/** How long a claim's idempotency key is remembered by default: a day. */
export const DEFAULT_CLAIM_TTL_MS = 24 * 3_600_000;

/** How long closing the gateway waits for the configuration cache to stop. */
const CACHE_STOP_WAIT_MS = 1_000;

/** Terminate messages told per SSCAN page when a definition ends. */
const END_PAGE = 200;

export interface TaskCenterOptions {
  /** The gateway's configuration cache (definitions for receipts). */
  cache?: ConfigCacheOptions;
}

/** What a claim answers (and what a duplicate under `first-result` gets again). */
export interface ClaimAnswer {
  task: TaskView;
  claimedAt: number;
  channel?: string;
}

/** A stored item as the merchant routes answer it. */
export type ItemAnswer<T> = Pick<ConfigItem<T>, 'id' | 'version' | 'value' | 'updatedAt' | 'by'>;

/** The parts of a stored item the merchant routes answer with. */
export function answerOf<T>(item: ConfigItem<T>): ItemAnswer<T> {
  return { id: item.id, version: item.version, value: item.value, updatedAt: item.updatedAt, ...(item.by !== undefined ? { by: item.by } : {}) };
}

/**
 * The gateway's side of the task center: definitions and flows in the configuration center (written through
 * the store, read for receipts from a cache kept fresh by its change stream), merchant tokens, the user's
 * subscription index and task set, and the task actors it asks. Controllers hold no state of their own.
 */
export class TaskCenter implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('TaskCenter');
  readonly store: ConfigStore;
  readonly cache: ConfigCache;
  readonly keys: TaskKeys;
  readonly subscriptions: SubscriptionIndex;
  readonly rewards: TaskRewards;
  readonly tokens: MerchantTokens;
  readonly userTaskSet: UserTaskSet;
  private readonly actors: RedisActorStore;

  constructor(
    readonly ctx: GatewayContext,
    options: TaskCenterOptions = {},
  ) {
    const ns = ctx.config.runtime.namespace;
    this.store = new ConfigStore(ctx.redis, ns, TASK_CONFIG_KINDS);
    this.cache = new ConfigCache(ctx.redis, ns, TASK_CONFIG_KINDS, { logger: this.logger, ...options.cache });
    this.keys = new TaskKeys(ns);
    this.subscriptions = new SubscriptionIndex(ctx.redis, this.keys);
    this.rewards = new TaskRewards(ctx.redis, this.keys);
    this.tokens = new MerchantTokens(ctx.redis, ns);
    this.userTaskSet = redisUserTaskSet(ctx.redis, this.keys);
    this.actors = new RedisActorStore(ctx.redis, ctx.keys);
  }

  async onModuleInit(): Promise<void> {
    await this.cache.start();
  }

  /**
   * Stops the configuration cache. With Redis reachable that takes a moment (closing its connection ends the
   * blocked read); with Redis gone its read would never settle, so the connection is closed and nothing waited
   * for: a slow shutdown hook would let other hooks start reads that hang too (the ops sampler's next tick).
   */
  async onApplicationShutdown(): Promise<void> {
    const stopped = this.cache.stop();
    if (this.ctx.redis.status !== 'ready') {
      stopped.catch(() => undefined);
      return;
    }
    await settledWithin(stopped, CACHE_STOP_WAIT_MS);
  }

  // ---- merchants: definitions and flows ----

  /** The merchant's item, or null when it does not exist or is another merchant's (indistinguishable to the caller). */
  async owned<T extends { merchantId: string }>(kind: string, merchantId: string, id: string): Promise<ConfigItem<T> | null> {
    const item = await this.store.get<T>(kind, id);
    return item && item.value.merchantId === merchantId ? item : null;
  }

  /** The merchant's items of a kind, sorted by id. */
  async listOwned<T extends { merchantId: string }>(kind: string, merchantId: string): Promise<ItemAnswer<T>[]> {
    const ids = await this.store.list(kind);
    const items = await Promise.all(ids.map((id) => this.store.get<T>(kind, id)));
    return items.filter((i): i is ConfigItem<T> => i !== null && i.value.merchantId === merchantId).map(answerOf);
  }

  /** The item's kept versions, newest first. */
  async history<T>(kind: string, id: string): Promise<ItemAnswer<T>[]> {
    return (await this.store.history<T>(kind, id)).map(answerOf);
  }

  /**
   * Stores the merchant's item as its next version. An id another merchant holds is refused (409 ID_TAKEN);
   * `expectVersion` (If-Match) makes the write conditional; creating is always conditional on the id still
   * being free, so two merchants can never both create one id.
   */
  async putOwned<T extends { merchantId: string }>(kind: string, merchantId: string, id: string, value: T, by: string, expectVersion?: number, check?: (current: ConfigItem<T> | null) => void): Promise<{ item: ItemAnswer<T>; created: boolean }> {
    const current = await this.store.get<T>(kind, id);
    if (current && current.value.merchantId !== merchantId) {
      throw new GatewayError(409, TASK_CENTER_ERRORS.idTaken, `${kind} id ${JSON.stringify(id)} is taken by another merchant; ids are global, choose another`);
    }
    check?.(current);
    try {
      const item = await this.store.put<T>(kind, id, value, { by, expectVersion: expectVersion ?? (current ? undefined : 0) });
      return { item: answerOf(item), created: current === null };
    } catch (err) {
      if (err instanceof ConfigVersionConflictError) throw new GatewayError(409, TASK_CENTER_ERRORS.versionConflict, err.message);
      throw err;
    }
  }

  /** Flows a definition names that are not the merchant's configured flows: each one is a problem of the PUT. */
  async missingFlows(def: TaskDefinition): Promise<string[]> {
    const flows = def.type === 'staged' ? def.stages.map((s) => s.flow) : [def.flow];
    const named = [...new Set(flows.filter((f): f is string => f !== undefined))];
    const found = await Promise.all(named.map((f) => this.owned<RewardFlow>(REWARD_FLOW_KIND, def.merchantId, f)));
    return named.filter((_, i) => found[i] === null);
  }

  /**
   * Ends a definition: stores it ENDED (unless it is already), then tells every task still enrolled in it
   * (the subscription index's enrolled set, read by SSCAN in pages) to terminate. Repeating it repeats the
   * tells under the same message ids, which each task applies once, and reaches tasks enrolled since.
   */
  async end(merchantId: string, taskDefId: string, operator: string, reason?: string): Promise<{ taskDefId: string; status: 'ENDED'; version: number; terminated: number }> {
    let item = await this.owned<TaskDefinition>(TASK_DEFINITION_KIND, merchantId, taskDefId);
    if (!item) throw this.definitionNotFound(merchantId, taskDefId);
    for (let attempt = 0; item.value.status !== 'ENDED'; attempt++) {
      try {
        item = await this.store.put<TaskDefinition>(TASK_DEFINITION_KIND, taskDefId, { ...item.value, status: 'ENDED' }, { by: operator, expectVersion: item.version });
      } catch (err) {
        // Written meanwhile (a PUT, another end): read again and end that version.
        if (!(err instanceof ConfigVersionConflictError) || attempt >= 3) throw err;
        item = await this.owned<TaskDefinition>(TASK_DEFINITION_KIND, merchantId, taskDefId);
        if (!item) throw this.definitionNotFound(merchantId, taskDefId);
      }
    }
    const message = { type: 'Terminate' as const, by: 'merchant' as const, operator, ...(reason !== undefined ? { reason } : {}) };
    let terminated = 0;
    let cursor = '0';
    do {
      const [next, taskIds] = await this.ctx.redis.sscan(this.keys.enrolled(taskDefId), cursor, 'COUNT', END_PAGE);
      cursor = next;
      await Promise.all(taskIds.map((taskId) => this.ctx.client.tell(taskActor, taskId, message, `terminate:merchant:${taskDefId}`)));
      terminated += taskIds.length;
    } while (cursor !== '0');
    return { taskDefId, status: 'ENDED', version: item.version, terminated };
  }

  definitionNotFound(merchantId: string, taskDefId: string): GatewayError {
    return new GatewayError(404, TASK_CENTER_ERRORS.notFound, `merchant ${merchantId} has no task definition ${taskDefId}; create it with PUT /merchants/${merchantId}/tasks/${taskDefId}`);
  }

  // ---- users: claims, tasks, rewards ----

  /** A definition for a user's claim, read from Redis (not the cache: a claim right after a change must see it). */
  async definitionForClaim(taskDefId: string): Promise<ConfigItem<TaskDefinition>> {
    const item = await this.store.get<TaskDefinition>(TASK_DEFINITION_KIND, taskDefId);
    if (!item) throw new GatewayError(404, TASK_CENTER_ERRORS.notFound, `there is no task ${taskDefId}; the merchant has not defined it`);
    return item;
  }

  /** Why a claim of `def` at `now` is refused, or nothing. */
  claimRefusal(item: ConfigItem<TaskDefinition>, now: number): GatewayError | undefined {
    const def = item.value;
    if (def.status === 'ENDED') return new GatewayError(409, TASK_CENTER_ERRORS.ended, `task ${def.id} has ended; it can no longer be claimed`);
    if (def.status === 'PAUSED') return new GatewayError(409, TASK_CENTER_ERRORS.paused, `task ${def.id} is paused by the merchant; claims are refused until it is active again`);
    if (def.enrolment !== 'claim') return new GatewayError(422, TASK_CENTER_ERRORS.autoEnrolment, `task ${def.id} needs no claim: the first ${def.events.join(' / ')} event enrols the user`);
    if (def.startsAt !== undefined && now < def.startsAt) return new GatewayError(409, TASK_CENTER_ERRORS.notStarted, `task ${def.id} opens for claims at ${new Date(def.startsAt).toISOString()}`);
    if (def.endsAt !== undefined && now >= def.endsAt) return new GatewayError(409, TASK_CENTER_ERRORS.closed, `task ${def.id} closed for claims at ${new Date(def.endsAt).toISOString()}`);
    return undefined;
  }

  /**
   * Claims the user's task of the period `now` falls in: writes the subscription index entry and the user's task
   * set first (an event arriving between this and the claim's commit is routed to the task, which keeps it as
   * early progress until the claim lands), then asks the task actor with the claim under the terms of the
   * definition's current version. The message id is fixed per task: a repeated claim is applied once.
   */
  async claim(item: ConfigItem<TaskDefinition>, userId: string, now: number): Promise<{ view: TaskView; claimedAt: number }> {
    const refusal = this.claimRefusal(item, now);
    if (refusal) throw refusal;
    const def = item.value;
    const { period, start, end } = periodOf(def, now);
    const taskId = taskActorId(userId, def.id, period);
    const terms = termsOf(def, item.version);
    // What the actor will write on its own once claimed (deadline: withinMs after claiming, else the period's end).
    const until = terms.withinMs !== undefined ? now + terms.withinMs : end !== undefined ? end - 1 : null;
    await this.subscriptions.subscribe({ userId, taskId, events: terms.events, until });
    await this.userTaskSet.add(userId, [taskId]);
    const message: ClaimMessage = { type: 'Claim', userId, period, terms, claimedAt: now, ...(start !== undefined ? { periodStart: start, periodEnd: end } : {}) };
    const reply = await this.ask(taskId, message, `claim:${taskId}`);
    const state = reply.state;
    // A repeated claim of a task that no longer counts (finished, terminated): the entry written above would
    // route every later event to it for nothing. Best effort: a lookup prunes it after its `until` anyway.
    if (state.status === 'NEW' ? state.terminated !== undefined : state.status !== 'IN_PROGRESS') {
      await this.subscriptions.unsubscribe({ userId, taskId }).catch(() => undefined);
    }
    if (reply.rejected) throw new GatewayError(409, reply.rejected.code, reply.rejected.reason);
    return { view: taskView(state, reply.version), claimedAt: state.status === 'NEW' ? now : state.claimedAt };
  }

  /** Asks a task actor for a committed turn (at most the gateway's ask timeout). */
  ask(taskId: string, message: TaskMessage | ProgressMessage, messageId: string) {
    return this.ctx.client.ask(taskActor, taskId, message, { timeoutMs: this.ctx.askTimeoutMs, messageId });
  }

  /** A task's view and history, or null when the actor has no record. */
  async task(taskId: string): Promise<{ view: TaskView; history: AuditRecord[]; updatedAt: number } | null> {
    const ref = { type: taskActor.type, id: taskId };
    const p = partitionOf(ref, this.ctx.config.runtime.partitions);
    const [record, history] = await Promise.all([this.actors.load<TaskState>(p, ref), this.actors.history(p, ref)]);
    return record ? { view: taskView(record.state, record.version), history, updatedAt: record.updatedAt } : null;
  }

  /**
   * One page of the user's tasks (SSCAN of the user's task set; pass the returned cursor back, '0' = done; a
   * task may show on two pages if the set changes meanwhile). A task claimed a moment ago whose actor has not
   * committed yet shows as NEW.
   */
  async userTasks(userId: string, cursor: string, limit: number): Promise<{ tasks: TaskView[]; cursor: string }> {
    const [next, taskIds] = await this.ctx.redis.sscan(this.keys.userTasks(userId), cursor, 'COUNT', limit);
    const views = await Promise.all(
      [...new Set(taskIds)].sort().map(async (taskId) => {
        const ref = { type: taskActor.type, id: taskId };
        const record = await this.actors.load<TaskState>(partitionOf(ref, this.ctx.config.runtime.partitions), ref);
        return record ? taskView(record.state, record.version) : taskView({ status: 'NEW', taskId, early: [] }, 0);
      }),
    );
    return { tasks: views, cursor: next };
  }
}
