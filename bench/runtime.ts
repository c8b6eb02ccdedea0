/**
 * Runtime benchmark: raw Redis Streams ceiling vs BullMQ vs Propel (1 and 2 worker processes), then turn
 * latency at a fixed offered rate. Everything runs against a private redis-server (AOF, fsync everysec).
 *
 *   node -r ./scripts/register.js bench/runtime.ts [--messages N] [--actors M] [--quick]
 *        [--rate R --seconds S] [--concurrency auto|C] [--phases raw,bullmq,propel1,propel2,latency] [--verbose]
 *        [--cluster [--masters K]]
 *
 * With --cluster (npm run bench:runtime:cluster) only the Propel phases run, each twice in one run: on a
 * single redis-server and on a local K-master Redis Cluster (default 3, same AOF settings) started by the
 * bench; it prints the ratio cluster/single. Raw and BullMQ are not cluster-ready and are skipped.
 *
 * Exits non-zero only when something failed (a phase threw, a count check did not match), never because
 * a target was missed.
 */

import 'reflect-metadata';
import { cpus } from 'node:os';
import { startTestCluster, TestCluster } from '../test/harness/cluster';
import { RedisProcess, startRedisServer } from '../test/harness/redis-server';
import { connect } from './lib/propel';
import { fmtInt, fmtMs, fmtRatio, log, machine, machineLine, phaseRunner, renderTable, reportFailures, saveResults, warn } from './lib/util';
import { killTracked, runBench, stopOnSignal } from './lib/workers';
import { AOF, args, clusterTarget, fail, failures, M, N, P, PHASES, RATE, SECONDS, singleTarget } from './runtime/config';
import type { LatencyResult, ThroughputResult } from './runtime/config';
import { bullmq, rawCeiling } from './runtime/baselines';
import { latency, propel } from './runtime/propel';
import { renderCharts, renderClusterChart } from './runtime/report';
import type { ClusterPair } from './runtime/report';

const phase = phaseRunner(PHASES, fail);

async function main(): Promise<void> {
  log(`runtime bench: ${fmtInt(N)} messages over ${fmtInt(M)} actors, ${P} partitions${args.quick ? ' (quick)' : ''}; ${machineLine()}`);
  const server: RedisProcess = await startRedisServer(AOF);
  stopOnSignal(() => [server]);
  const results: { raw?: ThroughputResult; bullmq?: ThroughputResult; propel1?: ThroughputResult; propel2?: ThroughputResult; latency?: LatencyResult } = {};
  let redisInfo: Record<string, string> = {};
  try {
    const admin = connect(server.url, 'bench-admin');
    const [, aof] = (await admin.config('GET', 'appendonly')) as string[];
    const [, fsync] = (await admin.config('GET', 'appendfsync')) as string[];
    const version = /redis_version:(\S+)/.exec(await admin.info('server'))?.[1] ?? '?';
    redisInfo = { url: server.url, version, appendonly: aof, appendfsync: fsync };
    admin.disconnect();
    log(`redis-server ${version} on ${server.url} (appendonly ${aof}, appendfsync ${fsync})`);

    results.raw = await phase('raw', () => rawCeiling(server.url));
    results.bullmq = await phase('bullmq', () => bullmq(server.port));
    results.propel1 = await phase('propel1', () => propel(singleTarget(server.url), 1));
    results.propel2 = await phase('propel2', () => propel(singleTarget(server.url), 2));
    results.latency = await phase('latency', () => latency(server.url));
  } finally {
    killTracked();
    await server.stop();
  }

  // Report.
  const raw = results.raw?.rate ?? NaN;
  const bull = results.bullmq?.rate ?? NaN;
  const rows = [results.raw, results.bullmq, results.propel1, results.propel2]
    .filter((r): r is ThroughputResult => !!r)
    .map((r) => [r.name, fmtInt(r.rate), fmtRatio(r.rate / raw), fmtRatio(r.rate / bull), r.ok ? '' : 'FAILED CHECK']);
  console.log('');
  console.log(`Results: ${fmtInt(N)} messages, ${fmtInt(M)} actors, ${P} partitions, Redis ${redisInfo.version ?? '?'} AOF everysec`);
  console.log(renderTable(['name', 'msgs/s', 'vs raw', 'vs BullMQ', ''], rows, [false, true, true, true, false]));
  for (const r of [results.propel1, results.propel2]) {
    if (r) console.log(`  ${r.name}: ${fmtInt(r.notes.handledBeforeReady as number)} handled before "ready"; counting only turns after ready: ${fmtInt(r.notes.rateCountingOnlyAfterReady as number)}/s`);
  }
  const lat = results.latency;
  if (lat) {
    console.log(`latency (1 worker, ${fmtInt(lat.offeredRate)} msgs/s offered for ${lat.seconds} s, ${fmtInt(lat.achievedSendRate)}/s achieved, ${fmtInt(lat.measured)} turns): p50 ${fmtMs(lat.p50)}  p90 ${fmtMs(lat.p90)}  p99 ${fmtMs(lat.p99)}  max ${fmtMs(lat.max)}`);
  }
  const one = results.propel1?.rate ?? NaN;
  const vsBull = one / bull;
  const vsRaw = one / raw;
  const met = (x: boolean) => (x ? 'met' : 'MISSED');
  console.log(`target: 1 worker ≥ 3× BullMQ and ≥ 60% of raw → ${fmtRatio(vsBull)} BullMQ (${Number.isFinite(vsBull) ? met(vsBull >= 3) : 'n/a'}), ${Number.isFinite(vsRaw) ? (vsRaw * 100).toFixed(0) : 'n/a'}% of raw (${Number.isFinite(vsRaw) ? met(vsRaw >= 0.6) : 'n/a'})`);

  const json = {
    at: new Date().toISOString(),
    args: { messages: N, actors: M, partitions: P, quick: args.quick, rate: RATE, seconds: SECONDS, phases: [...PHASES] },
    machine: machine(),
    redis: redisInfo,
    results,
    ratios: {
      propel1VsRaw: vsRaw,
      propel1VsBullmq: vsBull,
      propel2VsRaw: (results.propel2?.rate ?? NaN) / raw,
      propel2VsBullmq: (results.propel2?.rate ?? NaN) / bull,
    },
    targets: { propel1AtLeast3xBullmq: vsBull >= 3, propel1AtLeast60pctOfRaw: vsRaw >= 0.6 },
    failures,
  };
  failures.push(...saveResults('runtime', json, () => renderCharts(results, redisInfo)));
  reportFailures(failures);
}

async function mainCluster(): Promise<void> {
  log(`runtime bench --cluster: ${fmtInt(N)} messages over ${fmtInt(M)} actors, ${P} partitions${args.quick ? ' (quick)' : ''}; single Redis vs ${args.masters}-master cluster; ${machineLine()}`);
  if (cpus().length < args.masters + 2) warn(`note: ${cpus().length} CPUs for ${args.masters} cluster masters + workers + the bench: they compete for CPU, so the ratio shows routing overhead, not scale-out`);
  const server: RedisProcess = await startRedisServer(AOF);
  let cluster: TestCluster | undefined;
  stopOnSignal(() => [server, ...(cluster?.servers ?? [])]);
  const pairs: ClusterPair[] = [];
  let redisInfo: Record<string, string> = {};
  try {
    log(`starting a ${args.masters}-master Redis Cluster (${AOF.join(' ')})`);
    cluster = await startTestCluster(args.masters, AOF);
    const admin = connect(server.url, 'bench-admin');
    const [, fsync] = (await admin.config('GET', 'appendfsync')) as string[];
    const version = /redis_version:(\S+)/.exec(await admin.info('server'))?.[1] ?? '?';
    admin.disconnect();
    const node0 = connect(`redis://${cluster.nodes[0]}`, 'bench-admin');
    const [, clusterFsync] = (await node0.config('GET', 'appendfsync')) as string[];
    node0.disconnect();
    redisInfo = { url: server.url, version, appendfsync: fsync, clusterNodes: cluster.nodes.join(','), clusterAppendfsync: clusterFsync };
    log(`redis-server ${version} on ${server.url} (appendfsync ${fsync}); cluster ${cluster.nodes.join(', ')} (appendfsync ${clusterFsync})`);
    // Interleaved (single, cluster, single, cluster) so that drift in machine load hits both sides alike.
    for (const workers of [1, 2]) {
      if (!PHASES.has(`propel${workers}`)) continue;
      const single = await phase(`propel${workers}`, () => propel(singleTarget(server.url), workers));
      const onCluster = await phase(`propel${workers}`, () => propel(clusterTarget(cluster!.nodes), workers));
      const ratio = (onCluster?.rate ?? NaN) / (single?.rate ?? NaN);
      log(`propel${workers}: cluster/single = ${fmtRatio(ratio)}`);
      pairs.push({ workers, single, cluster: onCluster, ratio });
    }
  } finally {
    killTracked();
    await Promise.all([server.stop(), cluster?.stop()]);
  }

  console.log('');
  console.log(`Results: ${fmtInt(N)} messages, ${fmtInt(M)} actors, ${P} partitions, Redis ${redisInfo.version ?? '?'} AOF everysec; single Redis vs ${args.masters}-master cluster`);
  const rows = pairs.map((p) => [`Propel, ${p.workers} worker${p.workers > 1 ? 's' : ''}`, fmtInt(p.single?.rate ?? NaN), fmtInt(p.cluster?.rate ?? NaN), fmtRatio(p.ratio), (p.single?.ok ?? true) && (p.cluster?.ok ?? true) ? '' : 'FAILED CHECK']);
  console.log(renderTable(['name', 'single msgs/s', 'cluster msgs/s', 'cluster/single', ''], rows, [false, true, true, true, false]));
  console.log(`note: the ${args.masters} masters, the single Redis, the workers and the bench share ${cpus().length} CPUs; the ratio measures the cost of cluster routing here, not scale-out.`);
  const json = {
    at: new Date().toISOString(),
    args: { messages: N, actors: M, partitions: P, quick: args.quick, masters: args.masters, phases: [...PHASES] },
    machine: machine(),
    redis: redisInfo,
    results: pairs,
    ratios: Object.fromEntries(pairs.map((p) => [`propel${p.workers}ClusterVsSingle`, p.ratio])),
    failures,
  };
  failures.push(...saveResults('runtime-cluster', json, () => renderClusterChart(pairs, redisInfo)));
  reportFailures(failures);
}

runBench('bench', () => (args.cluster ? mainCluster() : main()));
