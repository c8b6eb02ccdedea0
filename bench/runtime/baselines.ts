/** The baselines Propel is compared with: (a) the raw ceiling of one batched ioredis loop on the same stream layout, (b) BullMQ doing the same work. */
import { performance } from 'node:perf_hooks';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { decode, encode, Keys } from '../../common';
import { actorTable, connect, COUNTER, preloadIncrements } from '../lib/propel';
import { every, fmtInt, freshNamespace, log, warn } from '../lib/util';
import { args, M, N, P, RAW_COUNT } from './config';
import type { ThroughputResult } from './config';

// ---------------------------------------------------------------------------------------------------------
// a. RAW CEILING: one batched loop on ioredis, the same stream layout as Propel.
// ---------------------------------------------------------------------------------------------------------
export async function rawCeiling(url: string): Promise<ThroughputResult> {
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

export async function bullmq(port: number): Promise<ThroughputResult> {
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
