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
import { cpus } from 'node:os';
import { assignedPartitions, createRedis, Keys, RedisStreamsClient } from '../common';
import { ActivityComponent, ActivityKeys } from '../apps/worker/components/activity';
import { RedisProcess, startRedisServer } from '../test/harness/redis-server';
import { connect } from './lib/propel';
import { fmtInt, fmtMs, freshNamespace, log, machine, machineLine, phaseRunner, renderTable, reportFailures, saveResults, sleep } from './lib/util';
import { allReady, killTracked, runBench, spawnApp, stopOnSignal, track } from './lib/workers';
import { args, CONCURRENCY, fail, failures, HTTP_N, HTTP_RATE, HTTP_SECONDS, N, P, PHASES, profArgs, RATE, SECONDS, TARGET_AT_RATE, TARGET_P99_MS, TARGET_RATE, WARMUP, WORKERS } from './referral/config';
import { makePlan, minOf } from './referral/plan';
import type { Plan } from './referral/plan';
import { noisy, waitQuiet } from './referral/fleet';
import type { Ctx, Procs } from './referral/fleet';
import { directLatency, directSaturation } from './referral/direct';
import type { LatencyResult, SaturationResult } from './referral/direct';
import { agent, httpLatency, httpSaturation, startGateway } from './referral/http';
import type { Gateway } from './referral/http';
import { check } from './referral/check';
import type { CheckResult } from './referral/check';
import { renderCharts, verdict } from './referral/report';
import type { Results } from './referral/report';

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

const phase = phaseRunner(PHASES, fail, async (name) => {
  if (quietProcs) await waitQuiet(quietProcs, name);
});

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
