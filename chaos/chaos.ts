import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Keys } from '../common';
import type { RedisClient } from '../common';
import { groupOf } from '../common/redis/stream-info';
import { NOTIFIER_GROUP, NotifierKeys } from '../apps/notifier';
import { freePort } from '../test/harness/redis-server';
import { checkInvariants } from './checks';
import { Fleet } from './fleet';
import { FaultInjector, FaultKind, planFaults } from './faults';
import { HttpTally, requestWithRetry } from './http';
import { isFinal, LoadDriver, LoadOptions } from './load';
import { ChaosCluster, ChaosRedis, killAllRedis, SingleRedis } from './redis';
import type { ChaosSummary } from './report';
import { randomSeed, Rng } from './rng';
import { defineTasks, TASK_REWARD_POLICY, TaskLoadDriver, TaskLoadOptions } from './tasks';
import { ChaosWebhook } from './webhook';

const ROOT = join(__dirname, '..');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const fmt = (n: number) => n.toLocaleString('en-US');

/** A chaos run's size and timing; `npm run chaos:smoke` uses `smoke`, `npm run chaos` `full`. */
export interface ChaosProfile {
  referrals: number;
  /** The accepts are spread over this long; the fault schedule runs inside it. */
  loadSeconds: number;
  /** Share of referrals accepted over HTTP (the rest through the ingest stream). */
  httpShare: number;
  faults: Partial<Record<FaultKind, number>>;
  /** The end phase waits at most this long for every application to be terminal or in manual intervention. */
  drainTimeoutMs: number;
  /** Downstream faults of the workers' activity component. */
  activityFailRate: number;
  activityLostReplyRate: number;
  activityDelayMs: number;
  /** Share of webhook requests the chaos webhook answers 503. */
  webhookFailRate: number;
  /** Task-center users (each one auto-enrolled staged task, 5 receipts), started over the load phase with the referrals. */
  taskUsers: number;
  /** Share of receipt deliveries through POST /receipts (the rest through the ingest stream). */
  taskHttpShare: number;
  /** Share of task users who also claim the claim-required task over HTTP. */
  claimShare: number;
  /** Share of requests the merchant's webhook (the reward flows' webhook step) answers 503. */
  merchantWebhookFailRate: number;
}

/** The task-center load of the smoke and full profiles (users × 5 receipts each; see chaos/tasks.ts). */
const SMOKE_TASKS = { taskUsers: 100, taskHttpShare: 0.04, claimShare: 0.06, merchantWebhookFailRate: 0.3 };
const FULL_TASKS = { taskUsers: 1500, taskHttpShare: 0.04, claimShare: 0.05, merchantWebhookFailRate: 0.3 };

/**
 * HTTP accepts get the referral's default retry settings (5 s backoff, doubling, 8 rounds): a referral unlucky
 * with the injected faults waits minutes for its later rounds. The smoke run keeps them few so it stays near a
 * minute; ingest accepts carry short settings (`INGEST_SETTINGS`).
 */
export const PROFILES: Record<'smoke' | 'full', Record<'single' | 'cluster', ChaosProfile>> = {
  smoke: {
    single: { referrals: 500, loadSeconds: 25, httpShare: 0.02, faults: { 'kill-worker': 1, 'kill-sweeper': 1, 'stop-redis': 1, 'restart-redis': 1 }, drainTimeoutMs: 150_000, activityFailRate: 0.1, activityLostReplyRate: 0.1, activityDelayMs: 5, webhookFailRate: 0.2, ...SMOKE_TASKS },
    cluster: { referrals: 500, loadSeconds: 30, httpShare: 0.02, faults: { 'kill-worker': 1, 'kill-sweeper': 1, failover: 1, 'kill-master': 1 }, drainTimeoutMs: 150_000, activityFailRate: 0.1, activityLostReplyRate: 0.1, activityDelayMs: 5, webhookFailRate: 0.2, ...SMOKE_TASKS },
  },
  full: {
    single: { referrals: 4000, loadSeconds: 120, httpShare: 0.06, faults: { 'kill-worker': 5, 'kill-sweeper': 3, 'stop-redis': 3, 'restart-redis': 3 }, drainTimeoutMs: 360_000, activityFailRate: 0.12, activityLostReplyRate: 0.1, activityDelayMs: 5, webhookFailRate: 0.25, ...FULL_TASKS, taskUsers: 1500 },
    cluster: { referrals: 3000, loadSeconds: 120, httpShare: 0.06, faults: { 'kill-worker': 4, 'kill-sweeper': 2, failover: 2, 'kill-master': 2 }, drainTimeoutMs: 360_000, activityFailRate: 0.12, activityLostReplyRate: 0.1, activityDelayMs: 5, webhookFailRate: 0.25, ...FULL_TASKS, taskUsers: 1200 },
  },
};

/** Retry settings of ingest accepts: rounds after 0.3, 0.6, 1.2 s, then manual intervention (retried from ops at the end). */
export const INGEST_SETTINGS = { backoffBaseMs: 300, backoffCapMs: 2_000, maxRetries: 3 };

/** Runtime settings of every app in a chaos run (faster hand-overs than production, so a run stays short). */
const RUNTIME_ENV = {
  PROPEL_PARTITIONS: '16',
  PROPEL_METRICS_PORT: '0',
  PROPEL_CLAIM_IDLE_MS: '5000',
  PROPEL_CALL_TIMEOUT_MS: '5000',
  PROPEL_ACTOR_LEASE_MS: '3000',
  PROPEL_SWEEP_TICK_MS: '500',
  PROPEL_SWEEP_GRACE_MS: '3000',
  PROPEL_SWEEP_CLAIM_IDLE_MS: '5000',
};
const LEASE_TTL_MS = 3000; // PROPEL_LEASE_TTL_MS default, unchanged
/** A non-terminal actor overdue longer than this is stuck: the lease TTL (its owner's partitions move) + a sweep tick + the sweep grace. */
const STUCK_AFTER_MS = LEASE_TTL_MS + Number(RUNTIME_ENV.PROPEL_SWEEP_TICK_MS) + Number(RUNTIME_ENV.PROPEL_SWEEP_GRACE_MS);
/** Variables of the caller's environment that would point the apps elsewhere: blanked for the children. */
const BLANKED = ['PROPEL_REDIS_URL', 'REDIS_URL', 'PROPEL_REDIS_CLUSTER', 'PROPEL_REDIS_USERNAME', 'PROPEL_REDIS_PASSWORD', 'PROPEL_REDIS_TLS', 'PROPEL_REDIS_TLS_CA_FILE', 'PROPEL_WORKER_ID', 'PROPEL_SWEEPER_ID', 'PROPEL_SWEEPER_ROLES', 'PROPEL_INGEST_ROUTES', 'PROPEL_METRICS_TOKEN', 'PROPEL_NOTIFIER_ROUTES'];

export interface ChaosOptions {
  mode?: 'single' | 'cluster';
  profile?: 'smoke' | 'full';
  seed?: number;
  /** Overrides of the profile. */
  referrals?: number;
  loadSeconds?: number;
  httpShare?: number;
  faults?: Partial<Record<FaultKind, number>>;
  drainTimeoutMs?: number;
  /** Task-center users (0 is not an override: use the profile's). */
  taskUsers?: number;
  workers?: number;
  sweepers?: number;
  /** Where each app's output is written (`<name>.log`); none by default. */
  logDir?: string;
  /** Progress lines go here (default: stdout with the seconds since start). */
  log?: (line: string) => void;
  /** Echo the apps' warnings and errors. */
  verbose?: boolean;
}

/** Called on Ctrl-C: kills every process the runs in this process started. */
const emergency = new Set<() => void>();
export function emergencyStop(): void {
  for (const stop of emergency) stop();
  killAllRedis();
}

/**
 * One chaos run: starts its own Redis (one server with AOF `appendfsync always`, or a 3 + 3 node cluster), the
 * gateway, the workers (with downstream faults), the sweepers and the notifier as OS processes, drives
 * referrals through the gateway and the ingest stream while faults are injected on a seeded schedule, waits
 * until every application is terminal or in manual intervention (retrying those from ops), then checks every
 * invariant against Redis. Never throws for a broken invariant: the summary says what held.
 */
export async function runChaos(options: ChaosOptions = {}): Promise<ChaosSummary> {
  const mode = options.mode ?? 'single';
  const profileName = options.profile ?? 'full';
  const base = PROFILES[profileName][mode];
  const profile: ChaosProfile = {
    ...base,
    ...(options.referrals ? { referrals: options.referrals } : {}),
    ...(options.loadSeconds ? { loadSeconds: options.loadSeconds } : {}),
    ...(options.httpShare !== undefined ? { httpShare: options.httpShare } : {}),
    ...(options.faults ? { faults: options.faults } : {}),
    ...(options.drainTimeoutMs ? { drainTimeoutMs: options.drainTimeoutMs } : {}),
    ...(options.taskUsers ? { taskUsers: options.taskUsers } : {}),
  };
  const seed = options.seed ?? randomSeed();
  const rng = new Rng(seed);
  const t0 = Date.now();
  const log = options.log ?? ((line: string) => process.stdout.write(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${line}\n`));
  const workers = options.workers ?? 3;
  const sweepers = options.sweepers ?? 2;
  const ns = `chaos${seed.toString(36)}${mode === 'cluster' ? 'c' : 's'}`.slice(0, 32);
  const activityId = `chaos-${seed}`;
  const keys = new Keys(ns);
  const partitions = Number(RUNTIME_ENV.PROPEL_PARTITIONS);
  // Fewer units than referrals (each wants two, sharer and invitee): the budget runs out about 40% into the run.
  const budgetLimit = Math.round(profile.referrals * 0.8);
  const failures: string[] = [];
  log(`chaos ${profileName} run on ${mode === 'cluster' ? 'a Redis Cluster (3 masters + 3 replicas)' : 'one Redis'}: seed ${seed} (replay with --seed ${seed}), ${fmt(profile.referrals)} referrals and ${fmt(profile.taskUsers)} task users (5 receipts each) over ${profile.loadSeconds} s, budget ${fmt(budgetLimit)}`);

  let redis: ChaosRedis | undefined;
  let conn: RedisClient | undefined;
  let fleet: Fleet | undefined;
  const webhook = new ChaosWebhook(rng.fork('webhook'), profile.webhookFailRate);
  // The merchant's endpoint the reward flows' webhook step POSTs to: it fails a share of requests too.
  const merchantWebhook = new ChaosWebhook(rng.fork('merchant-webhook'), profile.merchantWebhookFailRate);
  const stopAll = () => {
    fleet?.killAll();
    killAllRedis();
  };
  emergency.add(stopAll);
  const summary: ChaosSummary = {
    ok: false,
    mode,
    profile: profileName,
    seed,
    startedAt: new Date(t0).toISOString(),
    durationMs: 0,
    namespace: ns,
    activityId,
    partitions,
    budgetLimit,
    settings: {
      workers,
      sweepers,
      ...profile,
      ingestSettings: INGEST_SETTINGS,
      taskRewardPolicy: TASK_REWARD_POLICY,
      runtime: RUNTIME_ENV,
      redis: mode === 'cluster' ? '3 masters + 3 replicas, appendonly yes, appendfsync always, cluster-node-timeout 2000' : 'appendonly yes, appendfsync always',
    },
    load: undefined as never,
    faults: { planned: [], events: [], byKind: {} as Record<FaultKind, number>, appCrashes: [], callFailures: {}, webhook: webhook.stats },
    drain: { ms: 0, rounds: [], settled: false, unfinished: {} },
    outcomes: {},
    tasks: undefined,
    invariants: [],
    deadLetters: { total: 0, bySource: {} },
    budget: { limit: budgetLimit, used: 0 },
    failures,
  };
  let driver: LoadDriver | undefined;
  let tasks: TaskLoadDriver | undefined;
  let injector: FaultInjector | undefined;
  try {
    // ---- Redis, the webhook, the apps
    redis = mode === 'cluster' ? await ChaosCluster.start() : await SingleRedis.start();
    log(`redis: ${redis.describe()} (AOF appendfsync always)`);
    conn = redis.connect('chaos-driver');
    await webhook.start();
    await merchantWebhook.start();
    // The task definitions and reward flows, in the configuration center before any app starts (every cache loads them).
    await defineTasks(conn, ns, merchantWebhook.url);
    const gatewayPort = await freePort();
    const token = randomBytes(16).toString('hex');
    const baseEnv: Record<string, string> = {
      ...Object.fromEntries(BLANKED.map((k) => [k, ''])),
      ...RUNTIME_ENV,
      ...redis.env,
      PROPEL_NAMESPACE: ns,
    };
    fleet = new Fleet(baseEnv, { log, logDir: options.logDir, echo: options.verbose });
    fleet.add('gateway', 'gateway', { PORT: String(gatewayPort), PROPEL_ADMIN_TOKEN: token, PROPEL_RATE_LIMIT_PER_MINUTE: '0', PROPEL_PUBLIC_URL: `http://127.0.0.1:${gatewayPort}` });
    const faultEnv = {
      PROPEL_FAULT_ACTIVITY_FAIL_RATE: String(profile.activityFailRate),
      PROPEL_FAULT_ACTIVITY_LOST_REPLY_RATE: String(profile.activityLostReplyRate),
      PROPEL_FAULT_ACTIVITY_DELAY_MS: String(profile.activityDelayMs),
    };
    for (let i = 1; i <= workers; i++) fleet.add(`worker-${i}`, 'worker', faultEnv);
    for (let i = 1; i <= sweepers; i++) fleet.add(`sweeper-${i}`, 'sweeper');
    fleet.add('notifier', 'notifier', { PROPEL_NOTIFIER_CHANNELS: 'webhook', PROPEL_NOTIFIER_WEBHOOK_URL: webhook.url, PROPEL_NOTIFIER_WEBHOOK_TIMEOUT_MS: '2000', PROPEL_NOTIFIER_CLAIM_IDLE_MS: '15000' });
    log(`starting ${fleet.names().join(', ')} (activity faults: fail ${profile.activityFailRate}, lost reply ${profile.activityLostReplyRate}, delay ${profile.activityDelayMs} ms; webhook fails ${profile.webhookFailRate})`);
    const starting = setInterval(() => {
      const names = fleet!.names();
      const ready = names.filter((n) => fleet!.readyOf(n) !== undefined);
      log(`starting: ${ready.length}/${names.length} apps ready${ready.length < names.length ? ` (waiting for ${names.filter((n) => !ready.includes(n)).join(', ')})` : ''}`);
    }, 3_000);
    await fleet.startAll().finally(() => clearInterval(starting));
    const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
    log(`apps ready; gateway ${gatewayUrl}`);

    // ---- the activity, with its finite budget
    const define = await requestWithRetry(new HttpTally(), 'define', () => gatewayUrl, 'PUT', `/admin/activities/${activityId}`, { timeZone: 'UTC', budget: { total: budgetLimit }, prize: { kind: 'points', amount: 10 } }, { authorization: `Bearer ${token}` });
    if (!define || define.status !== 200) throw new Error(`could not define the activity: ${define ? `${define.status} ${JSON.stringify(define.body)}` : 'no answer'}`);

    // ---- load and faults
    const loadOpts: LoadOptions = {
      referrals: profile.referrals,
      seconds: profile.loadSeconds,
      httpShare: profile.httpShare,
      duplicateShare: 0.12,
      otherEventShare: 0.03,
      sameDeviceShare: 0.02,
      ingestDuplicateShare: 0.05,
      settings: INGEST_SETTINGS,
      httpConcurrency: 16,
    };
    driver = new LoadDriver({ redis: conn, keys, partitions, activityId, gateway: () => gatewayUrl, rng: rng.fork('load'), log }, loadOpts, STUCK_AFTER_MS);
    const taskOpts: TaskLoadOptions = { users: profile.taskUsers, seconds: profile.loadSeconds, httpShare: profile.taskHttpShare, claimShare: profile.claimShare, redeliverShare: 0.1, writeTwiceShare: 0.05 };
    tasks = new TaskLoadDriver({ redis: conn, keys, partitions, gateway: () => gatewayUrl, rng: rng.fork('tasks'), log }, taskOpts, STUCK_AFTER_MS);
    injector = new FaultInjector(fleet, redis, rng.fork('faults'), log);
    const plan = planFaults(rng.fork('schedule'), profile.loadSeconds * 1000, profile.faults);
    summary.faults.planned = plan;
    log(`fault schedule (s into the load): ${plan.map((p) => `${(p.at / 1000).toFixed(1)} ${p.kind}`).join(', ')}`);
    const loadStart = Date.now();
    const progress = setInterval(() => {
      const c = driver!.counts();
      log(
        `load: accepts ${fmt(c.accepted)}/${fmt(c.planned)} acknowledged, completions ${fmt(c.completionsAcked)}, HTTP ${fmt(c.http.requests)} (${fmt(c.http.retries)} retries), ingest ${fmt(c.ingestEntries)}; ` +
          `statuses ${JSON.stringify(driver!.histogram())}; tasks: receipts ${fmt(tasks!.counts().deliveriesAcked)}/${fmt(tasks!.counts().deliveries)} acknowledged, statuses ${JSON.stringify(tasks!.histogram())}; faults done ${injector!.events.length}/${plan.length}; app crashes ${fleet!.crashes.length}`,
      );
    }, 3_000);
    driver.startPump();
    tasks.startPump();
    let loadDone = false;
    try {
      const load = Promise.all([driver.runAccepts(), tasks.run()]).finally(() => (loadDone = true));
      await Promise.all([load, injector.run(plan, loadStart, () => false)]);
    } finally {
      clearInterval(progress);
    }
    log(`load: done after ${((Date.now() - loadStart) / 1000).toFixed(1)} s (${loadDone ? 'all accepts sent' : 'stopped'}); ${injector.events.length} faults injected`);

    // ---- drain: every application and task terminal or in manual intervention, notifications settled; manual ones retried from ops
    const drainStart = Date.now();
    const deadline = drainStart + profile.drainTimeoutMs;
    await fleet.waitAllUp(60_000).catch((err) => log(`drain: ${(err as Error).message}`));
    for (;;) {
      // The applications first: the ops retries do not wait for the notifications.
      const settled = await waitSettled(conn, keys, partitions, driver, tasks, deadline, log, false);
      summary.drain.settled = settled;
      const manualApps = driver.referrals.filter((r) => r.accepted && r.status === 'MANUAL_INTERVENTION').length;
      const manualTasks = tasks.manual().length;
      const manual = manualApps + manualTasks;
      if (!settled || manual === 0 || summary.drain.rounds.length >= 4) break;
      const t = Date.now();
      log(`drain: ${manualApps} applications and ${manualTasks} tasks in manual intervention: npm run ops -- manual retry --all`);
      const retried = await opsRetryAll({ ...process.env, ...baseEnv, PROPEL_OPERATOR: 'chaos' });
      summary.drain.rounds.push({ manualBefore: manual, manualByType: { referral: manualApps, task: manualTasks }, retried: retried.retried, retriedByType: retried.byType, refused: retried.refused, waitedMs: Date.now() - t });
      log(`drain: ops retried ${retried.retried} (${JSON.stringify(retried.byType)}), refused ${retried.refused}${retried.error ? ` (${retried.error})` : ''}`);
      await sleep(1_000);
    }
    // Then the streams: every outbox relayed, the notifier with nothing pending.
    if (summary.drain.settled) summary.drain.settled = await waitSettled(conn, keys, partitions, driver, tasks, deadline, log, true);
    summary.drain.ms = Date.now() - drainStart;
    summary.drain.unfinished = Object.fromEntries([
      ...Object.entries(driver.histogram()).filter(([s]) => !isFinal(s)),
      ...tasks.unfinished().reduce((m, t) => m.set(`task ${t.status ?? 'unknown'}`, (m.get(`task ${t.status ?? 'unknown'}`) ?? 0) + 1), new Map<string, number>()),
    ]);
    await driver.stopPump();
    await tasks.stopPump();
    log(`drain: ${summary.drain.settled ? 'settled' : 'NOT settled'} after ${(summary.drain.ms / 1000).toFixed(1)} s; statuses ${JSON.stringify(driver.histogram())}; tasks ${JSON.stringify(tasks.histogram())}`);

    // ---- checks
    log('checks: reading the applications, tasks, ledgers, balances, budget, indexes, audit and dead-letter streams');
    const report = await checkInvariants({
      redis: conn,
      keys,
      partitions,
      activityId,
      referrals: driver.referrals,
      webhookDelivered: webhook.delivered,
      stuckAfterMs: STUCK_AFTER_MS,
      crashLoops: fleet.gaveUp(),
      progress: driver.progress,
      trace: log,
      tasks: tasks.tasks,
      taskProgress: tasks.progress,
      taskLoad: tasks.counts(),
      merchantWebhookDelivered: merchantWebhook.delivered,
    });
    summary.invariants = report.invariants;
    summary.outcomes = report.outcomes;
    summary.deadLetters = report.deadLetters;
    summary.budget = report.budget;
    summary.faults.callFailures = report.callFailures;
    summary.tasks = { load: tasks.counts(), outcomes: report.taskOutcomes, callFailures: report.taskCallFailures, callFailureExamples: report.taskCallFailureExamples, merchantWebhook: merchantWebhook.stats };
  } catch (err) {
    failures.push((err as Error).stack ?? String(err));
    log(`FAILED: ${(err as Error).message}`);
    if (fleet) for (const name of fleet.names()) if (!fleet.running(name)) log(`  ${name} is down; its last lines:\n${fleet.tail(name, 10)}`);
  } finally {
    await driver?.stopPump().catch(() => undefined);
    await tasks?.stopPump().catch(() => undefined);
    summary.load = driver?.counts() ?? ({} as never);
    if (tasks && !summary.tasks) summary.tasks = { load: tasks.counts(), outcomes: {}, callFailures: {}, merchantWebhook: merchantWebhook.stats };
    summary.faults.events = injector?.events ?? [];
    summary.faults.byKind = injector?.counts() ?? ({} as Record<FaultKind, number>);
    summary.faults.appCrashes = (fleet?.crashes ?? []).map(({ tail, ...c }) => ({ ...c, lastLine: tail.split('\n').filter(Boolean).pop()?.trim() ?? '' }));
    const exits: Record<string, { code: number | null; signal: NodeJS.Signals | null } | undefined> = (await fleet?.stopAll().catch(() => undefined)) ?? {};
    const unclean = Object.entries(exits).filter(([, e]) => e && e.code !== 0);
    if (unclean.length) log(`shutdown: ${unclean.map(([n, e]) => `${n} exited ${JSON.stringify(e)}`).join(', ')}`);
    await webhook.stop().catch(() => undefined);
    await merchantWebhook.stop().catch(() => undefined);
    conn?.disconnect();
    await redis?.destroy().catch(() => undefined);
    emergency.delete(stopAll);
  }
  summary.durationMs = Date.now() - t0;
  summary.ok = failures.length === 0 && summary.invariants.length > 0 && summary.invariants.every((i) => i.ok);
  return summary;
}

/**
 * Waits (until `deadline`) for the end state: every accepted application terminal or in manual intervention,
 * the outboxes relayed and the notifier's group with nothing pending. A progress line every 3 s.
 */
async function waitSettled(redis: RedisClient, keys: Keys, partitions: number, driver: LoadDriver, tasks: TaskLoadDriver, deadline: number, log: (line: string) => void, streams: boolean): Promise<boolean> {
  let lastLine = 0;
  for (;;) {
    let notifications = -1;
    let outbox = -1;
    try {
      await Promise.all([driver.pumpOnce(), tasks.pumpOnce()]);
      [notifications, outbox] = await Promise.all([notificationBacklog(redis, keys), outboxBacklog(redis, keys, partitions)]);
    } catch (err) {
      log(`drain: poll failed (${(err as Error).message}); retrying`);
    }
    const open = driver.unfinished();
    const openTasks = tasks.unfinished();
    if (open.length === 0 && openTasks.length === 0 && (!streams || (notifications === 0 && outbox === 0))) return true;
    if (Date.now() - lastLine >= 3_000) {
      lastLine = Date.now();
      const waiting: Record<string, number> = {};
      for (const r of open) waiting[r.status ?? 'unknown'] = (waiting[r.status ?? 'unknown'] ?? 0) + 1;
      const h = driver.histogram();
      const final = Object.entries(h).filter(([s]) => isFinal(s)).reduce((n, [, v]) => n + v, 0);
      const examples = [...open.slice(0, 3).map((r) => `${r.app} (${r.path})`), ...openTasks.slice(0, 2).map((t) => `task ${t.taskId} (${t.status})`)].join(', ');
      const touched = tasks.touched().length;
      log(
        `drain: ${fmt(final)}/${fmt(driver.referrals.filter((r) => r.accepted).length)} applications final (manual ${fmt(h.MANUAL_INTERVENTION ?? 0)}); ` +
          `${fmt(touched - openTasks.length)}/${fmt(touched)} tasks final (manual ${fmt(tasks.manual().length)}); waiting ${JSON.stringify(waiting)}${openTasks.length ? `, ${openTasks.length} tasks` : ''}${examples ? ` e.g. ${examples}` : ''}; notifications backlog ${notifications}, outbox ${outbox}; ${Math.round((deadline - Date.now()) / 1000)} s left`,
      );
    }
    if (Date.now() > deadline) {
      log(
        `drain: gave up waiting: ${open.length} applications and ${openTasks.length} tasks not final${open.length + openTasks.length ? ` (e.g. ${[...open.slice(0, 5).map((r) => `${r.app} ${r.status}`), ...openTasks.slice(0, 5).map((t) => `task ${t.taskId} ${t.status}`)].join(', ')})` : ''}; notifications backlog ${notifications}, outbox ${outbox}`,
      );
      return false;
    }
    await sleep(500);
  }
}

/** Notifications not yet settled: the notifier group's lag (entries after its last delivered id) plus pending. */
async function notificationBacklog(redis: RedisClient, keys: Keys): Promise<number> {
  const stream = new NotifierKeys(keys.ns).stream();
  const groups = await redis.xinfo('GROUPS', stream).catch((err: Error) => {
    if (/no such key/i.test(err.message)) return [];
    throw err;
  });
  const g = groupOf(groups, NOTIFIER_GROUP);
  if (!g) return (await redis.xlen(stream)) > 0 ? 1 : 0;
  const after = await redis.xrange(stream, `(${g.lastDeliveredId}`, '+', 'COUNT', 1000);
  return after.length + g.pending;
}

/** Outbox entries not yet relayed, over every partition (the relay deletes what it relayed). */
async function outboxBacklog(redis: RedisClient, keys: Keys, partitions: number): Promise<number> {
  // One round trip's wait for all partitions (each outbox its own slot on a cluster), not one per partition.
  const lengths = await Promise.all(Array.from({ length: partitions }, (_, p) => redis.xlen(keys.outbox(p))));
  return lengths.reduce((n, len) => n + len, 0);
}

/** `ops manual retry --all --json` through the real CLI, as an operator would run it. */
function opsRetryAll(env: NodeJS.ProcessEnv): Promise<{ retried: number; refused: number; byType: Record<string, number>; error?: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['-r', join(ROOT, 'scripts', 'register.js'), join(ROOT, 'apps', 'ops', 'main.ts'), 'manual', 'retry', '--all', '--json'], { cwd: ROOT, env, timeout: 180_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      try {
        const results = JSON.parse(stdout) as Array<{ actor?: string; result?: { rejected: unknown }; error?: unknown }>;
        const done = results.filter((r) => r.result && !r.result.rejected);
        const byType: Record<string, number> = {};
        for (const r of done) {
          const type = r.actor?.split('/')[0] ?? '?';
          byType[type] = (byType[type] ?? 0) + 1;
        }
        resolve({ retried: done.length, refused: results.length - done.length, byType });
      } catch {
        resolve({ retried: 0, refused: 0, byType: {}, error: `ops exited ${err ? (err as { code?: unknown }).code : 0}: ${(stderr || stdout).trim().split('\n').slice(-3).join(' ')}` });
      }
    });
  });
}

