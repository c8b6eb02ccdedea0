/**
 * Fail-over benchmark: two worker processes share 16 partitions; one is SIGKILLed and we measure how long
 * its partitions take to answer again (target ≤ 5 s with the default settings).
 *
 *   node -r ./scripts/register.js bench/recovery.ts [--runs 3] [--settle-ms 2000] [--quick] [--verbose]
 *
 * From the kill on, every 100 ms each still-unanswered victim partition gets one `increment` through
 * RedisStreamsClient.ask. A request sent to the dead worker's partition waits in the inbox and is answered
 * once the partition moves, so what counts is when the first *answer* of a partition arrived, not when its
 * request was sent. Afterwards every victim actor's count is checked against the number of requests sent.
 */
import 'reflect-metadata';
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { decode, Keys, partitionOf, RedisStreamsClient } from '../common';
import { counterActor } from '../actors';
import { RedisProcess, startRedisServer } from '../test/harness/redis-server';
import { connect, COUNTER, waitDrained } from './lib/propel';
import { barChart, svgDocument } from './lib/svg';
import { failureList, freshNamespace, log, machine, machineLine, median, parseArgs, renderTable, reportFailures, saveResults, sleep, warn } from './lib/util';
import { allReady, killTracked, runBench, spawnWorker, stopOnSignal, track, WorkerProcess } from './lib/workers';

const P = 16;
const TARGET_MS = 5_000;
const SEND_EVERY_MS = 100;
const CALL_TIMEOUT_MS = 1_000;
const GIVE_UP_MS = 30_000;

const args = parseArgs(process.argv.slice(2), { runs: 3, settleMs: 2000, quick: false, verbose: false });

interface RunResult {
  run: number;
  namespace: string;
  victim: string;
  survivor: string;
  victimPartitions: number[];
  /** ms from SIGKILL to the first answer, per victim partition. */
  firstAnswerMs: Record<string, number | null>;
  /** ms from SIGKILL until the survivor held the partition's lease (polled every ~20 ms). */
  leaseMovedMs: Record<string, number | null>;
  lastPartitionMs: number | null;
  requestsSent: number;
  callTimeouts: number;
  callErrors: number;
  countCheck: { ok: boolean; detail: string };
}

const { failures, fail } = failureList();

/** An actor id of type counter that maps to partition p. */
function actorFor(p: number, prefix: string): string {
  for (let i = 0; ; i++) {
    const id = `${prefix}-${i}`;
    if (partitionOf({ type: COUNTER, id }, P) === p) return id;
  }
}

async function leases(redis: Redis, keys: Keys): Promise<Array<string | null>> {
  const pipe = redis.pipeline();
  for (let p = 0; p < P; p++) pipe.get(keys.lease(p));
  return ((await pipe.exec()) ?? []).map(([, v]) => (v as string | null) ?? null);
}

/** What Redis says about one actor after a count mismatch: its record, audit turns and dead letters. */
async function diagnose(redis: Redis, keys: Keys, p: number, id: string): Promise<string> {
  const ref = { type: COUNTER, id };
  const [v, d] = await redis.hmgetBuffer(keys.actor(p, ref), 'v', 'd');
  const rec = d ? decode<{ state: { count: number; applied: number }; seen: string[]; lastEntry: string }>(d) : undefined;
  const audit = (await redis.xrangeBuffer(keys.audit(p), '-', '+')) as Array<[Buffer, Buffer[]]>;
  const turns = audit.map(([, f]) => decode<{ actor: string }>(f[1])).filter((a) => a.actor === `${COUNTER}/${id}`).length;
  const dead = (await redis.xrange(keys.dead(p), '-', '+')) as Array<[string, string[]]>;
  const reasons = dead.map(([, f]) => f[f.indexOf('reason') + 1]);
  const inbox = (await redis.xrangeBuffer(keys.inbox(p), '-', '+')) as Array<[Buffer, Buffer[]]>;
  // Which inbox entries of this actor have no audit record (were not applied), and where they sit.
  const audited = new Set(audit.map(([, f]) => decode<{ messageId: string }>(f[1]).messageId));
  const mine = inbox.map(([eid, f]) => ({ entry: eid.toString(), env: decode<{ id: string; data: { id: string } }>(f[1]) })).filter((e) => e.env.data?.id === id);
  const unapplied = mine.flatMap((e, i) => (audited.has(e.env.id) ? [] : [`#${i} ${e.entry}`]));
  return `record v=${v?.toString()} count=${rec?.state.count} applied=${rec?.state.applied} lastEntry=${rec?.lastEntry} seen=${rec?.seen.length}; audit turns ${turns}; dead letters ${dead.length}${reasons.length ? ` (${reasons.slice(0, 3).join(' | ')})` : ''}; inbox still holds ${mine.length} of its entries${unapplied.length ? `, not applied: ${unapplied.join(', ')} (first entry ${mine[0]?.entry})` : ''}`;
}

/** Resolves with the reply, or 'timeout' after `ms`; the call itself keeps running (its answer may come later). */
function within<T>(call: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  return Promise.race([call, timeout]).finally(() => clearTimeout(timer));
}

async function oneRun(url: string, run: number): Promise<RunResult> {
  const keys = new Keys(freshNamespace(`rec${run}`));
  const env = { PROPEL_REDIS_URL: url, PROPEL_NAMESPACE: keys.ns, PROPEL_PARTITIONS: String(P) };
  const redis = connect(url, `bench-recovery-${run}`);
  const procs: WorkerProcess[] = [];
  let client: RedisStreamsClient | undefined;
  try {
    log(`run ${run}: starting 2 workers (${keys.ns})`);
    for (const label of ['A', 'B']) procs.push(track(spawnWorker(`run${run}-${label}`, env, { echoWarnings: args.verbose, echoAll: args.verbose })));
    const { ids } = await allReady(procs);
    log(`run ${run}: both ready (${ids.join(', ')}); letting partitions settle for ${args.settleMs} ms`);
    await sleep(args.settleMs);
    // Settled: every lease held, by one of the two, and both own some.
    let owners = await leases(redis, keys);
    for (const deadline = Date.now() + 10_000; ; ) {
      const held = owners.every((o) => o === ids[0] || o === ids[1]);
      if (held && ids.every((id) => owners.includes(id))) break;
      if (Date.now() > deadline) throw new Error(`partitions did not settle: leases ${JSON.stringify(owners)}`);
      await sleep(100);
      owners = await leases(redis, keys);
    }
    const victimIndex = 1;
    const victim = procs[victimIndex];
    const victimId = ids[victimIndex];
    const survivorId = ids[1 - victimIndex];
    const victimPartitions = owners.flatMap((o, p) => (o === victimId ? [p] : []));
    const survivorPartition = owners.findIndex((o) => o === survivorId);
    const actors = new Map(victimPartitions.map((p) => [p, actorFor(p, `r${run}p${p}`)]));
    log(`run ${run}: victim ${victim.label} (${victimId}) owns partitions [${victimPartitions.join(', ')}]; survivor owns ${P - victimPartitions.length}`);

    client = new RedisStreamsClient({ redis: { url }, runtime: { namespace: keys.ns, partitions: P } });
    // Warm the client's reply loop up on a survivor partition, so its start-up is not part of the measure.
    const warm = await within(client.ask(counterActor, actorFor(survivorPartition, `r${run}warm`), { type: 'increment', by: 1 }), 10_000);
    if (warm === 'timeout') throw new Error('the warm-up request to the survivor was not answered within 10 s');

    const firstAnswer = new Map<number, number>();
    const leaseMoved = new Map<number, number>();
    const sentPer = new Map<number, number>();
    const answers = new Map<number, number>();
    const duplicates = new Map<number, number>();
    const races: Promise<unknown>[] = [];
    let sent = 0;
    let timeouts = 0;
    let errors = 0;

    log(`run ${run}: SIGKILL ${victim.label}`);
    const killedAt = performance.now();
    victim.child.kill('SIGKILL');

    // Watch the leases on their own loop: when did the survivor take each victim partition?
    const leaseWatch = (async () => {
      while (leaseMoved.size < victimPartitions.length && performance.now() - killedAt < GIVE_UP_MS) {
        const current = await leases(redis, keys);
        const at = performance.now() - killedAt;
        for (const p of victimPartitions) if (!leaseMoved.has(p) && current[p] === survivorId) leaseMoved.set(p, at);
        await sleep(20);
      }
    })();
    let lastReport = performance.now();
    while (firstAnswer.size < victimPartitions.length) {
      const now = performance.now();
      if (now - killedAt > GIVE_UP_MS) break;
      for (const p of victimPartitions) {
        if (firstAnswer.has(p)) continue;
        sent++;
        sentPer.set(p, (sentPer.get(p) ?? 0) + 1);
        const call = client.ask(counterActor, actors.get(p)!, { type: 'increment', by: 1 });
        call.then(
          (reply) => {
            if (!firstAnswer.has(p)) firstAnswer.set(p, performance.now() - killedAt);
            answers.set(p, (answers.get(p) ?? 0) + 1);
            if (reply.duplicate) duplicates.set(p, (duplicates.get(p) ?? 0) + 1);
          },
          (err) => {
            errors++;
            if (errors <= 3) warn(`run ${run}: request to partition ${p} failed: ${JSON.stringify(err)}`);
          },
        );
        races.push(
          within(call, CALL_TIMEOUT_MS).then(
            (r) => {
              if (r === 'timeout') timeouts++;
            },
            () => undefined,
          ),
        );
      }
      if (now - lastReport >= 1000) {
        lastReport = now;
        log(`run ${run}: ${((now - killedAt) / 1000).toFixed(1)} s after kill: ${firstAnswer.size}/${victimPartitions.length} partitions answered, ${leaseMoved.size} leases moved, ${sent} requests sent`);
      }
      await sleep(Math.max(0, SEND_EVERY_MS - (performance.now() - now)));
    }
    await Promise.all([...races, leaseWatch]);
    const times = victimPartitions.map((p) => firstAnswer.get(p) ?? null);
    const last = times.some((t) => t === null) ? null : Math.max(...(times as number[]));
    if (last === null) fail(`run ${run}: partitions [${victimPartitions.filter((p) => !firstAnswer.has(p)).join(', ')}] not answered within ${GIVE_UP_MS} ms`);
    log(`run ${run}: last partition answered ${last === null ? 'NEVER' : `${(last / 1000).toFixed(2)} s`} after SIGKILL (${sent} requests, ${timeouts} timed out after ${CALL_TIMEOUT_MS} ms, ${errors} errors)`);

    // Every request was appended to an inbox, so once the survivor drained them each victim actor's count
    // must equal the requests it was sent: nothing lost, nothing applied twice.
    let countCheck = { ok: true, detail: '' };
    try {
      await waitDrained(redis, keys, P, { stallMs: 15_000 });
      const pipe = redis.pipeline();
      for (const p of victimPartitions) pipe.hgetBuffer(keys.actor(p, { type: COUNTER, id: actors.get(p)! }), 'd');
      const results = (await pipe.exec()) ?? [];
      const wrong: string[] = [];
      victimPartitions.forEach((p, i) => {
        const d = results[i][1] as Buffer | null;
        const count = d ? decode<{ state: { count: number } }>(d).state.count : 0;
        if (count !== sentPer.get(p)) wrong.push(`p${p}: count ${count}, sent ${sentPer.get(p)}`);
      });
      if (wrong.length) {
        for (const p of victimPartitions) {
          const diag = await diagnose(redis, keys, p, actors.get(p)!);
          log(`run ${run}: p${p} ${actors.get(p)}: sent ${sentPer.get(p)}, answers ${answers.get(p) ?? 0} (${duplicates.get(p) ?? 0} marked duplicate); ${diag}`);
        }
      }
      countCheck = { ok: wrong.length === 0, detail: wrong.length ? wrong.join('; ') : `${victimPartitions.length} actors, counts equal requests sent` };
    } catch (err) {
      countCheck = { ok: false, detail: (err as Error).message };
    }
    log(`run ${run}: count check ${countCheck.ok ? 'MATCH' : 'MISMATCH'}: ${countCheck.detail}`);
    if (!countCheck.ok) fail(`run ${run}: count check: ${countCheck.detail}`);

    return {
      run,
      namespace: keys.ns,
      victim: victimId,
      survivor: survivorId,
      victimPartitions,
      firstAnswerMs: Object.fromEntries(victimPartitions.map((p) => [String(p), firstAnswer.has(p) ? Math.round(firstAnswer.get(p)!) : null])),
      leaseMovedMs: Object.fromEntries(victimPartitions.map((p) => [String(p), leaseMoved.has(p) ? Math.round(leaseMoved.get(p)!) : null])),
      lastPartitionMs: last === null ? null : Math.round(last),
      requestsSent: sent,
      callTimeouts: timeouts,
      callErrors: errors,
      countCheck,
    };
  } finally {
    await client?.close().catch(() => undefined);
    await Promise.all(procs.map((w) => w.stop('SIGTERM')));
    redis.disconnect();
  }
}

/** One bar per run: SIGKILL → last victim partition answering, ticks for each partition, target line at 5 s. */
function renderChart(results: RunResult[], runs: number): string {
  const secs = (ms: number) => ms / 1000;
  const lasts = results.map((r) => r.lastPartitionMs).filter((x): x is number => x !== null);
  const footnotes = ['White ticks: when each of the victim\'s partitions first answered.'];
  if (lasts.length) {
    const fmt = (ms: number) => `${secs(ms).toFixed(2)} s`;
    footnotes.unshift(`Median over ${lasts.length} measured run${lasts.length > 1 ? 's' : ''}: ${fmt(median(lasts))} (min ${fmt(Math.min(...lasts))}, max ${fmt(Math.max(...lasts))}).`);
  }
  const failed = runs - results.length;
  if (failed > 0) footnotes.push(`${failed} of ${runs} runs failed before measuring and are not shown.`);
  return svgDocument([
    barChart({
      title: `Recovery: SIGKILL one of 2 workers, ${P} partitions`,
      subtitle: [`time until the last of the killed worker's partitions answered`, `${cpus().length} CPUs, load ${loadavg()[0].toFixed(2)}`, args.quick ? 'quick run' : '', new Date().toISOString().replace(/\.\d+Z$/, 'Z')].filter(Boolean).join(' · '),
      bars: results.map((r) => ({
        label: `run ${r.run} (${r.victimPartitions.length} partitions)`,
        value: r.lastPartitionMs === null ? null : secs(r.lastPartitionMs),
        unit: 's',
        note: r.countCheck.ok ? undefined : 'COUNT MISMATCH',
        color: r.lastPartitionMs !== null && r.lastPartitionMs <= TARGET_MS ? '#2f6fb0' : '#c0392b',
        missing: `not every partition answered within ${GIVE_UP_MS / 1000} s`,
        marks: Object.values(r.firstAnswerMs).flatMap((ms) => (ms === null ? [] : [secs(ms)])),
      })),
      targets: [{ value: secs(TARGET_MS), label: `target ${secs(TARGET_MS)} s` }],
      axisLabel: 'seconds after SIGKILL (lower is better)',
      format: (v) => v.toFixed(2),
      formatTick: (v) => `${v} s`,
      footnotes,
    }),
  ]);
}

async function main(): Promise<void> {
  const runs = args.quick ? Math.min(args.runs, 3) : args.runs;
  log(`recovery bench: 2 workers, ${P} partitions, default lease/heartbeat settings, ${runs} runs; ${machineLine()}`);
  const server: RedisProcess = await startRedisServer();
  stopOnSignal(() => [server]);
  const results: RunResult[] = [];
  try {
    log(`redis-server on ${server.url}`);
    for (let run = 1; run <= runs; run++) {
      try {
        results.push(await oneRun(server.url, run));
      } catch (err) {
        fail(`run ${run}: ${(err as Error).stack ?? err}`);
      }
    }
  } finally {
    killTracked();
    await server.stop();
  }

  console.log('');
  console.log(`Recovery after SIGKILL of one of 2 workers (${P} partitions; target: every partition answers within ${TARGET_MS / 1000} s)`);
  const fmt = (ms: number | null) => (ms === null ? 'never' : `${(ms / 1000).toFixed(2)} s`);
  const rows = results.map((r) => [
    String(r.run),
    r.victimPartitions.length.toString(),
    fmt(r.lastPartitionMs),
    r.victimPartitions.map((p) => `p${p}=${fmt(r.firstAnswerMs[String(p)])}`).join(' '),
    fmt(Object.values(r.leaseMovedMs).some((v) => v === null) ? null : Math.max(...(Object.values(r.leaseMovedMs) as number[]))),
    r.countCheck.ok ? 'ok' : 'MISMATCH',
  ]);
  console.log(renderTable(['run', 'parts', 'last answer', 'per partition (first answer after SIGKILL)', 'last lease moved', 'counts'], rows, [true, true, true, false, true, false]));
  const lasts = results.map((r) => r.lastPartitionMs).filter((x): x is number => x !== null);
  if (lasts.length) {
    const min = Math.min(...lasts);
    const max = Math.max(...lasts);
    const med = median(lasts);
    console.log(`last partition answered: min ${fmt(min)}, median ${fmt(med)}, max ${fmt(max)} → target ≤ ${TARGET_MS / 1000} s ${max <= TARGET_MS ? 'met' : 'MISSED'} (${lasts.length}/${runs} runs measured)`);
  }
  const json = { at: new Date().toISOString(), machine: machine(), settings: { partitions: P, sendEveryMs: SEND_EVERY_MS, callTimeoutMs: CALL_TIMEOUT_MS, targetMs: TARGET_MS, settleMs: args.settleMs }, runs: results, failures };
  failures.push(...saveResults('recovery', json, () => (results.length ? renderChart(results, runs) : undefined)));
  reportFailures(failures);
}

runBench('recovery bench', main);
