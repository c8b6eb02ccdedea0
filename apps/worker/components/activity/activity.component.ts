import { randomUUID } from 'node:crypto';
import { assertValidId, RetryableError, TerminalError } from '../../../../common';
import type { RedisClient } from '../../../../common';
import { scripts } from '../../../../common/redis/scripts';
import { BudgetBuckets, BudgetMode, HeldReservation } from './activity.budget';
import { ActivityKeys } from './activity.keys';
import { periodKeys, pureVerdict } from './activity.rules';
import { ACTIVITY_ERRORS, parseActivity, REJECTION_REASONS } from './activity.types';
import type { Activity, ActivityInput, ApplyRequest, ApplyResult, ConsultResult, Grant, RejectionCode, Relation, RelationRequest } from './activity.types';

/** Past versions of an activity definition kept in its history. */
export const ACTIVITY_HISTORY_KEPT = 50;

/** Failure injection for tests: a RetryableError before the script runs, or after it committed (a lost reply). */
export interface ActivityFaults {
  failRate: number;
  afterCommitRate?: number;
  /** Extra latency before every call (a slow downstream), in ms. */
  delayMs?: number;
  rng?: () => number;
}

export interface ActivityComponentOptions {
  /** How long a key's result (and a bucket reservation) is remembered; default 30 days. */
  idempotencyTtlS?: number;
  /** Grants kept per user and activity in the ledger; default 1,000. */
  ledgerMax?: number;
  faults?: ActivityFaults;
  newGrantId?: () => string;
}

export type RelationResult = { ok: true; relation: Relation; replayed: boolean } | { ok: false; code: RejectionCode; reason: string; replayed: boolean };

const STALE_RETRIES = 3;

/** Whether an audience rule restricts anyone (an empty rule admits everyone without reading tags). */
function hasRule(rule: Activity['audience']): boolean {
  return Boolean(rule.anyOf?.length || rule.allOf?.length || rule.noneOf?.length);
}

/**
 * The activity component (活动组件): definitions in Redis, and `apply`, which decides an application with one
 * atomic, idempotent script: the same idempotency key always gets its first result, and the budget is never
 * overspent. With a split budget, a bucket unit is reserved first (idempotent per key, see BudgetBuckets) and
 * the idempotency record stays in the activity's slot, beside the user's counters, so the grant and its record
 * commit together and a key is granted at most once whatever bucket it drew from.
 */
export class ActivityComponent {
  private readonly ttlS: number;
  private readonly buckets: BudgetBuckets;

  constructor(
    private readonly redis: RedisClient,
    readonly keys: ActivityKeys,
    private readonly options: ActivityComponentOptions = {},
  ) {
    this.ttlS = options.idempotencyTtlS ?? 30 * 86_400;
    this.buckets = new BudgetBuckets(redis, keys, this.ttlS);
  }

  /** Validates and stores a definition (bumping its version); the bucket count of an activity cannot change. */
  async define(input: ActivityInput): Promise<Activity> {
    const activity = parseActivity(input);
    const existing = await this.load(activity.id);
    if (existing && existing.activity.budgetBuckets !== activity.budgetBuckets) {
      throw new TerminalError(ACTIVITY_ERRORS.invalid, `activity ${activity.id} has ${existing.activity.budgetBuckets} budget buckets; the count cannot change once defined`);
    }
    await scripts(this.redis).defineActivity(this.keys.definition(activity.id), this.keys.history(activity.id), activity.status, JSON.stringify(activity), Date.now(), ACTIVITY_HISTORY_KEPT);
    await this.redis.sadd(this.keys.index(), activity.id);
    return activity;
  }

  /** Past versions of a definition, newest first (the last ACTIVITY_HISTORY_KEPT): what changed, and when. */
  async history(activityId: string, limit = ACTIVITY_HISTORY_KEPT): Promise<Array<{ version: number; at: number; activity: Activity }>> {
    const raw = await this.redis.zrevrange(this.keys.history(activityId), 0, Math.max(0, limit - 1));
    return raw.map((text) => {
      const { version, at, d } = JSON.parse(text) as { version: number; at: number; d: string };
      return { version, at, activity: JSON.parse(d) as Activity };
    });
  }

  /** Stops granting: every later application is rejected with ACTIVITY_PAUSED (checked inside the script). */
  pause(activityId: string): Promise<void> {
    return this.setStatus(activityId, 'PAUSED');
  }
  resume(activityId: string): Promise<void> {
    return this.setStatus(activityId, 'ACTIVE');
  }

  /** Ids of every defined activity, sorted. */
  async ids(): Promise<string[]> {
    return (await this.redis.smembers(this.keys.index())).sort();
  }

  /** The stored definition and its version, or null. */
  async load(activityId: string): Promise<{ activity: Activity; ver: string } | null> {
    const [status, ver, d] = await this.redis.hmget(this.keys.definition(activityId), 'status', 'ver', 'd');
    if (!status || !ver || !d) return null;
    return { activity: { ...(JSON.parse(d) as Activity), status: status as Activity['status'] }, ver };
  }

  /** Applies for the activity's prize at `now`: a grant, or a rejection with its reason code; both are final per key. */
  async apply(req: ApplyRequest, now: number): Promise<ApplyResult> {
    this.validate(req);
    await this.inject('failRate', 'before');
    const result = await this.evaluate(req, now, 'apply');
    await this.inject('afterCommitRate', 'after');
    return result as ApplyResult;
  }

  /** The same checks as `apply` at `now`, writing nothing (no counters, no budget, no idempotency record). */
  async consult(req: Omit<ApplyRequest, 'idempotencyKey'>, now: number): Promise<ConsultResult> {
    this.validate({ ...req, idempotencyKey: 'consult' });
    const r = await this.evaluate({ ...req, idempotencyKey: '' }, now, 'consult');
    return r.ok ? { ok: true, flags: r.grant.flags ?? [] } : { ok: false, code: r.code, reason: r.reason };
  }

  /**
   * Records that `sharerId` referred `inviteeId` (activity 1) after the checks of the relation step: the
   * invitee audience, self-referral, the same device or IP as the sharer (reject or flag per the activity's
   * policy), then ACTIVITY_PAUSED and ALREADY_REFERRED in the script. Final per idempotency key.
   */
  async applyRelation(req: RelationRequest, idempotencyKey: string, now: number): Promise<RelationResult> {
    for (const [v, what] of [[req.activityId, 'activityId'], [req.sharerId, 'sharerId'], [req.inviteeId, 'inviteeId'], [idempotencyKey, 'idempotency key']] as const) assertValidId(v, what);
    await this.inject('failRate', 'before');
    const { tags: given, ...fields } = req;
    const tags = given ?? (await this.userTags(req.inviteeId));
    const k = this.keys;
    for (let attempt = 0; attempt < STALE_RETRIES; attempt++) {
      const loaded = await this.load(req.activityId);
      if (!loaded) throw this.notFound(req.activityId);
      const sharer = { userId: req.sharerId, ...(req.sharerDevice !== undefined ? { device: req.sharerDevice } : {}), ...(req.sharerIp !== undefined ? { ip: req.sharerIp } : {}) };
      const verdict = pureVerdict(loaded.activity, { userId: req.inviteeId, attributes: { tags }, device: req.device, ip: req.ip, sharer }, loaded.activity.inviteeAudience);
      const relation: Relation = { ...fields, at: now, key: idempotencyKey, ...(verdict.flags.length > 0 ? { flags: verdict.flags } : {}) };
      const reply = await scripts(this.redis).recordRelation(
        k.definition(req.activityId), k.idempotency(req.activityId, `rel:${idempotencyKey}`), k.relation(req.activityId, req.inviteeId),
        JSON.stringify(relation), verdict.rejection ?? '', this.ttlS, loaded.ver,
      );
      if (reply[0] === -1) continue; // redefined while deciding: decide again on the new version
      if (reply[0] === -2) throw this.notFound(req.activityId);
      await this.inject('afterCommitRate', 'after');
      const replayed = reply[2] === 1;
      if (reply[0] === 1) return { ok: true, relation: JSON.parse(String(reply[1])) as Relation, replayed };
      return this.rejected(String(reply[1]) as RejectionCode, replayed);
    }
    throw new RetryableError(ACTIVITY_ERRORS.unavailable, `activity ${req.activityId} was redefined ${STALE_RETRIES} times while deciding; try again`);
  }

  /** Replaces a user's crowd tags (what the audience rules match); an empty list removes them. */
  async setUserTags(userId: string, tags: readonly string[]): Promise<void> {
    assertValidId(userId, 'userId');
    for (const tag of tags) assertValidId(tag, 'tag');
    const key = this.keys.userTags(userId);
    const tx = this.redis.multi().del(key);
    if (tags.length > 0) tx.sadd(key, ...tags);
    await tx.exec();
  }

  /** A user's crowd tags, sorted. */
  async userTags(userId: string): Promise<string[]> {
    return (await this.redis.smembers(this.keys.userTags(userId))).sort();
  }

  /** A user's grants over every activity, oldest first. */
  async ledger(userId: string): Promise<Grant[]> {
    const ids = await this.redis.smembers(this.keys.index());
    const lists = await Promise.all(ids.map((id) => this.redis.lrange(this.keys.ledger(id, userId), 0, -1)));
    return lists.flat().map((g) => JSON.parse(g) as Grant).sort((a, b) => a.at - b.at);
  }

  /** The activity's budget limit and the units used, summed over its buckets. */
  async budget(activityId: string): Promise<{ limit: number; used: number }> {
    const loaded = await this.load(activityId);
    if (!loaded) throw this.notFound(activityId);
    return this.buckets.usage(loaded.activity);
  }

  private async evaluate(req: ApplyRequest, now: number, mode: 'apply' | 'consult'): Promise<ApplyResult> {
    let held: HeldReservation | null = null;
    // Tags given with the request win; otherwise the crowd store says who the user is (read only when a rule needs it).
    let tags = req.attributes?.tags;
    for (let attempt = 0; attempt < STALE_RETRIES; attempt++) {
      const loaded = await this.load(req.activityId);
      if (!loaded) throw this.notFound(req.activityId);
      const { activity, ver } = loaded;
      if (tags === undefined && hasRule(activity.audience)) tags = await this.userTags(req.userId);
      const periods = periodKeys(now, activity.timeZone);
      const verdict = pureVerdict(activity, { ...req, attributes: { ...req.attributes, tags: tags ?? [] } });
      let budget: BudgetMode = 'inline';
      if (activity.budgetBuckets > 1) {
        if (mode === 'consult') budget = await this.buckets.peek(activity, periods.day);
        else ({ mode: budget, held } = await this.buckets.reserve(activity, req.idempotencyKey, periods.day));
      }
      const grant: Grant = { grantId: this.options.newGrantId?.() ?? randomUUID(), activityId: activity.id, userId: req.userId, prize: activity.prize, at: now, key: req.idempotencyKey };
      if (verdict.flags.length > 0) grant.flags = verdict.flags;
      const k = this.keys;
      const reply = await scripts(this.redis).applyActivity(
        k.definition(activity.id), k.idempotency(activity.id, req.idempotencyKey), k.userCounters(activity.id, req.userId), k.ledger(activity.id, req.userId), k.budget(activity.id, 0, 1),
        mode, ver, verdict.rejection ?? '', activity.risk.velocityPerHour ?? 0, periods.hour,
        activity.caps.perDay ?? 0, periods.day, activity.caps.perWeek ?? 0, periods.week, activity.caps.total ?? 0,
        budget, activity.budget.total, activity.budget.perDay ?? 0, periods.day,
        JSON.stringify(grant), this.ttlS, this.options.ledgerMax ?? 1000,
      );
      // A redefinition raced the verdict: decide again on the new version, keeping any reservation (status 2 next time).
      if (reply[0] === -1) continue;
      if (reply[0] === -2) throw this.notFound(activity.id);
      const replayed = reply[2] === 1;
      const granted = reply[0] === 1;
      // A held unit stays only when it backs this key's grant: a fresh one, or a replay that found its own reservation.
      if (held && !(granted && (!replayed || held.status === 2))) await this.buckets.release(activity, req.idempotencyKey, held);
      if (!granted) return this.rejected(String(reply[1]) as RejectionCode, replayed);
      if (mode === 'consult') return { ok: true, grant, replayed: false };
      return { ok: true, grant: JSON.parse(String(reply[1])) as Grant, replayed };
    }
    throw new RetryableError(ACTIVITY_ERRORS.unavailable, `activity ${req.activityId} was redefined ${STALE_RETRIES} times while deciding; try again`);
  }

  private rejected(code: RejectionCode, replayed: boolean): { ok: false; code: RejectionCode; reason: string; replayed: boolean } {
    return { ok: false, code, reason: REJECTION_REASONS[code] ?? code, replayed };
  }

  private async setStatus(activityId: string, status: Activity['status']): Promise<void> {
    assertValidId(activityId, 'activityId');
    const key = this.keys.definition(activityId);
    if (!(await this.redis.exists(key))) throw this.notFound(activityId);
    await this.redis.hset(key, 'status', status);
  }

  private validate(req: ApplyRequest): void {
    assertValidId(req.activityId, 'activityId');
    assertValidId(req.userId, 'userId');
    assertValidId(req.idempotencyKey, 'idempotency key');
  }

  private notFound(activityId: string): TerminalError {
    return new TerminalError(ACTIVITY_ERRORS.notFound, `activity ${activityId} is not defined`);
  }

  private async inject(rate: 'failRate' | 'afterCommitRate', when: 'before' | 'after'): Promise<void> {
    const f = this.options.faults;
    if (f?.delayMs && when === 'before') await new Promise((r) => setTimeout(r, f.delayMs));
    if (!f || !(f[rate] ?? 0) || (f.rng ?? Math.random)() >= (f[rate] ?? 0)) return;
    if (when === 'before') throw new RetryableError(ACTIVITY_ERRORS.unavailable, 'injected fault: the activity service is unavailable; nothing was written');
    throw new RetryableError(ACTIVITY_ERRORS.lostReply, 'injected fault: the reply was lost after the grant committed; retry with the same key');
  }
}
