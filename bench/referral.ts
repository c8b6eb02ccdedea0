/**
 * Referral benchmark: whole referral lifecycles (accept → relation → TaskCompleted → both rewards in
 * parallel → terminal) through real worker processes (apps/worker: the referral actor and the activity
 * component) on a private redis-server (AOF, fsync everysec), first without the gateway (messages appended
 * to the partition inboxes with RedisStreamsClient.tell), then through the HTTP gateway (apps/gateway).
 *
 *   node -r ./scripts/register.js bench/referral.ts [--referrals N] [--rate R --seconds S]
 *        [--http-referrals N] [--http-rate R --http-seconds S] [--concurrency C] [--workers W]
 *        [--phases saturation,latency,http,http-latency] [--warmup N] [--quick] [--quiet-wait=false]
 *        [--cpu-prof] [--node-args "<flags for the worker and gateway processes>"] [--verbose]
 *
 * Per path it reports referrals/s at saturation (all N accepted, relations awaited, all N tasks completed,
 * timed from the first accept sent to the last terminal turn committed) and, at a fixed offered rate of
 * TaskCompleted to applications whose relation is already established, the latency from sending the
 * TaskCompleted to the commit of the terminal turn (the Redis time in the audit stream entry's id).
 *
 * Exits non-zero only when something failed (a phase threw, a correctness check did not match), never
 * because a target was missed.
 */
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { actorAddress, assignedPartitions, createRedis, Keys, partitionOf, RedisActorStore, RedisStreamsClient } from '../common';
import type { RedisClient } from '../common';
import { NOTIFICATION_STREAM, REFERRAL_TERMINAL_STATUSES, referralActor } from '../actors';
import type { ReferralState } from '../actors';
import { ActivityComponent, ActivityKeys } from '../apps/worker/components/activity';
import { RedisProcess, startRedisServer } from '../test/harness/redis-server';
import { keepAliveAgent, request as requestOn } from './lib/http';
import type { Answer } from './lib/http';
import { connect, readAudit } from './lib/propel';
import { Bar, barChart, latencyChart, Part, svgDocument } from './lib/svg';
import { every, failureList, fmtInt, fmtMs, freshNamespace, log, machine, machineLine, parseArgs, quantile, renderTable, reportFailures, saveResults, sleep, warn } from './lib/util';
import { allReady, killTracked, runBench, spawnApp, stopOnSignal, track, WorkerProcess } from './lib/workers';
import { commandStats, cpuPercent, cpuSnapshot as cpuSnapshotOf, fmtCpu, waitQuiet as waitQuietFor } from './lib/cpu';

const P = 16;
const TARGET_RATE = 3_000;
const TARGET_P99_MS = 25;
const TARGET_AT_RATE = 1_000;
const STALL_MS = 30_000;
const PRIZE = { kind: 'points' as const, amount: 10 };

const args = parseArgs(process.argv.slice(2), {
  referrals: 0,
  rate: 0,
  seconds: 0,
  httpReferrals: 0,
  httpRate: 0,
  httpSeconds: 0,
  concurrency: 64,
  workers: 2,
  warmup: 0,
  phases: 'saturation,latency,http,http-latency',
  quick: false,
  quietWait: true,
  cpuProf: false,
  nodeArgs: '',
  verbose: false,
});
const N = args.referrals || (args.quick ? 2_000 : 20_000);
const RATE = args.rate || (args.quick ? 500 : TARGET_AT_RATE);
const SECONDS = args.seconds || (args.quick ? 3 : 10);
const HTTP_N = args.httpReferrals || (args.quick ? 500 : 5_000);
const HTTP_RATE = args.httpRate || (args.quick ? 200 : 500);
const HTTP_SECONDS = args.httpSeconds || (args.quick ? 3 : 10);
const CONCURRENCY = Math.max(1, Math.round(args.concurrency));
const WORKERS = Math.max(1, Math.round(args.workers));
const WARMUP = args.warmup || Math.min(1_000, Math.max(50, Math.round(N / 20)));
const PHASES = new Set(args.phases.split(',').map((s) => s.trim()).filter(Boolean));
for (const p of PHASES) if (!['saturation', 'latency', 'http', 'http-latency'].includes(p)) throw new Error(`unknown phase ${p} (known: saturation, latency, http, http-latency)`);
/** In-flight HTTP requests at most during the fixed-rate HTTP phase (an open loop, but not an unbounded one). */
const HTTP_MAX_IN_FLIGHT = 1_000;
/** How long a phase waits at most for other processes to calm down before it starts. */
const QUIET_WAIT_MS = 120_000;

const { failures, fail } = failureList();

// ---------------------------------------------------------------------------------------------------------
// The referrals of one phase: one activity, sharer s<k> invites invitee i<k>, application `${activity}:i<k>`.
// ---------------------------------------------------------------------------------------------------------
interface Plan {
  activityId: string;
  count: number;
  apps: string[];
  sharers: string[];
  invitees: string[];
  partition: Int32Array;
  /** actor address (`referral/<app>`) → index. */
  index: Map<string, number>;
  /** ms since the epoch: when the Accept (HTTP: the share request) and the TaskCompleted were sent. */
  acceptSent: Float64Array;
  taskSent: Float64Array;
  /** ms since the epoch: commit times of the turns, from the audit stream entry ids (Redis time). */
  relationAt: Float64Array;
  taskAt: Float64Array;
  terminalAt: Float64Array;
  terminalStatus: Array<string | undefined>;
  /** Audit records of this plan's applications (turns committed). */
  turns: number;
}

function makePlan(activityId: string, count: number): Plan {
  const apps: string[] = new Array(count);
  const sharers: string[] = new Array(count);
  const invitees: string[] = new Array(count);
  const partition = new Int32Array(count);
  const index = new Map<string, number>();
  for (let k = 0; k < count; k++) {
    sharers[k] = `s${k}`;
    invitees[k] = `i${k}`;
    apps[k] = `${activityId}:i${k}`;
    const ref = { type: referralActor.type, id: apps[k] };
    partition[k] = partitionOf(ref, P);
    index.set(actorAddress(ref), k);
  }
  const nan = () => new Float64Array(count).fill(NaN);
  return { activityId, count, apps, sharers, invitees, partition, index, acceptSent: nan(), taskSent: nan(), relationAt: nan(), taskAt: nan(), terminalAt: nan(), terminalStatus: new Array(count), turns: 0 };
}

/** Reads the audit streams from `fromMs` on and fills in the plan's commit times. */
async function collectTimes(redis: Redis, keys: Keys, plan: Plan, fromMs: number): Promise<void> {
  plan.turns = 0;
  await readAudit(
    redis,
    keys,
    P,
    (r, committedMs) => {
      const k = plan.index.get(r.actor);
      if (k === undefined) return;
      plan.turns++;
      if (r.from === r.to) return;
      if (r.to === 'RELATION_ESTABLISHED') plan.relationAt[k] = committedMs;
      else if (r.to === 'TASK_COMPLETED') plan.taskAt[k] = committedMs;
      else if (REFERRAL_TERMINAL_STATUSES.has(r.to as ReferralState['status'])) {
        plan.terminalAt[k] = committedMs;
        plan.terminalStatus[k] = r.to;
      }
    },
    fromMs - 1_000,
  );
}

const minOf = (a: Float64Array) => a.reduce((m, v) => (v < m ? v : m), Infinity);
const maxOf = (a: Float64Array) => a.reduce((m, v) => (v > m ? v : m), -Infinity);
const countOf = (a: Float64Array) => a.reduce((n, v) => (Number.isNaN(v) ? n : n + 1), 0);

/** Sorted differences b[k] − a[k] where both are known. */
function diffs(a: Float64Array, b: Float64Array): number[] {
  const out: number[] = [];
  for (let k = 0; k < a.length; k++) if (!Number.isNaN(a[k]) && !Number.isNaN(b[k])) out.push(b[k] - a[k]);
  return out.sort((x, y) => x - y);
}

interface Percentiles {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}
function percentiles(sorted: number[]): Percentiles {
  const r = (v: number) => Math.round(v * 10) / 10;
  return { n: sorted.length, p50: r(quantile(sorted, 0.5)), p90: r(quantile(sorted, 0.9)), p99: r(quantile(sorted, 0.99)), max: sorted.length ? r(sorted[sorted.length - 1]) : NaN };
}
const fmtP = (p: Percentiles) => `p50 ${fmtMs(p.p50)}, p90 ${fmtMs(p.p90)}, p99 ${fmtMs(p.p99)}, max ${fmtMs(p.max)} (${fmtInt(p.n)})`;

/** The processes whose CPU a phase reports (100% = one core), by name. */
interface Procs {
  redis: RedisProcess;
  workers: WorkerProcess[];
  gateway?: WorkerProcess;
}
const pidsOf = (procs: Procs): Record<string, number | undefined> => ({
  redis: procs.redis.process.pid,
  ...Object.fromEntries(procs.workers.map((w) => [w.label, w.child.pid])),
  ...(procs.gateway ? { gateway: procs.gateway.child.pid } : {}),
});
const cpuSnapshot = (procs: Procs) => cpuSnapshotOf(pidsOf(procs));

/** Other processes used this much of a core during a phase: its numbers say more about them than about Propel. */
const NOISY_OTHER_PERCENT = 25;
const noisy = (c: Record<string, number>) => (c.other ?? 0) >= NOISY_OTHER_PERCENT;
function noteNoise(tag: string, c: Record<string, number>): void {
  if (noisy(c)) warn(`${tag}: NOTE other processes used ${c.other}% of a core during this phase: its numbers are not representative of Propel on this machine`);
}

/** Waits (at most QUIET_WAIT_MS; --quiet-wait=false: not at all) for other processes to use under 10% of a core. */
async function waitQuiet(procs: Procs, what: string): Promise<void> {
  if (args.quietWait) await waitQuietFor(what, () => pidsOf(procs), { maxWaitMs: QUIET_WAIT_MS });
}

/** Per referral: calls and µs of the commands Redis spent the most time in between two snapshots. */
function commandsPerReferral(a: Map<string, { calls: number; usec: number }>, b: Map<string, { calls: number; usec: number }>, referrals: number, top = 8): Record<string, { calls: number; usec: number }> {
  const rows = [...b].map(([cmd, v]) => ({ cmd, calls: v.calls - (a.get(cmd)?.calls ?? 0), usec: v.usec - (a.get(cmd)?.usec ?? 0) }));
  rows.sort((x, y) => y.usec - x.usec);
  const round = (n: number) => Math.round(n * 100) / 100;
  return Object.fromEntries(rows.slice(0, top).filter((r) => r.calls > 0).map((r) => [r.cmd, { calls: round(r.calls / referrals), usec: round(r.usec / referrals) }]));
}

// ---------------------------------------------------------------------------------------------------------
// Shared context: Redis, the worker processes, a streams client, the activity component.
// ---------------------------------------------------------------------------------------------------------
interface Ctx {
  url: string;
  keys: Keys;
  redis: Redis;
  client: RedisStreamsClient;
  activity: ActivityComponent;
  activityKeys: ActivityKeys;
  procs: Procs;
}

function isAlive(ctx: Ctx): string | undefined {
  for (const w of [...ctx.procs.workers, ...(ctx.procs.gateway ? [ctx.procs.gateway] : [])]) {
    const e = w.exitInfo();
    if (e) return `${w.label} exited (${JSON.stringify(e)}):\n${w.tail()}`;
  }
  return undefined;
}

/** Entries in the notifications stream: one REFERRAL_TASK_ASSIGNED per relation, one REFERRAL_REWARDED per granted side. */
const notifications = (ctx: Ctx) => ctx.redis.xlen(ctx.keys.named(NOTIFICATION_STREAM));

/** Statuses of a plan's applications (for a stall report and the final check). */
async function statuses(ctx: Ctx, plan: Plan): Promise<{ histogram: Record<string, number>; records: Array<{ status: string; state: ReferralState } | null> }> {
  const store = new RedisActorStore(ctx.redis as unknown as RedisClient, ctx.keys);
  const byPartition = new Map<number, number[]>();
  for (let k = 0; k < plan.count; k++) {
    let list = byPartition.get(plan.partition[k]);
    if (!list) byPartition.set(plan.partition[k], (list = []));
    list.push(k);
  }
  const records: Array<{ status: string; state: ReferralState } | null> = new Array(plan.count).fill(null);
  for (const [p, ks] of byPartition) {
    for (let base = 0; base < ks.length; base += 2_000) {
      const slice = ks.slice(base, base + 2_000);
      const loaded = await store.loadMany(p, slice.map((k) => ({ type: referralActor.type, id: plan.apps[k] })));
      loaded.forEach((r, j) => (records[slice[j]] = r ? { status: r.status, state: r.state as ReferralState } : null));
    }
  }
  const histogram: Record<string, number> = {};
  for (const r of records) {
    const s = r?.status ?? 'missing';
    histogram[s] = (histogram[s] ?? 0) + 1;
  }
  return { histogram, records };
}

/**
 * Waits until `progress()` reaches `goal`; logs once a second; fails when nothing moved for STALL_MS (with
 * the plan's statuses) or a process died.
 */
async function waitUntil(ctx: Ctx, plan: Plan, what: string, goal: number, progress: () => Promise<number>, line: (n: number) => string): Promise<void> {
  let last = -1;
  let lastChange = Date.now();
  let lastReport = Date.now();
  for (;;) {
    const n = await progress();
    if (n >= goal) return;
    const now = Date.now();
    if (n !== last) {
      last = n;
      lastChange = now;
    } else if (now - lastChange > STALL_MS) {
      const { histogram } = await statuses(ctx, plan);
      throw new Error(`${what}: no progress for ${STALL_MS / 1000} s at ${n}/${goal}; application statuses ${JSON.stringify(histogram)}`);
    }
    const dead = isAlive(ctx);
    if (dead) throw new Error(dead);
    if (now - lastReport >= 1_000) {
      lastReport = now;
      log(line(n));
    }
    await sleep(10);
  }
}

async function defineActivity(ctx: Ctx, activityId: string, referrals: number): Promise<void> {
  // A budget far larger than the run needs: every side of every referral is granted.
  await ctx.activity.define({ id: activityId, timeZone: 'UTC', budget: { total: Math.max(1_000, 10 * 2 * referrals) }, prize: PRIZE });
}

// ---------------------------------------------------------------------------------------------------------
// Gateway-free: Accept and TaskCompleted told straight to the application's partition inbox.
// ---------------------------------------------------------------------------------------------------------
const CHUNK = 1_000;

async function tellAccepts(ctx: Ctx, plan: Plan, progress?: (sent: number) => void): Promise<void> {
  for (let base = 0; base < plan.count; base += CHUNK) {
    const end = Math.min(plan.count, base + CHUNK);
    const now = Date.now();
    const sends: Promise<string>[] = [];
    for (let k = base; k < end; k++) {
      plan.acceptSent[k] = now;
      sends.push(ctx.client.tell(referralActor, plan.apps[k], { type: 'Accept', activityId: plan.activityId, sharerId: plan.sharers[k], inviteeId: plan.invitees[k] }, `accept:${plan.apps[k]}`));
    }
    await Promise.all(sends);
    progress?.(end);
  }
}

function tellTask(ctx: Ctx, plan: Plan, k: number, now: number): Promise<string> {
  plan.taskSent[k] = now;
  return ctx.client.tell(referralActor, plan.apps[k], { type: 'TaskCompleted', occurredAt: now, eventId: `task-${k}` }, `task:${plan.apps[k]}`);
}

/** Accepts every application of the plan and waits until each relation is established. */
async function establish(ctx: Ctx, plan: Plan, tag: string, send: (progress: (n: number) => void) => Promise<void>): Promise<void> {
  const base = await notifications(ctx);
  let sent = 0;
  const sending = send((n) => (sent = n));
  let sendError: unknown;
  sending.catch((err) => (sendError = err));
  await waitUntil(
    ctx,
    plan,
    `${tag}: relations`,
    plan.count,
    async () => {
      if (sendError) throw sendError;
      return (await notifications(ctx)) - base;
    },
    (n) => `${tag}: accepts sent ${fmtInt(sent)}/${fmtInt(plan.count)}, relations established ${fmtInt(n)}/${fmtInt(plan.count)}`,
  );
  await sending;
}

/** Waits until both sides of every application are rewarded (two notifications each, counted from `base`). */
function awaitRewards(ctx: Ctx, plan: Plan, tag: string, base: number, sent: () => number, sendError: () => unknown = () => undefined): Promise<void> {
  return waitUntil(
    ctx,
    plan,
    `${tag}: rewards`,
    2 * plan.count,
    async () => {
      const err = sendError();
      if (err) throw err;
      return (await notifications(ctx)) - base;
    },
    (n) => `${tag}: tasks sent ${fmtInt(sent())}/${fmtInt(plan.count)}, rewards granted ${fmtInt(n)}/${fmtInt(2 * plan.count)}`,
  );
}

interface SaturationResult {
  path: 'direct' | 'http';
  referrals: number;
  concurrency?: number;
  /** First accept sent → last terminal turn committed. */
  lifecycleMs: number;
  lifecycleRate: number;
  /** First accept sent → last relation committed. */
  acceptPhaseMs: number;
  acceptPhaseRate: number;
  /** First TaskCompleted sent → last terminal turn committed. */
  rewardPhaseMs: number;
  rewardPhaseRate: number;
  /** Between the last relation and the first TaskCompleted sent (the bench noticing, not the system working). */
  idleGapMs: number;
  turns: number;
  turnsPerSecond: number;
  cpuPercent: Record<string, number>;
  /** Redis commands per referral (calls, µs), the costliest first; `evalsha` includes the commands its scripts run. */
  redisPerReferral?: Record<string, { calls: number; usec: number }>;
  /** HTTP only: response times per route. */
  responseMs?: Record<string, Percentiles>;
  requestsPerSecond?: number;
}

function saturationFrom(plan: Plan, path: 'direct' | 'http', cpu: Record<string, number>, extra: Partial<SaturationResult> = {}): SaturationResult {
  const first = minOf(plan.acceptSent);
  const lastRelation = maxOf(plan.relationAt);
  const firstTask = minOf(plan.taskSent);
  const lastTerminal = maxOf(plan.terminalAt);
  const lifecycleMs = lastTerminal - first;
  const acceptPhaseMs = lastRelation - first;
  const rewardPhaseMs = lastTerminal - firstTask;
  const rate = (ms: number) => (plan.count / ms) * 1000;
  return {
    path,
    referrals: plan.count,
    lifecycleMs,
    lifecycleRate: rate(lifecycleMs),
    acceptPhaseMs,
    acceptPhaseRate: rate(acceptPhaseMs),
    rewardPhaseMs,
    rewardPhaseRate: rate(rewardPhaseMs),
    idleGapMs: firstTask - lastRelation,
    turns: plan.turns,
    turnsPerSecond: (plan.turns / lifecycleMs) * 1000,
    cpuPercent: cpu,
    ...extra,
  };
}

function logSaturation(tag: string, r: SaturationResult): void {
  log(
    `${tag}: ${fmtInt(r.referrals)} lifecycles in ${(r.lifecycleMs / 1000).toFixed(2)} s → ${fmtInt(r.lifecycleRate)} referrals/s ` +
      `(accept phase ${fmtInt(r.acceptPhaseRate)}/s, reward phase ${fmtInt(r.rewardPhaseRate)}/s, ${fmtInt(r.turnsPerSecond)} turns/s; idle gap ${fmtMs(r.idleGapMs)})`,
  );
  log(`${tag}: CPU (100% = one core): ${fmtCpu(r.cpuPercent)}`);
  noteNoise(tag, r.cpuPercent);
}

async function directSaturation(ctx: Ctx, plan: Plan, tag = 'saturation'): Promise<SaturationResult> {
  await defineActivity(ctx, plan.activityId, plan.count);
  const stats0 = await commandStats(ctx.redis);
  const cpu0 = cpuSnapshot(ctx.procs);
  const startedMs = Date.now();
  log(`${tag}: START ${fmtInt(plan.count)} accepts (activity ${plan.activityId})`);
  await establish(ctx, plan, tag, (progress) => tellAccepts(ctx, plan, progress));
  const base = await notifications(ctx);
  let sent = 0;
  log(`${tag}: all relations established; sending ${fmtInt(plan.count)} TaskCompleted`);
  const sending = (async () => {
    for (let b = 0; b < plan.count; b += CHUNK) {
      const end = Math.min(plan.count, b + CHUNK);
      const now = Date.now();
      const sends: Promise<string>[] = [];
      for (let k = b; k < end; k++) sends.push(tellTask(ctx, plan, k, now));
      await Promise.all(sends);
      sent = end;
    }
  })();
  await awaitRewards(ctx, plan, tag, base, () => sent);
  await sending;
  const cpu = cpuPercent(cpu0, cpuSnapshot(ctx.procs));
  const redisPerReferral = commandsPerReferral(stats0, await commandStats(ctx.redis), plan.count);
  await collectTimes(ctx.redis, ctx.keys, plan, startedMs);
  const r = saturationFrom(plan, 'direct', cpu, { redisPerReferral });
  logSaturation(tag, r);
  log(`${tag}: Redis per referral (calls × µs, costliest first): ${Object.entries(redisPerReferral).map(([c, v]) => `${c} ${v.calls} × ${v.usec} µs`).join(', ')}`);
  return r;
}

interface LatencyResult {
  path: 'direct' | 'http';
  offeredRate: number;
  seconds: number;
  sent: number;
  achievedSendRate: number;
  /** TaskCompleted sent → terminal turn committed. */
  toTerminal: Percentiles;
  /** TaskCompleted sent → TASK_COMPLETED turn committed (queueing + the turn). */
  toTaskTurn: Percentiles;
  /** TASK_COMPLETED committed → terminal committed (both reward calls and their reply turns). */
  rewardStep: Percentiles;
  /** HTTP only: the 202 answer's time, and how many requests were in flight at most. */
  response?: Percentiles;
  maxInFlight?: number;
  cpuPercent: Record<string, number>;
}

let directSamples: number[] = [];
let httpSamples: number[] = [];

/** Offers `send(k, now)` at `rate` per second until `total` were sent (catching up in batches every ~2 ms). */
async function offer(rate: number, total: number, send: (k: number, now: number) => void | Promise<unknown>, tag: string, status: () => string): Promise<number> {
  let sent = 0;
  const started = performance.now();
  const stop = every(1_000, () => log(`${tag}: sent ${fmtInt(sent)}/${fmtInt(total)}${status()}`));
  try {
    while (sent < total) {
      const due = Math.min(total, Math.floor((rate * (performance.now() - started)) / 1000));
      if (due > sent) {
        const now = Date.now();
        const batch: Array<void | Promise<unknown>> = [];
        for (; sent < due; sent++) batch.push(send(sent, now));
        await Promise.all(batch);
      }
      await sleep(1);
    }
  } finally {
    stop();
  }
  return performance.now() - started;
}

function latencyFrom(plan: Plan, path: 'direct' | 'http', rate: number, seconds: number, sendMs: number, cpu: Record<string, number>, extra: Partial<LatencyResult> = {}): { result: LatencyResult; samples: number[] } {
  const samples = diffs(plan.taskSent, plan.terminalAt);
  return {
    samples,
    result: {
      path,
      offeredRate: rate,
      seconds,
      sent: plan.count,
      achievedSendRate: Math.round((plan.count / sendMs) * 1000),
      toTerminal: percentiles(samples),
      toTaskTurn: percentiles(diffs(plan.taskSent, plan.taskAt)),
      rewardStep: percentiles(diffs(plan.taskAt, plan.terminalAt)),
      cpuPercent: cpu,
      ...extra,
    },
  };
}

async function directLatency(ctx: Ctx, plan: Plan): Promise<LatencyResult> {
  const tag = 'latency';
  await defineActivity(ctx, plan.activityId, plan.count);
  const startedMs = Date.now();
  log(`latency: preparing ${fmtInt(plan.count)} applications with an established relation (activity ${plan.activityId})`);
  await establish(ctx, plan, tag, (progress) => tellAccepts(ctx, plan, progress));
  await sleep(1_000); // let the relation calls' leases and replies settle
  const base = await notifications(ctx);
  log(`latency: START offering ${fmtInt(RATE)} TaskCompleted/s for ${SECONDS} s`);
  const cpu0 = cpuSnapshot(ctx.procs);
  const sendMs = await offer(RATE, plan.count, (k, now) => tellTask(ctx, plan, k, now), tag, () => '');
  await awaitRewards(ctx, plan, tag, base, () => plan.count);
  const cpu = cpuPercent(cpu0, cpuSnapshot(ctx.procs));
  await collectTimes(ctx.redis, ctx.keys, plan, startedMs);
  const { result, samples } = latencyFrom(plan, 'direct', RATE, SECONDS, sendMs, cpu);
  directSamples = samples;
  log(`latency: TaskCompleted → terminal: ${fmtP(result.toTerminal)}`);
  log(`latency:   of which send → TASK_COMPLETED committed ${fmtP(result.toTaskTurn)}; → rewards and terminal ${fmtP(result.rewardStep)}`);
  log(`latency: CPU (100% = one core): ${fmtCpu(cpu)}`);
  noteNoise('latency', cpu);
  return result;
}

// ---------------------------------------------------------------------------------------------------------
// HTTP: the same lifecycle through the gateway process (node:http keep-alive connections, bounded concurrency).
// ---------------------------------------------------------------------------------------------------------
/** Keep-alive connections to the gateway, enough for the open-loop HTTP phase's requests in flight. */
const agent = keepAliveAgent(256);
const request = (base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => requestOn(agent, base, method, path, body, headers);

function expectStatus(what: string, a: Answer, status: number): void {
  if (a.status !== status) throw new Error(`${what}: HTTP ${a.status} (expected ${status}): ${JSON.stringify(a.body).slice(0, 300)}`);
}

/** Runs `fn(k)` for k in [0, n) with at most `concurrency` at a time. */
async function pool(n: number, concurrency: number, fn: (k: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: unknown;
  const lane = async () => {
    while (failed === undefined && next < n) {
      const k = next++;
      try {
        await fn(k);
      } catch (err) {
        failed ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, concurrency) }, lane));
  if (failed !== undefined) throw failed;
}

interface Gateway {
  proc: WorkerProcess;
  base: string;
  token: string;
}

async function startGateway(ctx: Ctx): Promise<Gateway> {
  const token = randomBytes(16).toString('hex');
  // The HTTP phases send thousands of requests from one address: the public routes' rate limit is off here.
  const env = { PROPEL_REDIS_URL: ctx.url, PROPEL_NAMESPACE: ctx.keys.ns, PROPEL_PARTITIONS: String(P), PROPEL_ADMIN_TOKEN: token, PORT: '0', PROPEL_RATE_LIMIT_PER_MINUTE: '0' };
  const proc = track(spawnApp('gateway', 'apps/gateway/main.ts', env, { echoWarnings: true, echoAll: args.verbose, nodeArgs: profArgs() }));
  const [ready] = (await allReady([proc])).ids;
  const port = /:(\d+)\/?$/.exec(ready)?.[1];
  if (!port) throw new Error(`cannot read the gateway's port from its ready line (${ready})`);
  const base = `http://127.0.0.1:${port}`;
  const health = await request(base, 'GET', '/health');
  expectStatus('GET /health', health, 200);
  log(`gateway ready on ${base}`);
  return { proc, base, token };
}

async function defineOverHttp(gw: Gateway, activityId: string, referrals: number): Promise<void> {
  const a = await request(gw.base, 'PUT', `/admin/activities/${activityId}`, { timeZone: 'UTC', budget: { total: Math.max(1_000, 10 * 2 * referrals) }, prize: PRIZE }, { authorization: `Bearer ${gw.token}` });
  expectStatus(`PUT /admin/activities/${activityId}`, a, 200);
}

const routeTimes = () => ({ share: [] as number[], accept: [] as number[], task: [] as number[] });

/** Share and accept over HTTP for every application of the plan; waits until each relation is established. */
async function establishOverHttp(ctx: Ctx, gw: Gateway, plan: Plan, tag: string, times: ReturnType<typeof routeTimes>): Promise<void> {
  await establish(ctx, plan, tag, async (progress) => {
    let done = 0;
    await pool(plan.count, CONCURRENCY, async (k) => {
      plan.acceptSent[k] = Date.now();
      const share = await request(gw.base, 'POST', `/activities/${plan.activityId}/shares`, { sharerId: plan.sharers[k] });
      expectStatus('POST /activities/:id/shares', share, 201);
      times.share.push(share.ms);
      const accept = await request(gw.base, 'POST', `/shares/${share.body.code}/accept`, { inviteeId: plan.invitees[k] });
      expectStatus('POST /shares/:code/accept', accept, 202);
      times.accept.push(accept.ms);
      progress(++done);
    });
  });
}

async function httpTask(gw: Gateway, plan: Plan, k: number, times: number[]): Promise<void> {
  plan.taskSent[k] = Date.now();
  const a = await request(gw.base, 'POST', `/applications/${encodeURIComponent(plan.apps[k])}/task-completed`, { eventId: `task-${k}` });
  expectStatus('POST /applications/:id/task-completed', a, 202);
  times.push(a.ms);
}

async function httpSaturation(ctx: Ctx, gw: Gateway, plan: Plan): Promise<SaturationResult> {
  const tag = 'http';
  await defineOverHttp(gw, plan.activityId, plan.count);
  const times = routeTimes();
  const cpu0 = cpuSnapshot(ctx.procs);
  const startedMs = Date.now();
  log(`http: START ${fmtInt(plan.count)} referrals, ${CONCURRENCY} requests in flight at most (share, accept; then task-completed)`);
  await establishOverHttp(ctx, gw, plan, tag, times);
  const acceptRequestsMs = Date.now() - startedMs;
  log(`http: all relations established; POSTing ${fmtInt(plan.count)} task-completed`);
  const base = await notifications(ctx);
  let sent = 0;
  const taskStart = Date.now();
  const sending = pool(plan.count, CONCURRENCY, async (k) => {
    await httpTask(gw, plan, k, times.task);
    sent++;
  });
  let sendError: unknown;
  sending.catch((err) => (sendError = err));
  await awaitRewards(ctx, plan, tag, base, () => sent, () => sendError);
  await sending;
  const taskRequestsMs = Date.now() - taskStart;
  const cpu = cpuPercent(cpu0, cpuSnapshot(ctx.procs));
  await collectTimes(ctx.redis, ctx.keys, plan, startedMs);
  const sorted = (a: number[]) => percentiles([...a].sort((x, y) => x - y));
  const r = saturationFrom(plan, 'http', cpu, {
    concurrency: CONCURRENCY,
    responseMs: { share: sorted(times.share), accept: sorted(times.accept), task: sorted(times.task) },
    requestsPerSecond: Math.round(((3 * plan.count) / (acceptRequestsMs + taskRequestsMs)) * 1000),
  });
  logSaturation(tag, r);
  log(`http: ${fmtInt(r.requestsPerSecond ?? NaN)} requests/s while requests ran; response times: share ${fmtP(r.responseMs!.share)}; accept ${fmtP(r.responseMs!.accept)}; task-completed ${fmtP(r.responseMs!.task)}`);
  return r;
}

async function httpLatency(ctx: Ctx, gw: Gateway, plan: Plan): Promise<LatencyResult> {
  const tag = 'http-latency';
  await defineOverHttp(gw, plan.activityId, plan.count);
  const startedMs = Date.now();
  log(`http-latency: preparing ${fmtInt(plan.count)} applications over HTTP (share, accept; activity ${plan.activityId})`);
  await establishOverHttp(ctx, gw, plan, tag, routeTimes());
  await sleep(1_000);
  const base = await notifications(ctx);
  const times: number[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let sendError: unknown;
  const pending = new Set<Promise<void>>();
  log(`http-latency: START offering ${fmtInt(HTTP_RATE)} task-completed/s for ${HTTP_SECONDS} s (open loop, at most ${HTTP_MAX_IN_FLIGHT} in flight)`);
  const cpu0 = cpuSnapshot(ctx.procs);
  const sendMs = await offer(
    HTTP_RATE,
    plan.count,
    async (k) => {
      if (sendError) throw sendError;
      while (inFlight >= HTTP_MAX_IN_FLIGHT) await sleep(1);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      const p = httpTask(gw, plan, k, times)
        .catch((err) => void (sendError ??= err))
        .finally(() => {
          inFlight--;
          pending.delete(p);
        });
      pending.add(p);
    },
    tag,
    () => `, ${inFlight} in flight`,
  );
  await Promise.all([...pending]);
  if (sendError) throw sendError;
  await awaitRewards(ctx, plan, tag, base, () => plan.count);
  const cpu = cpuPercent(cpu0, cpuSnapshot(ctx.procs));
  await collectTimes(ctx.redis, ctx.keys, plan, startedMs);
  const { result, samples } = latencyFrom(plan, 'http', HTTP_RATE, HTTP_SECONDS, sendMs, cpu, { response: percentiles(times.sort((a, b) => a - b)), maxInFlight });
  httpSamples = samples;
  log(`http-latency: request sent → terminal: ${fmtP(result.toTerminal)}`);
  log(`http-latency:   of which → TASK_COMPLETED committed ${fmtP(result.toTaskTurn)}; → rewards and terminal ${fmtP(result.rewardStep)}; 202 answers ${fmtP(result.response!)}`);
  log(`http-latency: CPU (100% = one core): ${fmtCpu(cpu)}`);
  noteNoise('http-latency', cpu);
  return result;
}

// ---------------------------------------------------------------------------------------------------------
// Correctness: every application BOTH_REWARDED, budget used = 2 × referrals, one ledger entry per user.
// ---------------------------------------------------------------------------------------------------------
interface CheckResult {
  activityId: string;
  referrals: number;
  statuses: Record<string, number>;
  terminalTurnsSeen: number;
  budgetUsed: number;
  usersWithoutOneGrant: number;
  ok: boolean;
}

async function check(ctx: Ctx, plan: Plan): Promise<CheckResult> {
  const { histogram, records } = await statuses(ctx, plan);
  let grantedBoth = 0;
  for (const r of records) {
    const s = r?.state as (ReferralState & { sharer?: { outcome: string }; invitee?: { outcome: string } }) | undefined;
    if (r?.status === 'BOTH_REWARDED' && s?.sharer?.outcome === 'GRANTED' && s?.invitee?.outcome === 'GRANTED') grantedBoth++;
  }
  const { used } = await ctx.activity.budget(plan.activityId);
  let bad = 0;
  const users = [...plan.sharers, ...plan.invitees];
  for (let base = 0; base < users.length; base += 5_000) {
    const pipe = ctx.redis.pipeline();
    for (const u of users.slice(base, base + 5_000)) pipe.llen(ctx.activityKeys.ledger(plan.activityId, u));
    for (const [err, n] of (await pipe.exec()) ?? []) {
      if (err) throw err;
      if (n !== 1) bad++;
    }
  }
  const terminalTurnsSeen = countOf(plan.terminalAt);
  const ok = grantedBoth === plan.count && used === 2 * plan.count && bad === 0;
  return { activityId: plan.activityId, referrals: plan.count, statuses: histogram, terminalTurnsSeen, budgetUsed: used, usersWithoutOneGrant: bad, ok };
}

// ---------------------------------------------------------------------------------------------------------

/** Node flags of the worker and gateway processes: `--node-args "--max-semi-space-size=64"`, `--cpu-prof`. */
function profArgs(): string[] {
  const extra = args.nodeArgs.split(/\s+/).filter(Boolean);
  return [...extra, ...(args.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${join(__dirname, 'results', 'profiles')}`] : [])];
}

/** Waits until every partition's lease is held by the worker rendezvous hashing assigns it to. */
async function settled(ctx: Ctx, ids: string[]): Promise<void> {
  const owner = new Array<string>(P);
  for (const id of ids) for (const p of assignedPartitions(id, ids, P)) owner[p] = id;
  for (const deadline = Date.now() + 20_000; ; ) {
    const pipe = ctx.redis.pipeline();
    for (let p = 0; p < P; p++) pipe.get(ctx.keys.lease(p));
    const leases = ((await pipe.exec()) ?? []).map(([, v]) => v as string | null);
    if (leases.every((l, p) => l === owner[p])) return;
    if (Date.now() > deadline) throw new Error(`partitions did not settle within 20 s: leases ${JSON.stringify(leases)}, expected ${JSON.stringify(owner)}`);
    await sleep(100);
  }
}

let quietProcs: Procs | undefined;

async function phase<T>(name: string, run: () => Promise<T>): Promise<T | undefined> {
  if (!PHASES.has(name)) return undefined;
  try {
    if (quietProcs) await waitQuiet(quietProcs, name);
    return await run();
  } catch (err) {
    fail(`${name}: ${(err as Error).stack ?? err}`);
    return undefined;
  }
}

interface Results {
  saturation?: SaturationResult;
  latency?: LatencyResult;
  http?: SaturationResult;
  httpLatency?: LatencyResult;
}

const verdict = (ok: boolean | undefined) => (ok === undefined ? 'n/a' : ok ? 'MET' : 'MISSED');

function renderCharts(results: Results, redisInfo: Record<string, string>): string | undefined {
  const parts: Part[] = [];
  const when = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const setup = [`Redis ${redisInfo.version ?? '?'} AOF ${redisInfo.appendfsync ?? '?'}`, `${WORKERS} worker process${WORKERS > 1 ? 'es' : ''}`, `${P} partitions`, `${cpus().length} CPUs`, args.quick ? 'quick run' : '', when].filter(Boolean).join(' · ');
  const { saturation: sat, http } = results;
  if (sat || http) {
    const bars: Bar[] = [];
    if (sat) {
      bars.push({ label: 'gateway-free: full lifecycle', value: sat.lifecycleRate, unit: 'referrals/s', color: '#2f6fb0', note: `${fmtInt(sat.referrals)} referrals` });
      bars.push({ label: 'gateway-free: reward phase', value: sat.rewardPhaseRate, unit: '/s', color: '#6d9fd4', note: 'TaskCompleted → terminal' });
      bars.push({ label: 'gateway-free: accept phase', value: sat.acceptPhaseRate, unit: '/s', color: '#6d9fd4', note: 'accept → relation' });
    }
    if (http) {
      bars.push({ label: 'HTTP: full lifecycle', value: http.lifecycleRate, unit: 'referrals/s', color: '#e07b2a', note: `${fmtInt(http.referrals)} referrals, ${http.concurrency} in flight` });
      bars.push({ label: 'HTTP: reward phase', value: http.rewardPhaseRate, unit: '/s', color: '#f0a868' });
      bars.push({ label: 'HTTP: accept phase', value: http.acceptPhaseRate, unit: '/s', color: '#f0a868' });
    }
    parts.push(
      barChart({
        title: 'Referral lifecycles at saturation',
        subtitle: setup,
        bars,
        targets: [{ value: TARGET_RATE, label: `target ${fmtInt(TARGET_RATE)} referrals/s` }],
        axisLabel: 'per second (higher is better)',
        format: fmtInt,
        footnotes: [
          'Full lifecycle: first accept sent → last terminal turn committed (relation, TaskCompleted, both rewards).',
          `Target ≥ ${fmtInt(TARGET_RATE)} referrals/s (gateway-free): ${verdict(sat ? sat.lifecycleRate >= TARGET_RATE : undefined)}.`,
          ...(sat ? [`CPU meanwhile (100% = one core): ${fmtCpu(sat.cpuPercent)}.`] : []),
        ],
      }),
    );
  }
  const { latency: lat, httpLatency: hl } = results;
  if (lat || hl) {
    const bars: Bar[] = [];
    for (const [r, name, color] of [
      [lat, 'gateway-free', '#2f6fb0'],
      [hl, 'HTTP', '#e07b2a'],
    ] as const) {
      if (!r) continue;
      for (const q of ['p50', 'p90', 'p99'] as const) bars.push({ label: `${name} ${q} at ${fmtInt(r.offeredRate)}/s`, value: r.toTerminal[q], unit: 'ms', color });
    }
    parts.push(
      barChart({
        title: 'TaskCompleted → terminal state',
        subtitle: [lat ? `gateway-free ${fmtInt(lat.offeredRate)}/s for ${lat.seconds} s` : '', hl ? `HTTP ${fmtInt(hl.offeredRate)}/s for ${hl.seconds} s` : ''].filter(Boolean).join(' · '),
        bars,
        targets: [{ value: TARGET_P99_MS, label: `target p99 ≤ ${TARGET_P99_MS} ms at ${fmtInt(TARGET_AT_RATE)}/s` }],
        axisLabel: 'milliseconds (lower is better)',
        format: (v) => (v < 10 ? v.toFixed(1) : v.toFixed(0)),
        footnotes: [
          'Latency: commit of the terminal turn (Redis time of its audit entry) − when the TaskCompleted (HTTP: the request) was sent.',
          `Target p99 ≤ ${TARGET_P99_MS} ms at ${fmtInt(TARGET_AT_RATE)}/s (gateway-free): ${verdict(lat && lat.offeredRate === TARGET_AT_RATE ? lat.toTerminal.p99 <= TARGET_P99_MS : undefined)}.`,
          ...(lat ? [`CPU meanwhile (100% = one core): ${fmtCpu(lat.cpuPercent)}.`] : []),
        ],
      }),
    );
  }
  if (lat) {
    parts.push(
      latencyChart({
        title: `Gateway-free: TaskCompleted → terminal at ${fmtInt(lat.offeredRate)}/s`,
        subtitle: [`${fmtInt(lat.toTerminal.n)} referrals`, `${fmtInt(lat.achievedSendRate)}/s achieved`, `max ${fmtMs(lat.toTerminal.max)}`].join(' · '),
        sortedMs: directSamples,
      }),
    );
  }
  if (hl) {
    parts.push(
      latencyChart({
        title: `HTTP: task-completed request → terminal at ${fmtInt(hl.offeredRate)}/s`,
        subtitle: [`${fmtInt(hl.toTerminal.n)} referrals`, `${fmtInt(hl.achievedSendRate)}/s achieved`, `max ${fmtMs(hl.toTerminal.max)}`].join(' · '),
        sortedMs: httpSamples,
      }),
    );
  }
  return parts.length ? svgDocument(parts) : undefined;
}

async function main(): Promise<void> {
  log(
    `referral bench: ${fmtInt(N)} referrals at saturation, ${fmtInt(RATE)}/s for ${SECONDS} s; HTTP ${fmtInt(HTTP_N)} referrals (${CONCURRENCY} in flight), ${fmtInt(HTTP_RATE)}/s for ${HTTP_SECONDS} s; ` +
      `${WORKERS} worker(s), ${P} partitions${args.quick ? ' (quick)' : ''}; ${machineLine()}`,
  );
  const server: RedisProcess = await startRedisServer(['--appendonly', 'yes', '--appendfsync', 'everysec']);
  stopOnSignal(() => [server]);
  const results: Results = {};
  const checks: CheckResult[] = [];
  let redisInfo: Record<string, string> = {};
  const keys = new Keys(freshNamespace('referral'));
  const redis = connect(server.url, 'bench-referral');
  const componentRedis = createRedis({ url: server.url, tls: false }, 'bench-referral-activity'); // its scripts registered
  const ctx: Ctx = {
    url: server.url,
    keys,
    redis,
    client: new RedisStreamsClient({ redis: { url: server.url }, runtime: { namespace: keys.ns, partitions: P } }),
    activity: new ActivityComponent(componentRedis, new ActivityKeys(keys.ns)),
    activityKeys: new ActivityKeys(keys.ns),
    procs: { redis: server, workers: [] },
  };
  const plans: Plan[] = [];
  try {
    const [, aof] = (await redis.config('GET', 'appendonly')) as string[];
    const [, fsync] = (await redis.config('GET', 'appendfsync')) as string[];
    const version = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? '?';
    redisInfo = { url: server.url, version, appendonly: aof, appendfsync: fsync };
    log(`redis-server ${version} on ${server.url} (appendonly ${aof}, appendfsync ${fsync}); namespace ${keys.ns}`);

    const env = { PROPEL_REDIS_URL: server.url, PROPEL_NAMESPACE: keys.ns, PROPEL_PARTITIONS: String(P) };
    for (let i = 0; i < WORKERS; i++) ctx.procs.workers.push(track(spawnApp(`w${i + 1}`, 'apps/worker/main.ts', env, { echoWarnings: true, echoAll: args.verbose, nodeArgs: profArgs() })));
    const { ids } = await allReady(ctx.procs.workers);
    await settled(ctx, ids);
    const split = ids.map((id) => `${id}: ${assignedPartitions(id, ids, P).length}`).join(', ');
    log(`${WORKERS} worker(s) ready and holding their partitions (partitions per worker: ${split})`);

    quietProcs = ctx.procs;
    // Warm-up: a few whole lifecycles first, so the measured phases do not pay for JIT and connection set-up.
    const warm = makePlan('warm', WARMUP);
    plans.push(warm);
    log(`warm-up: ${fmtInt(WARMUP)} referrals (not measured)`);
    await directSaturation(ctx, warm, 'warm-up');

    results.saturation = await phase('saturation', () => {
      const plan = makePlan('sat', N);
      plans.push(plan);
      return directSaturation(ctx, plan);
    });
    results.latency = await phase('latency', () => {
      const plan = makePlan('lat', Math.round(RATE * SECONDS));
      plans.push(plan);
      return directLatency(ctx, plan);
    });
    if (PHASES.has('http') || PHASES.has('http-latency')) {
      let gw: Gateway | undefined;
      try {
        gw = await startGateway(ctx);
        ctx.procs.gateway = gw.proc;
        const g = gw;
        results.http = await phase('http', () => {
          const plan = makePlan('hsat', HTTP_N);
          plans.push(plan);
          return httpSaturation(ctx, g, plan);
        });
        results.httpLatency = await phase('http-latency', () => {
          const plan = makePlan('hlat', Math.round(HTTP_RATE * HTTP_SECONDS));
          plans.push(plan);
          return httpLatency(ctx, g, plan);
        });
      } catch (err) {
        fail(`gateway: ${(err as Error).stack ?? err}`);
      } finally {
        await gw?.proc.stop('SIGTERM');
        ctx.procs.gateway = undefined;
      }
    }

    // Correctness of every plan that ran, and no dead letters anywhere.
    log('checking: every application BOTH_REWARDED, budget used = 2 × referrals, one ledger entry per user');
    for (const plan of plans) {
      if (Number.isNaN(minOf(plan.acceptSent))) continue;
      try {
        const c = await check(ctx, plan);
        checks.push(c);
        log(`check ${plan.activityId}: ${JSON.stringify(c.statuses)}, budget used ${fmtInt(c.budgetUsed)} (expected ${fmtInt(2 * plan.count)}), users without exactly one grant ${c.usersWithoutOneGrant} → ${c.ok ? 'OK' : 'MISMATCH'}`);
        if (!c.ok) fail(`check ${plan.activityId}: statuses ${JSON.stringify(c.statuses)}, budget used ${c.budgetUsed} != ${2 * plan.count} or ${c.usersWithoutOneGrant} users without exactly one grant`);
      } catch (err) {
        fail(`check ${plan.activityId}: ${(err as Error).stack ?? err}`);
      }
    }
    const pipe = redis.pipeline();
    for (let p = 0; p < P; p++) pipe.xlen(keys.dead(p));
    pipe.xlen(keys.ingestDead());
    const dead = ((await pipe.exec()) ?? []).reduce((n, [, v]) => n + Number(v ?? 0), 0);
    log(`dead letters: ${dead}`);
    if (dead > 0) fail(`${dead} dead letter(s) in the partitions' dead-letter streams`);
  } finally {
    await Promise.all(ctx.procs.workers.map((w) => w.stop('SIGTERM')));
    killTracked();
    await ctx.client.close().catch(() => undefined);
    agent.destroy();
    redis.disconnect();
    componentRedis.disconnect();
    await server.stop();
  }

  // Report.
  const rows: string[][] = [];
  for (const r of [results.saturation, results.http]) {
    if (!r) continue;
    rows.push([r.path === 'direct' ? 'gateway-free' : `HTTP (${r.concurrency} in flight)`, fmtInt(r.referrals), fmtInt(r.lifecycleRate), fmtInt(r.acceptPhaseRate), fmtInt(r.rewardPhaseRate), fmtInt(r.turnsPerSecond)]);
  }
  console.log('');
  console.log(`Results: ${WORKERS} worker process(es), ${P} partitions, Redis ${redisInfo.version ?? '?'} AOF everysec, ${cpus().length} CPUs`);
  if (rows.length) console.log(renderTable(['saturation', 'referrals', 'referrals/s', 'accept phase/s', 'reward phase/s', 'turns/s'], rows, [false, true, true, true, true, true]));
  const lrows: string[][] = [];
  for (const r of [results.latency, results.httpLatency]) {
    if (!r) continue;
    const t = r.toTerminal;
    lrows.push([r.path === 'direct' ? 'gateway-free' : 'HTTP', `${fmtInt(r.offeredRate)}/s × ${r.seconds} s`, fmtInt(t.n), fmtMs(t.p50), fmtMs(t.p90), fmtMs(t.p99), fmtMs(t.max), fmtMs(r.toTaskTurn.p99), r.response ? fmtMs(r.response.p99) : '']);
  }
  if (lrows.length) {
    console.log('');
    console.log(renderTable(['TaskCompleted → terminal', 'offered', 'n', 'p50', 'p90', 'p99', 'max', 'p99 to task turn', 'p99 of 202'], lrows, [false, true, true, true, true, true, true, true, true]));
  }
  const sat = results.saturation;
  const lat = results.latency;
  const satMet = sat ? sat.lifecycleRate >= TARGET_RATE : undefined;
  const latMet = lat ? (lat.offeredRate === TARGET_AT_RATE ? lat.toTerminal.p99 <= TARGET_P99_MS : undefined) : undefined;
  console.log('');
  if (sat) console.log(`target: ≥ ${fmtInt(TARGET_RATE)} referrals/s at saturation → gateway-free ${fmtInt(sat.lifecycleRate)}/s = ${((sat.lifecycleRate / TARGET_RATE) * 100).toFixed(0)}% of target: ${verdict(satMet)}`);
  if (results.http) console.log(`        (HTTP: ${fmtInt(results.http.lifecycleRate)}/s = ${((results.http.lifecycleRate / TARGET_RATE) * 100).toFixed(0)}% of target: ${verdict(results.http.lifecycleRate >= TARGET_RATE)})`);
  if (lat) {
    const ratio = `${((lat.toTerminal.p99 / TARGET_P99_MS) * 100).toFixed(0)}% of the limit`;
    console.log(
      `target: p99 ≤ ${TARGET_P99_MS} ms at ${fmtInt(TARGET_AT_RATE)}/s → gateway-free p99 ${fmtMs(lat.toTerminal.p99)} at ${fmtInt(lat.offeredRate)}/s (${ratio}): ` +
        (latMet === undefined ? `n/a (measured at ${fmtInt(lat.offeredRate)}/s, the target is stated at ${fmtInt(TARGET_AT_RATE)}/s)` : verdict(latMet)),
    );
  }
  const hl = results.httpLatency;
  if (hl) console.log(`        (HTTP: p99 ${fmtMs(hl.toTerminal.p99)} at ${fmtInt(hl.offeredRate)}/s: ${hl.offeredRate === TARGET_AT_RATE ? verdict(hl.toTerminal.p99 <= TARGET_P99_MS) : 'not at the target rate'})`);
  const noisyPhases = Object.entries(results)
    .filter(([, r]) => r && noisy((r as SaturationResult | LatencyResult).cpuPercent))
    .map(([name, r]) => `${name} (other processes ${(r as SaturationResult | LatencyResult).cpuPercent.other}% of a core)`);
  if (noisyPhases.length) console.log(`NOTE: the machine was shared during ${noisyPhases.join(', ')}: run again when it is quiet for representative numbers`);
  const allOk = checks.length > 0 && checks.every((c) => c.ok);
  console.log(`correctness: ${checks.map((c) => `${c.activityId} ${c.ok ? 'OK' : 'MISMATCH'}`).join(', ') || 'nothing checked'}`);

  const json = {
    at: new Date().toISOString(),
    args: { referrals: N, rate: RATE, seconds: SECONDS, httpReferrals: HTTP_N, httpRate: HTTP_RATE, httpSeconds: HTTP_SECONDS, concurrency: CONCURRENCY, workers: WORKERS, warmup: WARMUP, partitions: P, quick: args.quick, phases: [...PHASES] },
    machine: machine(),
    redis: redisInfo,
    results,
    targets: {
      referralsPerSecond: { target: TARGET_RATE, measured: sat?.lifecycleRate ?? null, met: satMet ?? null },
      p99AtRate: { targetMs: TARGET_P99_MS, atRate: TARGET_AT_RATE, measuredMs: lat?.toTerminal.p99 ?? null, measuredAtRate: lat?.offeredRate ?? null, met: latMet ?? null },
    },
    noisyPhases,
    checks,
    correct: allOk,
    failures,
  };
  failures.push(...saveResults('referral', json, () => renderCharts(results, redisInfo)));
  reportFailures(failures);
}

runBench('bench', main);
