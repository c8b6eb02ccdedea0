import { ConfigStore, Keys, MANUAL_INTERVENTION, partitionOf } from '../common';
import type { ActorRecord, RedisClient } from '../common';
import { isTaskTerminal, TASK_ACTOR, taskActorId } from '../actors';
import type { RewardFlowInput, TaskDefinitionInput, TaskState } from '../actors';
import { TASK_CONFIG_KINDS } from '../apps/worker/components/task';
import { HttpTally, requestWithRetry } from './http';
import { IngestWriter, newProgress, pollRecords, Pump, sampleDue } from './poll';
import type { ProgressSamples } from './poll';
import type { Rng } from './rng';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The task-center load of a chaos run: every user of the run has an auto-enrolled staged task (the first
 * `order.paid` receipt enrols them; thresholds 1, 3, 5, each stage rewarded by its own flow), and a share of
 * them also claim a claim-required task over HTTP (`review.posted`, target 2). Each reward flow grants points,
 * notifies the user (the notifier's stream) and POSTs to the merchant's webhook, a chaos webhook that fails a
 * seeded share of requests, so reward steps fail downstream, are retried, replayed, and a few end in manual
 * intervention (retried from ops at the end, as the referrals are).
 */
export const TASK_MERCHANT = 'chaos';
export const STAGED_TASK = 'orders';
export const STAGED_EVENT = 'order.paid';
/** Thresholds of the staged task and the points of each stage's flow. */
export const STAGES = [1, 3, 5] as const;
export const STAGE_POINTS = [10, 20, 30] as const;
export const CLAIM_TASK = 'reviews';
export const CLAIM_EVENT = 'review.posted';
export const CLAIM_TARGET = 2;
export const CLAIM_POINTS = 5;
/** Step indexes of every chaos flow: points, notify, webhook. */
export const STEP = { points: 0, notify: 1, webhook: 2 } as const;
/**
 * Reward retries kept short so a run settles: one retry round after 0.3 s, then the stage FAILS; one replay a
 * second later; then manual intervention (the drain retries those from ops).
 */
export const TASK_REWARD_POLICY = { maxRetries: 1, backoffBaseMs: 300, backoffCapMs: 1_000, replayIntervalMs: 1_000, maxReplays: 1 };

export const stageFlowId = (i: number) => `chaos-stage${i + 1}`;
export const CLAIM_FLOW = 'chaos-review';

/** Points a granted stage of `defId` is worth (what its flow's points step grants). */
export function pointsOf(defId: string, stage: number): number {
  return defId === CLAIM_TASK ? CLAIM_POINTS : (STAGE_POINTS[stage] ?? NaN);
}

/** Writes the flows and the two task definitions into the configuration center (before the apps start, so every cache loads them). */
export async function defineTasks(redis: RedisClient, ns: string, merchantWebhookUrl: string): Promise<void> {
  const store = new ConfigStore(redis, ns, TASK_CONFIG_KINDS);
  const flow = (id: string, points: number, template: string): RewardFlowInput => ({
    id,
    merchantId: TASK_MERCHANT,
    steps: [
      { type: 'points', amount: points },
      { type: 'notify', template },
      { type: 'webhook', url: merchantWebhookUrl, timeoutMs: 2_000 },
    ],
  });
  for (let i = 0; i < STAGES.length; i++) await store.put('flow', stageFlowId(i), flow(stageFlowId(i), STAGE_POINTS[i]!, `stage${i + 1}`), 'chaos');
  await store.put('flow', CLAIM_FLOW, flow(CLAIM_FLOW, CLAIM_POINTS, 'review'), 'chaos');
  const staged: TaskDefinitionInput = {
    id: STAGED_TASK,
    merchantId: TASK_MERCHANT,
    name: 'Orders in three stages (chaos)',
    type: 'staged',
    enrolment: 'auto',
    events: [STAGED_EVENT],
    stages: STAGES.map((threshold, i) => ({ threshold, flow: stageFlowId(i) })),
    reward: TASK_REWARD_POLICY,
  };
  const claimed: TaskDefinitionInput = {
    id: CLAIM_TASK,
    merchantId: TASK_MERCHANT,
    name: 'Post two reviews (chaos)',
    type: 'cumulative',
    enrolment: 'claim',
    events: [CLAIM_EVENT],
    target: CLAIM_TARGET,
    flow: CLAIM_FLOW,
    reward: TASK_REWARD_POLICY,
  };
  await store.put('task', STAGED_TASK, staged, 'chaos');
  await store.put('task', CLAIM_TASK, claimed, 'chaos');
}

export interface TaskLoadOptions {
  users: number;
  /** Users start over this many seconds (interleaved with the referral accepts). */
  seconds: number;
  /** Share of receipt deliveries through POST /receipts (the rest: XADD on the ingest stream). */
  httpShare: number;
  /** Share of users who also claim the claim-required task over HTTP. */
  claimShare: number;
  /** Share of receipts delivered again later with the same event id (over either path). */
  redeliverShare: number;
  /** Share of ingest receipts an upstream writes twice in a row (at-least-once producers). */
  writeTwiceShare: number;
}

/** One planned user task: the events its user sends, and what was acknowledged. */
export interface PlannedTask {
  taskId: string;
  userId: string;
  defId: typeof STAGED_TASK | typeof CLAIM_TASK;
  partition: number;
  /** The distinct event ids planned for it (each sent at least once). */
  events: string[];
  /** Event ids sent at least once / acknowledged at least once (an XADD id, a 200 or 202 from POST /receipts). */
  sent: Set<string>;
  acked: Set<string>;
  /** Claim-required tasks: the claim over HTTP was answered 200 (or 409 ALREADY_CLAIMED) / given up on. */
  claimAcked?: boolean;
  claimFailed?: boolean;
  /** At the last poll: the record's status, and whether the task is terminal (isTaskTerminal). */
  status?: string;
  terminal?: boolean;
}

export interface TaskLoadCounts {
  users: number;
  tasks: number;
  staged: number;
  claimTasks: number;
  claimsAcked: number;
  claimsFailed: number;
  /** Distinct event ids planned, and deliveries (first sends, then duplicates). */
  distinctEvents: number;
  deliveries: number;
  deliveriesAcked: number;
  viaIngest: number;
  viaHttp: number;
  /** POST /receipts answers that listed a task under `skipped` (none expected: every chaos receipt counts, or is a duplicate). */
  skippedAnswers: number;
  duplicates: { sameEventAgain: number; writtenTwice: number };
  ingestEntries: number;
  ingestRetries: number;
  http: { requests: number; retries: number; gaveUp: number; byRoute: Record<string, Record<string, number>> };
}

export interface TaskLoadContext {
  redis: RedisClient;
  keys: Keys;
  partitions: number;
  gateway: () => string;
  rng: Rng;
  log: (line: string) => void;
}

/** A task is done for the drain: terminal, or waiting for a person. */
export const isTaskFinal = (t: Pick<PlannedTask, 'status' | 'terminal'>) => t.terminal === true || t.status === MANUAL_INTERVENTION;

/**
 * Drives the task-center load: users spread over the load phase, each sending its receipts in a shuffled
 * order with random gaps, mostly as XADDs on the ingest stream and a few through POST /receipts; some receipts
 * delivered again later with the same event id, some written twice. Claim-required tasks are claimed over HTTP
 * first (their receipts only after the claim was acknowledged: before it, the router has nowhere to send them).
 * Every send is retried until acknowledged, through gateway restarts and Redis outages. The task records are
 * polled (record and due score in one MULTI per partition) until each is terminal or in manual intervention.
 */
export class TaskLoadDriver {
  readonly tasks: PlannedTask[];
  readonly byId = new Map<string, PlannedTask>();
  readonly http = new HttpTally();
  readonly progress: ProgressSamples;
  private readonly users: Array<{ k: number; userId: string; staged: PlannedTask; claim?: PlannedTask }>;
  private deliveriesAcked = 0;
  private viaIngest = 0;
  private viaHttp = 0;
  private skippedAnswers = 0;
  private readonly dup = { sameEventAgain: 0, writtenTwice: 0 };
  private readonly ingest: IngestWriter;
  private readonly pump: Pump;

  constructor(
    private readonly ctx: TaskLoadContext,
    private readonly opts: TaskLoadOptions,
    overdueLimitMs = 10_000,
  ) {
    this.progress = newProgress(overdueLimitMs);
    this.ingest = new IngestWriter(ctx, ctx.log, 'of a receipt');
    this.pump = new Pump(() => this.pumpOnce(), ctx.log, 'task poll');
    const rng = ctx.rng.fork('plan');
    const plan = (userId: string, defId: PlannedTask['defId'], events: string[]): PlannedTask => {
      const taskId = taskActorId(userId, defId, 'once');
      const t: PlannedTask = { taskId, userId, defId, partition: partitionOf({ type: TASK_ACTOR, id: taskId }, ctx.partitions), events, sent: new Set(), acked: new Set() };
      this.byId.set(taskId, t);
      return t;
    };
    // Exactly round(users × claimShare) users claim the claim-required task too, drawn from the seed.
    const claimers = new Set(rng.shuffle(Array.from({ length: opts.users }, (_, k) => k)).slice(0, Math.round(opts.users * opts.claimShare)));
    this.users = Array.from({ length: opts.users }, (_, k) => {
      const userId = `tu${k}`;
      // As many distinct orders as the last threshold: the task ends REWARDED with every stage granted.
      const staged = plan(userId, STAGED_TASK, Array.from({ length: STAGES[STAGES.length - 1]! }, (_, j) => `${userId}-o${j + 1}`));
      const claim = claimers.has(k) ? plan(userId, CLAIM_TASK, Array.from({ length: CLAIM_TARGET }, (_, j) => `${userId}-r${j + 1}`)) : undefined;
      return { k, userId, staged, ...(claim ? { claim } : {}) };
    });
    this.tasks = [...this.byId.values()];
  }

  counts(): TaskLoadCounts {
    const claims = this.tasks.filter((t) => t.defId === CLAIM_TASK);
    return {
      users: this.users.length,
      tasks: this.tasks.length,
      staged: this.tasks.length - claims.length,
      claimTasks: claims.length,
      claimsAcked: claims.filter((t) => t.claimAcked).length,
      claimsFailed: claims.filter((t) => t.claimFailed).length,
      distinctEvents: this.tasks.reduce((n, t) => n + t.events.length, 0),
      deliveries: this.viaIngest + this.viaHttp,
      deliveriesAcked: this.deliveriesAcked,
      viaIngest: this.viaIngest,
      viaHttp: this.viaHttp,
      skippedAnswers: this.skippedAnswers,
      duplicates: { ...this.dup },
      ingestEntries: this.ingest.entries,
      ingestRetries: this.ingest.retries,
      http: { requests: this.http.sent, retries: this.http.retries, gaveUp: this.http.gaveUp, byRoute: this.http.toJSON() },
    };
  }

  /** Tasks something was acknowledged for (a receipt, or the claim): each must end terminal or in manual intervention. */
  touched(): PlannedTask[] {
    return this.tasks.filter((t) => t.acked.size > 0 || t.claimAcked);
  }

  /** Statuses of the touched tasks at the last poll. */
  histogram(): Record<string, number> {
    const h: Record<string, number> = {};
    for (const t of this.touched()) {
      const s = t.status ?? 'unknown';
      h[s] = (h[s] ?? 0) + 1;
    }
    return h;
  }

  unfinished(): PlannedTask[] {
    return this.touched().filter((t) => !isTaskFinal(t));
  }

  manual(): PlannedTask[] {
    return this.touched().filter((t) => t.status === MANUAL_INTERVENTION);
  }

  /** Runs every user's sends (users paced over `seconds`); resolves when each send was acknowledged or given up on. */
  async run(): Promise<void> {
    const started = Date.now();
    const spacing = (this.opts.seconds * 1000) / Math.max(1, this.users.length);
    await Promise.all(
      this.users.map(async (u) => {
        await sleep(Math.max(0, started + u.k * spacing - Date.now()));
        await this.runUser(u);
      }),
    );
  }

  private async runUser(u: { k: number; userId: string; staged: PlannedTask; claim?: PlannedTask }): Promise<void> {
    const rng = this.ctx.rng.fork(`user-${u.k}`);
    const occurredBase = Date.now() - 60_000;
    // The claim first: a receipt that reaches the router before the claim wrote the subscription has no task to count for.
    if (u.claim) await this.claim(u.claim);
    const sends: Array<{ task: PlannedTask; event: string; eventId: string; occurredAt: number }> = [];
    u.staged.events.forEach((eventId, j) => sends.push({ task: u.staged, event: STAGED_EVENT, eventId, occurredAt: occurredBase + j }));
    if (u.claim?.claimAcked) u.claim.events.forEach((eventId, j) => sends.push({ task: u.claim!, event: CLAIM_EVENT, eventId, occurredAt: occurredBase + 100 + j }));
    const later: Promise<void>[] = [];
    for (const s of rng.shuffle(sends)) {
      await sleep(rng.int(0, 600));
      const path = rng.chance(this.opts.httpShare) ? 'http' : 'ingest';
      const twice = path === 'ingest' && rng.chance(this.opts.writeTwiceShare);
      await this.deliver(s.task, u.userId, s.event, s.eventId, s.occurredAt, path, twice);
      if (rng.chance(this.opts.redeliverShare)) {
        const delay = rng.int(100, 3_000);
        const again = rng.chance(this.opts.httpShare * 3) ? 'http' : 'ingest';
        later.push(
          sleep(delay).then(() => {
            this.dup.sameEventAgain++;
            return this.deliver(s.task, u.userId, s.event, s.eventId, s.occurredAt, again, false);
          }),
        );
      }
    }
    await Promise.all(later);
  }

  private async deliver(task: PlannedTask, userId: string, event: string, eventId: string, occurredAt: number, path: 'ingest' | 'http', twice: boolean): Promise<void> {
    task.sent.add(eventId);
    let ok: boolean;
    if (path === 'ingest') {
      this.viaIngest++;
      const fields = ['event', event, 'userId', userId, 'eventId', eventId, 'occurredAt', String(occurredAt)];
      ok = await this.ingest.xadd(fields);
      if (twice) {
        this.dup.writtenTwice++;
        await this.ingest.xadd(fields);
      }
    } else {
      this.viaHttp++;
      const a = await requestWithRetry(this.http, 'receipts', this.ctx.gateway, 'POST', '/receipts', { userId, event, eventId, occurredAt });
      // 200: the tasks' turns are done; 202: queued in their inbox (applied later).
      ok = !!a && (a.status === 200 || a.status === 202);
      if (a && !ok) this.ctx.log(`load: POST /receipts ${eventId} answered ${a.status}: ${JSON.stringify(a.body).slice(0, 200)}`);
      // The answer is what the gateway acknowledged, skips included: the progress check shows whether the task counted it.
      if (ok && Array.isArray(a!.body?.skipped) && a!.body.skipped.length > 0) {
        this.skippedAnswers++;
        this.ctx.log(`load: POST /receipts ${eventId} answered ${a!.status} with skipped tasks: ${JSON.stringify(a!.body.skipped).slice(0, 300)}`);
      }
    }
    if (ok) {
      this.deliveriesAcked++;
      task.acked.add(eventId);
    }
  }

  /** Claims a claim-required task over HTTP until the gateway answers it (idempotent: the retries share the key). */
  private async claim(t: PlannedTask): Promise<void> {
    const deadline = Date.now() + 90_000;
    for (;;) {
      const a = await requestWithRetry(this.http, 'claim', this.ctx.gateway, 'POST', `/users/${t.userId}/tasks/${t.defId}/claim`, { channel: 'chaos' }, { 'idempotency-key': `chaos-${t.userId}` });
      const code = a?.body?.error?.code as string | undefined;
      if (a && (a.status === 200 || (a.status === 409 && code === 'ALREADY_CLAIMED'))) {
        t.claimAcked = true;
        return;
      }
      // The first claim with this key still runs (a retry after a timeout): ask again in a moment.
      if (a && a.status === 409 && code === 'IDEMPOTENCY_IN_PROGRESS' && Date.now() < deadline) {
        await sleep(500);
        continue;
      }
      t.claimFailed = true;
      this.ctx.log(`load: claim of ${t.taskId} ${a ? `answered ${a.status}: ${JSON.stringify(a.body).slice(0, 200)}` : 'given up'}`);
      return;
    }
  }

  /** Starts polling the tasks' records (every `intervalMs`) until stopPump. */
  startPump(intervalMs = 500): void {
    this.pump.start(intervalMs);
  }

  async stopPump(): Promise<void> {
    await this.pump.stop();
  }

  /** Polls the touched tasks that are not terminal: status, and (for moving ones) the due score in the same MULTI. */
  async pumpOnce(): Promise<void> {
    this.progress.polls++;
    const open = this.touched().filter((t) => !t.terminal);
    await pollRecords<PlannedTask, TaskState>(this.ctx, open, (t) => ({ partition: t.partition, type: TASK_ACTOR, id: t.taskId }), (t, rec, due, now) => {
      t.status = rec?.status ?? 'missing';
      t.terminal = rec ? isTaskTerminal(rec.state) : false;
      if (rec && !t.terminal && rec.status !== MANUAL_INTERVENTION) this.sample(t, rec, due, now);
    });
  }

  /** A moving task with a timer or a call pending must be in the due index (one with neither waits for events). */
  private sample(t: PlannedTask, rec: ActorRecord<TaskState>, due: string | null, now: number): void {
    this.progress.samples++;
    if (rec.scheduleTime === null) return;
    sampleDue(this.progress, due, now, `task ${t.taskId} (${rec.status})`, () => `task ${t.taskId}: ${rec.status}, due at ${rec.scheduleTime} but not in the due index`);
  }
}
