/** HTTP phases: the same lifecycle through the gateway process (node:http keep-alive connections, bounded concurrency). */
import { randomBytes } from 'node:crypto';
import { keepAliveAgent, request as requestOn } from '../lib/http';
import type { Answer } from '../lib/http';
import { fmtInt, log, sleep } from '../lib/util';
import { allReady, spawnApp, track, WorkerProcess } from '../lib/workers';
import { cpuPercent, fmtCpu } from '../lib/cpu';
import { args, CONCURRENCY, HTTP_MAX_IN_FLIGHT, HTTP_RATE, HTTP_SECONDS, P, PRIZE, profArgs } from './config';
import { collectTimes, fmtP, percentiles } from './plan';
import type { Plan } from './plan';
import { cpuSnapshot, noteNoise, notifications } from './fleet';
import type { Ctx } from './fleet';
import { awaitRewards, establish, latencyFrom, latencySamples, logSaturation, offer, saturationFrom } from './direct';
import type { LatencyResult, SaturationResult } from './direct';

/** Keep-alive connections to the gateway, enough for the open-loop HTTP phase's requests in flight. */
export const agent = keepAliveAgent(256);
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

export interface Gateway {
  proc: WorkerProcess;
  base: string;
  token: string;
}

export async function startGateway(ctx: Ctx): Promise<Gateway> {
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

export async function httpSaturation(ctx: Ctx, gw: Gateway, plan: Plan): Promise<SaturationResult> {
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

export async function httpLatency(ctx: Ctx, gw: Gateway, plan: Plan): Promise<LatencyResult> {
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
  latencySamples.http = samples;
  log(`http-latency: request sent → terminal: ${fmtP(result.toTerminal)}`);
  log(`http-latency:   of which → TASK_COMPLETED committed ${fmtP(result.toTaskTurn)}; → rewards and terminal ${fmtP(result.rewardStep)}; 202 answers ${fmtP(result.response!)}`);
  log(`http-latency: CPU (100% = one core): ${fmtCpu(cpu)}`);
  noteNoise('http-latency', cpu);
  return result;
}
