/** Gateway-free phases: Accept and TaskCompleted told straight to the application's partition inbox; and the result shapes and pacing both paths share. */
import { performance } from 'node:perf_hooks';
import { referralActor } from '../../actors';
import { every, fmtInt, fmtMs, log, sleep } from '../lib/util';
import { commandStats, cpuPercent, fmtCpu } from '../lib/cpu';
import { RATE, SECONDS } from './config';
import { collectTimes, diffs, fmtP, maxOf, minOf, percentiles } from './plan';
import type { Percentiles, Plan } from './plan';
import { commandsPerReferral, cpuSnapshot, defineActivity, noteNoise, notifications, waitUntil } from './fleet';
import type { Ctx } from './fleet';

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
export async function establish(ctx: Ctx, plan: Plan, tag: string, send: (progress: (n: number) => void) => Promise<void>): Promise<void> {
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
export function awaitRewards(ctx: Ctx, plan: Plan, tag: string, base: number, sent: () => number, sendError: () => unknown = () => undefined): Promise<void> {
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

export interface SaturationResult {
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

export function saturationFrom(plan: Plan, path: 'direct' | 'http', cpu: Record<string, number>, extra: Partial<SaturationResult> = {}): SaturationResult {
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

export function logSaturation(tag: string, r: SaturationResult): void {
  log(
    `${tag}: ${fmtInt(r.referrals)} lifecycles in ${(r.lifecycleMs / 1000).toFixed(2)} s → ${fmtInt(r.lifecycleRate)} referrals/s ` +
      `(accept phase ${fmtInt(r.acceptPhaseRate)}/s, reward phase ${fmtInt(r.rewardPhaseRate)}/s, ${fmtInt(r.turnsPerSecond)} turns/s; idle gap ${fmtMs(r.idleGapMs)})`,
  );
  log(`${tag}: CPU (100% = one core): ${fmtCpu(r.cpuPercent)}`);
  noteNoise(tag, r.cpuPercent);
}

export async function directSaturation(ctx: Ctx, plan: Plan, tag = 'saturation'): Promise<SaturationResult> {
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

export interface LatencyResult {
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

/** The latency phases' samples (ms, ascending), kept out of the JSON and drawn in the SVG. */
export const latencySamples: { direct: number[]; http: number[] } = { direct: [], http: [] };

/** Offers `send(k, now)` at `rate` per second until `total` were sent (catching up in batches every ~2 ms). */
export async function offer(rate: number, total: number, send: (k: number, now: number) => void | Promise<unknown>, tag: string, status: () => string): Promise<number> {
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

export function latencyFrom(plan: Plan, path: 'direct' | 'http', rate: number, seconds: number, sendMs: number, cpu: Record<string, number>, extra: Partial<LatencyResult> = {}): { result: LatencyResult; samples: number[] } {
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

export async function directLatency(ctx: Ctx, plan: Plan): Promise<LatencyResult> {
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
  latencySamples.direct = samples;
  log(`latency: TaskCompleted → terminal: ${fmtP(result.toTerminal)}`);
  log(`latency:   of which send → TASK_COMPLETED committed ${fmtP(result.toTaskTurn)}; → rewards and terminal ${fmtP(result.rewardStep)}`);
  log(`latency: CPU (100% = one core): ${fmtCpu(cpu)}`);
  noteNoise('latency', cpu);
  return result;
}
