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
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { decode, encode, Keys } from '../common';
import { startTestCluster, TestCluster } from '../test/harness/cluster';
import { RedisProcess, startRedisServer } from '../test/harness/redis-server';
import { actorTable, backlogOf, BenchRedis, connect, connectCluster, COUNTER, incrementEnvelope, inboxStates, preloadIncrements, readAudit, sumCounters, waitDrained } from './lib/propel';
import { Bar, barChart, latencyChart, Part, svgDocument } from './lib/svg';
import { every, failureList, fmtInt, fmtMs, fmtRatio, freshNamespace, log, machine, machineLine, parseArgs, quantile, renderTable, reportFailures, saveResults, sleep, warn } from './lib/util';
import { allReady, killTracked, runBench, spawnWorker, stopOnSignal, track, WorkerProcess } from './lib/workers';

const P = 16;
const RAW_COUNT = 200;

const args = parseArgs(process.argv.slice(2), {
  messages: 0,
  actors: 0,
  quick: false,
  rate: 0,
  seconds: 0,
  concurrency: 'auto',
  phases: 'raw,bullmq,propel1,propel2,latency',
  verbose: false,
  cluster: false,
  masters: 3,
});
const AOF = ['--appendonly', 'yes', '--appendfsync', 'everysec'];
const N = args.messages || (args.quick ? 20_000 : 200_000);
const M = args.actors || (args.quick ? 2_000 : 10_000);
const RATE = args.rate || (args.quick ? 2_000 : 5_000);
const SECONDS = args.seconds || (args.quick ? 3 : 10);
const PHASES = new Set(args.phases.split(',').map((s) => s.trim()).filter(Boolean));
if (args.cluster) {
  const skipped = [...PHASES].filter((p) => p !== 'propel1' && p !== 'propel2');
  for (const p of skipped) PHASES.delete(p);
  if (skipped.length && args.phases !== 'raw,bullmq,propel1,propel2,latency') warn(`--cluster: skipping ${skipped.join(', ')} (not cluster-ready; only the Propel phases run)`);
}

/** Where the Propel phases run: a single redis-server or a Redis Cluster. */
interface Target {
  kind: 'single' | 'cluster';
  /** What the worker processes get to find Redis. */
  env: Record<string, string>;
  connect(name: string): BenchRedis;
}

const singleTarget = (url: string): Target => ({ kind: 'single', env: { PROPEL_REDIS_URL: url }, connect: (name) => connect(url, name) });
const clusterTarget = (nodes: string[]): Target => ({ kind: 'cluster', env: { PROPEL_REDIS_CLUSTER: nodes.join(',') }, connect: (name) => connectCluster(nodes, name) });

interface ThroughputResult {
  name: string;
  messages: number;
  elapsedMs: number;
  rate: number;
  ok: boolean;
  notes: Record<string, unknown>;
}

interface LatencyResult {
  offeredRate: number;
  seconds: number;
  sent: number;
  achievedSendRate: number;
  measured: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  ok: boolean;
}

const { failures, fail } = failureList();

/** The latency phase's samples (ms, ascending), kept out of the JSON and drawn in the SVG. */
let latencySamples: number[] = [];

// ---------------------------------------------------------------------------------------------------------
// a. RAW CEILING: one batched loop on ioredis, the same stream layout as Propel.
// ---------------------------------------------------------------------------------------------------------
async function rawCeiling(url: string): Promise<ThroughputResult> {
  const keys = new Keys(freshNamespace('raw'));
  const redis = connect(url, 'bench-raw');
  try {
    const table = actorTable(M, P);
    log(`raw: preloading ${fmtInt(N)} entries into ${P} streams (${keys.ns})`);
    await preloadIncrements(redis, keys, table, N);
    const streams = Array.from({ length: P }, (_, p) => keys.inbox(p));
    const partitionOfStream = new Map(streams.map((s, p) => [s, p]));
    const group = 'bench';
    const create = redis.pipeline();
    for (const s of streams) create.xgroup('CREATE', s, group, '0', 'MKSTREAM');
    await create.exec();
    const state = encode({ count: 1, v: 1 }); // the "small buffer" written per message
    const cursors = streams.map(() => '>');
    let done = 0;
    let emptyReads = 0;
    log(`raw: START loop (XREADGROUP COUNT ${RAW_COUNT} over ${P} streams → HSET per message → XACK per stream, pipelined)`);
    const started = performance.now();
    const stopProgress = every(1000, () => log(`raw: ${fmtInt(done)}/${fmtInt(N)} done`));
    try {
      while (done < N) {
        const reply = (await redis.xreadgroupBuffer('GROUP', group, 'c1', 'COUNT', RAW_COUNT, 'STREAMS', ...streams, ...cursors)) as Array<[Buffer, Array<[Buffer, Buffer[]]>]> | null;
        if (!reply || reply.length === 0) {
          if (++emptyReads > 100) throw new Error(`raw loop: the streams ran dry at ${done}/${N}`);
          continue;
        }
        const pipe = redis.pipeline();
        for (const [streamBuf, entries] of reply) {
          const stream = streamBuf.toString();
          const p = partitionOfStream.get(stream)!;
          const ids: Buffer[] = [];
          for (const [id, fields] of entries) {
            const env = decode<{ data: { id: string } }>(fields[1]);
            pipe.hset(keys.actor(p, { type: COUNTER, id: env.data.id }), 'd', state);
            ids.push(id);
          }
          if (ids.length) pipe.xack(stream, group, ...ids);
          done += ids.length;
        }
        const results = await pipe.exec();
        const err = results?.find(([e]) => e);
        if (err) throw err[0];
      }
    } finally {
      stopProgress();
    }
    const elapsedMs = performance.now() - started;
    const rate = (N / elapsedMs) * 1000;
    log(`raw: done ${fmtInt(N)} in ${(elapsedMs / 1000).toFixed(2)} s → ${fmtInt(rate)} msgs/s`);
    return { name: 'raw ceiling (ioredis loop)', messages: N, elapsedMs, rate, ok: true, notes: { countPerStream: RAW_COUNT, streams: P } };
  } finally {
    redis.disconnect();
  }
}

// ---------------------------------------------------------------------------------------------------------
// b. BULLMQ: addBulk (not timed), then one Worker whose processor does one HSET per job.
// ---------------------------------------------------------------------------------------------------------
async function bullRun(port: number, name: string, jobs: number, concurrency: number, progress: boolean): Promise<number> {
  const connection = { host: '127.0.0.1', port, maxRetriesPerRequest: null };
  const queue = new Queue(name, { connection });
  const store = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: null, enableAutoPipelining: true, connectionName: 'bench-bull-store' });
  const table = actorTable(M, P);
  const state = encode({ count: 1, v: 1 });
  const keys = new Keys(name);
  let worker: Worker | undefined;
  try {
    for (let base = 0; base < jobs; base += 1000) {
      const end = Math.min(jobs, base + 1000);
      const batch = [];
      for (let i = base; i < end; i++) {
        const a = i % M;
        batch.push({ name: 'increment', data: { id: table.ids[a], p: table.partition[a], by: 1 }, opts: { removeOnComplete: true, removeOnFail: true } });
      }
      await queue.addBulk(batch);
    }
    let completed = 0;
    let failed = 0;
    let finish!: () => void;
    const finished = new Promise<void>((r) => (finish = r));
    const started = performance.now();
    worker = new Worker(
      name,
      async (job) => {
        await store.hset(keys.actor(job.data.p, { type: COUNTER, id: job.data.id }), 'd', state);
      },
      { connection, concurrency },
    );
    worker.on('completed', () => {
      if (++completed >= jobs) finish();
    });
    worker.on('failed', (_job, err) => {
      failed++;
      if (failed <= 3) warn(`bullmq: job failed: ${err.message}`);
      if (completed + failed >= jobs) finish();
    });
    worker.on('error', (err) => warn(`bullmq: worker error: ${err.message}`));
    const stopProgress = progress ? every(1000, () => log(`bullmq: ${fmtInt(completed)}/${fmtInt(jobs)} completed`)) : () => undefined;
    try {
      await finished;
    } finally {
      stopProgress();
    }
    const elapsed = performance.now() - started;
    if (failed) throw new Error(`bullmq: ${failed} of ${jobs} jobs failed`);
    return elapsed;
  } finally {
    await worker?.close().catch(() => undefined);
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close().catch(() => undefined);
    store.disconnect();
  }
}

async function bullmq(port: number): Promise<ThroughputResult> {
  let concurrency: number;
  const trials: Record<string, number> = {};
  if (args.concurrency === 'auto') {
    const trialJobs = Math.min(N, args.quick ? 4_000 : 20_000);
    log(`bullmq: trying concurrency 50, 200, 500 on ${fmtInt(trialJobs)} jobs each`);
    let best = 0;
    concurrency = 200;
    for (const c of [50, 200, 500]) {
      const ms = await bullRun(port, freshNamespace(`bulltrial${c}`), trialJobs, c, false);
      const rate = (trialJobs / ms) * 1000;
      trials[String(c)] = Math.round(rate);
      log(`bullmq: concurrency ${c}: ${fmtInt(rate)} jobs/s`);
      if (rate > best) {
        best = rate;
        concurrency = c;
      }
    }
  } else {
    concurrency = Number(args.concurrency);
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error('--concurrency must be "auto" or a positive integer');
  }
  log(`bullmq: START ${fmtInt(N)} jobs with concurrency ${concurrency} (addBulk first, not timed)`);
  const elapsedMs = await bullRun(port, freshNamespace('bull'), N, concurrency, true);
  const rate = (N / elapsedMs) * 1000;
  log(`bullmq: done ${fmtInt(N)} in ${(elapsedMs / 1000).toFixed(2)} s → ${fmtInt(rate)} jobs/s (concurrency ${concurrency})`);
  return { name: `BullMQ (concurrency ${concurrency})`, messages: N, elapsedMs, rate, ok: true, notes: { concurrency, trials } };
}

// ---------------------------------------------------------------------------------------------------------
// c. PROPEL: preload N increments, spawn worker processes, time from "all ready" to every group drained.
// ---------------------------------------------------------------------------------------------------------
function workerEnv(url: string, ns: string): Record<string, string> {
  return { PROPEL_REDIS_URL: url, PROPEL_NAMESPACE: ns, PROPEL_PARTITIONS: String(P) };
}

async function propel(target: Target, workers: number): Promise<ThroughputResult> {
  const tag = `propel${workers}${target.kind === 'cluster' ? '-cluster' : ''}`;
  const keys = new Keys(freshNamespace(tag));
  const redis = target.connect(`bench-${tag}`);
  const procs: WorkerProcess[] = [];
  try {
    const table = actorTable(M, P);
    log(`${tag}: preloading ${fmtInt(N)} increments over ${fmtInt(M)} actors (${keys.ns})`);
    await preloadIncrements(redis, keys, table, N);
    log(`${tag}: spawning ${workers} worker process(es)`);
    const env = { ...target.env, PROPEL_NAMESPACE: keys.ns, PROPEL_PARTITIONS: String(P) };
    for (let i = 0; i < workers; i++) procs.push(track(spawnWorker(`${tag}-w${i + 1}`, env, { echoWarnings: true, echoAll: args.verbose })));
    const { ids, at: startedAt } = await allReady(procs);
    const atStart = backlogOf(await inboxStates(redis, keys, P));
    log(`${tag}: START all ready (${ids.join(', ')}); ${fmtInt(N - atStart)} messages already handled during start-up`);
    const isAlive = () => {
      const dead = procs.find((w) => w.exitInfo());
      return dead ? `worker ${dead.label} exited (${JSON.stringify(dead.exitInfo())}):\n${dead.tail()}` : undefined;
    };
    const doneAt = await waitDrained(redis, keys, P, {
      progress: (backlog) => log(`${tag}: ${fmtInt(N - backlog)}/${fmtInt(N)} done`),
      isAlive,
    });
    const elapsedMs = doneAt - startedAt;
    const rate = (N / elapsedMs) * 1000;
    const afterReadyRate = (atStart / elapsedMs) * 1000; // only the turns still to do when all were ready
    log(`${tag}: drained in ${(elapsedMs / 1000).toFixed(2)} s after ready → ${fmtInt(rate)} turns/s (${fmtInt(afterReadyRate)}/s counting only turns after ready)`);
    const { sum, missing } = await sumCounters(redis, keys, table);
    const ok = sum === N && missing === 0;
    log(`${tag}: count check: sum of counters ${fmtInt(sum)} vs ${fmtInt(N)} sent, ${missing} actors without a record → ${ok ? 'MATCH' : 'MISMATCH'}`);
    if (!ok) fail(`${tag}: sum of counters ${sum} != ${N} (${missing} actors missing)`);
    return {
      name: `Propel, ${workers} worker${workers > 1 ? 's' : ''}${target.kind === 'cluster' ? `, ${args.masters}-master cluster` : ''}`,
      messages: N,
      elapsedMs,
      rate,
      ok,
      notes: { workers, target: target.kind, namespace: keys.ns, handledBeforeReady: N - atStart, rateCountingOnlyAfterReady: Math.round(afterReadyRate), counterSum: sum, actorsMissing: missing },
    };
  } finally {
    await Promise.all(procs.map((w) => w.stop('SIGTERM')));
    redis.disconnect();
  }
}

// ---------------------------------------------------------------------------------------------------------
// d. LATENCY: 1 worker, messages offered at a fixed rate; latency = audit `at` − send time.
// ---------------------------------------------------------------------------------------------------------
async function latency(url: string): Promise<LatencyResult> {
  const keys = new Keys(freshNamespace('latency'));
  const redis = connect(url, 'bench-latency');
  const procs: WorkerProcess[] = [];
  try {
    const table = actorTable(M, P);
    log(`latency: spawning 1 worker (${keys.ns})`);
    procs.push(track(spawnWorker('latency-w1', workerEnv(url, keys.ns), { echoWarnings: true, echoAll: args.verbose })));
    await allReady(procs);
    // The groups are created as the worker takes its partitions: wait for all 16 before offering load.
    for (const deadline = Date.now() + 15_000; ; ) {
      const states = await inboxStates(redis, keys, P);
      if (states.every((s) => s.groupExists)) break;
      if (Date.now() > deadline) throw new Error('latency: the worker did not take all partitions within 15 s');
      await sleep(50);
    }
    const total = Math.round(RATE * SECONDS);
    const sentAt = new Map<string, number>();
    let sent = 0;
    log(`latency: START offering ${fmtInt(RATE)} msgs/s for ${SECONDS} s (${fmtInt(total)} messages)`);
    const started = performance.now();
    const stopProgress = every(1000, async () => {
      const backlog = backlogOf(await inboxStates(redis, keys, P));
      log(`latency: sent ${fmtInt(sent)}/${fmtInt(total)}, backlog ${fmtInt(backlog)}`);
    });
    try {
      while (sent < total) {
        const due = Math.min(total, Math.floor((RATE * (performance.now() - started)) / 1000));
        if (due > sent) {
          const pipe = redis.pipeline();
          for (; sent < due; sent++) {
            const a = sent % M;
            const id = `${keys.ns}:l${sent}`;
            const now = Date.now();
            sentAt.set(id, now);
            pipe.xadd(keys.inbox(table.partition[a]), '*', 'e', incrementEnvelope(id, table.ids[a], now));
          }
          const results = await pipe.exec();
          const err = results?.find(([e]) => e);
          if (err) throw err[0];
        }
        await sleep(2);
      }
    } finally {
      stopProgress();
    }
    const sendMs = performance.now() - started;
    const achieved = (total / sendMs) * 1000;
    log(`latency: sent ${fmtInt(total)} in ${(sendMs / 1000).toFixed(2)} s (${fmtInt(achieved)}/s); waiting for the worker to drain`);
    await waitDrained(redis, keys, P, {
      progress: (backlog) => log(`latency: draining, backlog ${fmtInt(backlog)}`),
      isAlive: () => (procs[0].exitInfo() ? `the latency worker exited:\n${procs[0].tail()}` : undefined),
    });
    const latencies: number[] = [];
    await readAudit(redis, keys, P, (r) => {
      const t = sentAt.get(r.messageId);
      if (t !== undefined) {
        latencies.push(r.at - t);
        sentAt.delete(r.messageId);
      }
    });
    latencies.sort((a, b) => a - b);
    latencySamples = latencies;
    const ok = latencies.length === total;
    if (!ok) fail(`latency: ${total - latencies.length} of ${total} messages have no audit record`);
    const res: LatencyResult = {
      offeredRate: RATE,
      seconds: SECONDS,
      sent: total,
      achievedSendRate: Math.round(achieved),
      measured: latencies.length,
      p50: quantile(latencies, 0.5),
      p90: quantile(latencies, 0.9),
      p99: quantile(latencies, 0.99),
      max: latencies[latencies.length - 1] ?? NaN,
      ok,
    };
    log(`latency: ${fmtInt(res.measured)} turns: p50 ${fmtMs(res.p50)}, p90 ${fmtMs(res.p90)}, p99 ${fmtMs(res.p99)}, max ${fmtMs(res.max)}`);
    return res;
  } finally {
    await Promise.all(procs.map((w) => w.stop('SIGTERM')));
    redis.disconnect();
  }
}

// ---------------------------------------------------------------------------------------------------------

async function phase<T>(name: string, run: () => Promise<T>): Promise<T | undefined> {
  if (!PHASES.has(name)) return undefined;
  try {
    return await run();
  } catch (err) {
    fail(`${name}: ${(err as Error).stack ?? err}`);
    return undefined;
  }
}

/** Throughput bars with the two target lines, and under them the latency percentile curve; undefined if no phase ran. */
function renderCharts(
  results: { raw?: ThroughputResult; bullmq?: ThroughputResult; propel1?: ThroughputResult; propel2?: ThroughputResult; latency?: LatencyResult },
  redisInfo: Record<string, string>,
): string | undefined {
  const raw = results.raw?.rate ?? NaN;
  const bull = results.bullmq?.rate ?? NaN;
  const relative = (rate: number) =>
    [Number.isFinite(bull) ? `${fmtRatio(rate / bull)} BullMQ` : '', Number.isFinite(raw) ? `${((rate / raw) * 100).toFixed(0)}% of raw` : ''].filter(Boolean).join(' · ');
  const spec: Array<[string, string, string, ThroughputResult | undefined, boolean]> = [
    ['raw', 'raw ceiling', '#8a8a8a', results.raw, false],
    ['bullmq', 'BullMQ', '#e07b2a', results.bullmq, false],
    ['propel1', 'Propel, 1 worker', '#2f6fb0', results.propel1, true],
    ['propel2', 'Propel, 2 workers', '#1d4f85', results.propel2, true],
  ];
  const bars: Bar[] = spec
    .filter(([phaseName]) => PHASES.has(phaseName))
    .map(([, fallback, color, r, compare]) => ({
      label: r?.name ?? fallback,
      value: r ? r.rate : null,
      unit: 'msgs/s',
      color,
      missing: 'phase failed',
      note: r ? [compare ? relative(r.rate) : '', r.ok ? '' : 'COUNT CHECK FAILED'].filter(Boolean).join(' · ') || undefined : undefined,
    }));
  const when = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const setup = [`Redis ${redisInfo.version ?? '?'} AOF ${redisInfo.appendfsync ?? '?'}`, `${cpus().length} CPUs, load ${loadavg()[0].toFixed(2)}`, args.quick ? 'quick run' : '', when].filter(Boolean);
  const parts: Part[] = [];
  if (bars.length) {
    const one = results.propel1?.rate ?? NaN;
    const verdict = (x: number, goal: number) => (Number.isFinite(x) ? (x >= goal ? 'met' : 'MISSED') : 'n/a');
    parts.push(
      barChart({
        title: `Throughput: ${fmtInt(N)} increments over ${fmtInt(M)} actors, ${P} partitions`,
        subtitle: setup.join(' · '),
        bars,
        targets: [
          { value: 3 * bull, label: `3× BullMQ = ${fmtInt(3 * bull)}` },
          { value: 0.6 * raw, label: `60% of raw = ${fmtInt(0.6 * raw)}` },
        ],
        axisLabel: 'messages per second (higher is better)',
        format: fmtInt,
        footnotes: [
          `Propel: all ${fmtInt(N)} preloaded, timed from every worker's "ready" line until all ${P} groups are drained.`,
          `Target: 1 worker ≥ 3× BullMQ (${verdict(one / bull, 3)}) and ≥ 60% of raw (${verdict(one / raw, 0.6)}).`,
        ],
      }),
    );
  }
  const lat = results.latency;
  if (lat) {
    parts.push(
      latencyChart({
        title: `Turn latency: 1 worker, ${fmtInt(lat.offeredRate)} msgs/s offered for ${lat.seconds} s`,
        subtitle: [`${fmtInt(lat.measured)} turns`, `${fmtInt(lat.achievedSendRate)} msgs/s achieved`, `max ${fmtMs(lat.max)}`].join(' · '),
        sortedMs: latencySamples,
        footnotes: ['Latency: the turn\'s audit time (`at`) minus the time its message was sent (XADD).'],
      }),
    );
  }
  return parts.length ? svgDocument(parts) : undefined;
}

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

// ---------------------------------------------------------------------------------------------------------
// --cluster: the Propel phases on a single Redis and on a local K-master Redis Cluster, in one run.
// ---------------------------------------------------------------------------------------------------------
interface ClusterPair {
  workers: number;
  single?: ThroughputResult;
  cluster?: ThroughputResult;
  /** cluster rate / single rate. */
  ratio: number;
}

/** Bars for single and cluster per worker count, the cluster bar annotated with its ratio to single. */
function renderClusterChart(pairs: ClusterPair[], redisInfo: Record<string, string>): string | undefined {
  const bars: Bar[] = pairs.flatMap((pair) => [
    { label: `${pair.workers} worker${pair.workers > 1 ? 's' : ''}, single Redis`, value: pair.single?.rate ?? null, unit: 'msgs/s', color: '#2f6fb0', missing: 'phase failed', note: pair.single && !pair.single.ok ? 'COUNT CHECK FAILED' : undefined },
    {
      label: `${pair.workers} worker${pair.workers > 1 ? 's' : ''}, ${args.masters}-master cluster`,
      value: pair.cluster?.rate ?? null,
      unit: 'msgs/s',
      color: '#7a3fa0',
      missing: 'phase failed',
      note: pair.cluster ? [`${fmtRatio(pair.ratio)} single`, pair.cluster.ok ? '' : 'COUNT CHECK FAILED'].filter(Boolean).join(' · ') : undefined,
    },
  ]);
  if (!bars.length) return undefined;
  const when = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const setup = [`Redis ${redisInfo.version ?? '?'} AOF ${redisInfo.appendfsync ?? '?'}`, `${cpus().length} CPUs, load ${loadavg()[0].toFixed(2)}`, args.quick ? 'quick run' : '', when].filter(Boolean);
  return svgDocument([
    barChart({
      title: `Propel on a ${args.masters}-master Redis Cluster vs one Redis: ${fmtInt(N)} increments, ${fmtInt(M)} actors, ${P} partitions`,
      subtitle: setup.join(' · '),
      bars,
      axisLabel: 'messages per second (higher is better)',
      format: fmtInt,
      footnotes: [
        `Same run, same machine: the ${args.masters} cluster masters, the single redis-server and the workers share ${cpus().length} CPUs,`,
        'so the ratio is the cost of cluster routing (per-slot pipelines, more connections), not scale-out.',
      ],
    }),
  ]);
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
