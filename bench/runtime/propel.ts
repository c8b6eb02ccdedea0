/** The Propel phases: (c) throughput with 1 or 2 worker processes, (d) latency at a fixed offered rate. */
import { performance } from 'node:perf_hooks';
import { Keys } from '../../common';
import { actorTable, backlogOf, connect, incrementEnvelope, inboxStates, preloadIncrements, readAudit, sumCounters, waitDrained } from '../lib/propel';
import { every, fmtInt, fmtMs, freshNamespace, log, quantile, sleep } from '../lib/util';
import { allReady, spawnWorker, track, WorkerProcess } from '../lib/workers';
import { args, fail, latencySamples, M, N, P, RATE, SECONDS } from './config';
import type { LatencyResult, Target, ThroughputResult } from './config';

// ---------------------------------------------------------------------------------------------------------
// c. PROPEL: preload N increments, spawn worker processes, time from "all ready" to every group drained.
// ---------------------------------------------------------------------------------------------------------
function workerEnv(url: string, ns: string): Record<string, string> {
  return { PROPEL_REDIS_URL: url, PROPEL_NAMESPACE: ns, PROPEL_PARTITIONS: String(P) };
}

export async function propel(target: Target, workers: number): Promise<ThroughputResult> {
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
export async function latency(url: string): Promise<LatencyResult> {
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
    latencySamples.sorted = latencies;
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
