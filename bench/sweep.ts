/**
 * Sweeper benchmark (`npm run bench:sweep`): how fast a backlog of overdue actors is driven to a terminal state,
 * and how soon actors move again after a worker is SIGKILLed, with 2 workers and 2 sweepers (apps/sweeper, all
 * three roles each), 16 partitions, default settings unless a phase says otherwise.
 *
 *   node -r ./scripts/register.js bench/sweep.ts [--actors 100000] [--kill-runs 3] [--phases overdue,sweepers-only,kill]
 *                                                [--quick] [--verbose]
 *
 * Phases:
 * - overdue: N referral applications in RELATION_ESTABLISHED whose task deadline passed while no worker ran
 *   (records written with the store, through the real actor). With all four processes up, their due entries
 *   appear in one pipeline; the clock runs from there until no partition's due index holds any of them, i.e.
 *   every application committed EXPIRED (target ≤ 10 s). The owners' tickers and the sweepers both move them;
 *   the executors' re-checks keep them from driving any actor twice. Checked afterwards: all N EXPIRED, one
 *   TaskDeadline turn each, none in manual intervention.
 * - sweepers-only: the same with the workers' tickers switched off (PROPEL_TICK_MS=1 h: owners that never fire),
 *   so every actor moves only because a sweeper re-drove it: the sweep pipeline's own capacity.
 * - kill: 2,400 counters with timers coming due every few ms over 16 s; SIGKILL one worker; per partition it
 *   held, the time from the kill to the first timer turn committed there (target ≤ 5 s with the defaults);
 *   afterwards every timer applied exactly once and no due entry left.
 */
import 'reflect-metadata';
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { cpuPercent, cpuSnapshot, waitQuiet as waitQuietFor } from './lib/cpu';
import { Redis } from 'ioredis';
import { createRedis, decode, encodeEnvelope, Keys, partitionOf, RedisActorStore, runTurn } from '../common';
import type { ActorRecord, AuditRecord, CommitTurn, RedisClient } from '../common';
import { SWEEP_AUDIT } from '../common/sweeper';
import { referralActor } from '../actors';
import { RedisProcess, startRedisServer } from '../test/harness/redis-server';
import { backlogOf, connect, inboxStates } from './lib/propel';
import { barChart, svgDocument } from './lib/svg';
import { failureList, fmtInt, freshNamespace, log, machine, machineLine, median, parseArgs, renderTable, reportFailures, saveResults, sleep } from './lib/util';
import { allReady, killTracked, runBench, spawnApp, spawnWorker, stopOnSignal, track, WorkerProcess } from './lib/workers';

const P = 16;
const OVERDUE_TARGET_MS = 10_000;
const KILL_TARGET_MS = 5_000;
const GIVE_UP_MS = 120_000;

const args = parseArgs(process.argv.slice(2), { actors: 100_000, killRuns: 3, phases: 'overdue,sweepers-only,kill', sweepers: 2, ownersOnly: false, quietWait: true, quick: false, verbose: false });
const N = args.quick ? Math.min(args.actors, 5_000) : args.actors;
const KILL_RUNS = args.quick ? Math.min(args.killRuns, 1) : args.killRuns;
const phases = new Set(args.phases.split(',').map((s) => s.trim()));

const { failures, fail } = failureList();

/** apps/sweeper as a process; `ready` resolves on its `ready <id>` line. */
const spawnSweeper = (label: string, env: Record<string, string>): WorkerProcess => spawnApp(label, 'apps/sweeper/main.ts', env, { echoWarnings: true, echoAll: args.verbose });

/** Waits (at most 2 min; --quiet-wait=false: not at all) until other processes use under a fifth of a core. */
async function waitQuiet(what: string): Promise<number | null> {
  return args.quietWait ? waitQuietFor(what, () => ({}), { calmPercent: 20, windows: 1 }) : null;
}

/**
 * Starts measuring where the machine's CPU goes; the returned function gives, in % of one core since then, what
 * the listed processes (and this bench) used together and what everything else on the machine used.
 */
function cpuMeter(pids: () => Array<number | undefined>): () => { ours: number; other: number } | null {
  const named = () => Object.fromEntries(pids().map((pid, i) => [`p${i}`, pid]));
  const start = cpuSnapshot(named());
  return () => {
    const c = cpuPercent(start, cpuSnapshot(named()));
    if (c.other === undefined) return null;
    const ours = Object.entries(c).reduce((sum, [name, v]) => (name === 'other' ? sum : sum + v), 0);
    return { ours, other: c.other };
  };
}

let redisPid: number | undefined;

async function leases(redis: Redis, keys: Keys): Promise<Array<string | null>> {
  const pipe = redis.pipeline();
  for (let p = 0; p < P; p++) pipe.get(keys.lease(p));
  return ((await pipe.exec()) ?? []).map(([, v]) => (v as string | null) ?? null);
}

/** Starts 2 workers and 2 sweepers on a fresh namespace and waits until every partition is held. */
async function startFleet(url: string, keys: Keys, workerEnv: Record<string, string> = {}): Promise<{ workers: WorkerProcess[]; sweepers: WorkerProcess[]; ids: string[] }> {
  // PROPEL_METRICS_PORT=0: several processes on one machine must not fight over a metrics port.
  const env = { PROPEL_REDIS_URL: url, PROPEL_NAMESPACE: keys.ns, PROPEL_PARTITIONS: String(P), PROPEL_METRICS_PORT: '0' };
  const workers = ['A', 'B'].map((l) => track(spawnWorker(`worker-${l}`, { ...env, ...workerEnv, PROPEL_WORKER_ID: `bench-${keys.ns}-${l}` }, { echoWarnings: true, echoAll: args.verbose })));
  const sweepers = Array.from({ length: args.ownersOnly ? 0 : args.sweepers }, (_, i) => String(i + 1)).map((l) => track(spawnSweeper(`sweeper-${l}`, { ...env, PROPEL_SWEEPER_ID: `sweeper-${l}` })));
  const { ids } = await allReady([...workers, ...sweepers]);
  const redis = connect(url, 'bench-sweep-fleet');
  try {
    for (const deadline = Date.now() + 20_000; ; await sleep(100)) {
      const held = await leases(redis, keys);
      if (held.every((h) => h !== null) && ids.slice(0, 2).every((id) => held.includes(id))) break;
      if (Date.now() > deadline) throw new Error(`partitions did not settle: ${JSON.stringify(held)}`);
    }
  } finally {
    redis.disconnect();
  }
  return { workers, sweepers, ids };
}

async function stopFleet(procs: WorkerProcess[]): Promise<void> {
  await Promise.all(procs.map((w) => w.stop('SIGTERM')));
}

interface OverdueResult {
  phase: string;
  actors: number;
  /** ms from the due entries appearing until no due index held any of them. */
  ms: number | null;
  rate: number | null;
  /** Re-drives the sweepers made (SweepRedrive audit records), and how many actors they touched. */
  sweeperRedrives: number;
  statuses: Record<string, number>;
  deadlineTurns: number;
  correct: boolean;
  detail: string;
  /** What other processes used of one core just before the phase (%), null when not measured. */
  otherCpuPercent: number | null;
  /** During the measured time: % of one core used by this bench's processes and by everything else. */
  cpuDuring: { ours: number; other: number } | null;
}

/**
 * Writes N referral applications overdue by up to an hour, records only (no due entries yet), through the
 * real actor: Accept at `acceptedAt`, then the relation recorded, so each has its task deadline timer.
 */
async function writeRecords(redis: RedisClient, keys: Keys, ids: string[]): Promise<Map<number, Array<[score: number, member: string]>>> {
  const store = new RedisActorStore(redis, keys);
  const limits = { seenLimit: 32, callTimeoutMs: 30_000 };
  const due = new Map<number, Array<[number, string]>>();
  const pending = new Map<number, CommitTurn[]>();
  const now = Date.now();
  const flush = async (p: number) => {
    const turns = pending.get(p) ?? [];
    pending.set(p, []);
    if (turns.length) await store.commit(p, turns, '');
  };
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    const ref = { type: referralActor.type, id };
    const p = partitionOf(ref, P);
    // Deadlines spread over the last hour: all long overdue, oldest first in each due index.
    const acceptedAt = now - 3_600_000 + Math.floor((i / ids.length) * 3_000_000);
    const fresh: ActorRecord = { version: 0, state: referralActor.initial(id), status: 'NEW', scheduleTime: null, retryCount: 0, timers: {}, calls: {}, seen: [], createdAt: acceptedAt, updatedAt: acceptedAt };
    const accept = runTurn(referralActor, fresh, { id, message: { type: 'Accept', activityId: 'sweep-bench', sharerId: `sh-${i % 1000}`, inviteeId: id, settings: { taskDeadlineHours: 0.1 } } }, { self: ref, now: acceptedAt, messageId: `a-${id}` }, limits);
    const relation = runTurn(referralActor, { ...accept.record, version: 1 }, { id, message: { type: 'RelationResult', key: accept.calls[0]!.key, ok: true, value: {} }, reply: true }, { self: ref, now: acceptedAt, messageId: `r-${id}` }, limits);
    const record = relation.record;
    // dueChanged false: the record only; the due entries come later, all at once, when the clock starts.
    const list = pending.get(p) ?? [];
    list.push({ ref, entryId: '', expectedVersion: 0, record, dueChanged: false, outbox: [], local: [], audit: [] });
    pending.set(p, list);
    if (list.length >= 500) await flush(p);
    let entries = due.get(p);
    if (!entries) due.set(p, (entries = []));
    entries.push([record.scheduleTime!, `referral/${id}`]);
    if (i > 0 && i % 25_000 === 0) log(`  wrote ${fmtInt(i)} records`);
  }
  for (const p of pending.keys()) await flush(p);
  return due;
}

/** The executors' queue: items not yet read, and read but not yet done. */
async function sweepQueue(redis: Redis, keys: Keys): Promise<string> {
  const groups = (await redis.xinfo('GROUPS', keys.sweepItems()).catch(() => [])) as unknown[][];
  const g = groups.find((x) => x[x.indexOf('name') + 1] === 'sweep-executors');
  return g ? `${g[g.indexOf('lag') + 1] ?? '?'} queued / ${g[g.indexOf('pending') + 1]} in hand` : 'none';
}

async function dueTotal(redis: Redis, keys: Keys): Promise<number> {
  const pipe = redis.pipeline();
  for (let p = 0; p < P; p++) pipe.zcard(keys.due(p));
  return ((await pipe.exec()) ?? []).reduce((sum, [, n]) => sum + Number(n), 0);
}

/** Reads every audit record of every partition (with the ms of its stream id: when Redis committed it). */
async function readAudit(redis: Redis, keys: Keys, onRecord: (p: number, a: AuditRecord, committedMs: number) => void, fromMs = 0): Promise<void> {
  for (let p = 0; p < P; p++) {
    let start = fromMs ? `${Math.floor(fromMs)}-0` : '-';
    for (;;) {
      const batch = (await redis.xrangeBuffer(keys.audit(p), start, '+', 'COUNT', 5000)) as Array<[Buffer, Buffer[]]>;
      for (const [id, fields] of batch) {
        const s = id.toString();
        onRecord(p, decode<AuditRecord>(fields[1]), Number(s.slice(0, s.indexOf('-'))));
      }
      if (batch.length < 5000) break;
      start = `(${batch[batch.length - 1][0].toString()}`;
    }
  }
}

async function overduePhase(url: string, phase: 'overdue' | 'sweepers-only'): Promise<OverdueResult> {
  const keys = new Keys(freshNamespace(phase === 'overdue' ? 'ovd' : 'swo'));
  const redis = connect(url, `bench-sweep-${phase}`);
  const writer = createRedis({ url, tls: false }, 'bench-sweep-writer');
  let fleet: Awaited<ReturnType<typeof startFleet>> | undefined;
  try {
    const ids = Array.from({ length: N }, (_, i) => `b${i}`);
    log(`${phase}: writing ${fmtInt(N)} referral applications in RELATION_ESTABLISHED, deadlines passed up to an hour ago (${keys.ns})`);
    const due = await writeRecords(writer, keys, ids);
    // Owners that never fire: their tickers run once an hour, so only the sweepers move these actors.
    const workerEnv: Record<string, string> = phase === 'sweepers-only' ? { PROPEL_TICK_MS: '3600000' } : {};
    const otherCpu = await waitQuiet(phase);
    log(`${phase}: starting 2 workers${phase === 'sweepers-only' ? ' (tickers off)' : ''} and 2 sweepers (default settings)`);
    fleet = await startFleet(url, keys, workerEnv);
    const pipe = redis.pipeline();
    for (const [p, entries] of due) {
      for (let i = 0; i < entries.length; i += 10_000) pipe.zadd(keys.due(p), ...entries.slice(i, i + 10_000).flat());
    }
    log(`${phase}: all up; the due entries appear now, the clock runs`);
    const meter = cpuMeter(() => [...fleet!.workers, ...fleet!.sweepers].map((w) => w.child.pid).concat(redisPid));
    const t0 = performance.now();
    const startedMs = Date.now();
    await pipe.exec();
    let left = N;
    let lastReport = t0;
    let lastLeft = N;
    let lastChange = t0;
    while (left > 0) {
      await sleep(50);
      left = await dueTotal(redis, keys);
      const now = performance.now();
      if (left !== lastLeft) {
        lastLeft = left;
        lastChange = now;
      }
      if (now - lastReport >= 1000) {
        lastReport = now;
        const backlog = backlogOf(await inboxStates(redis, keys, P));
        const items = await sweepQueue(redis, keys);
        log(`  ${((now - t0) / 1000).toFixed(1)} s: ${fmtInt(N - left)} of ${fmtInt(N)} terminal, ${fmtInt(left)} still due, inbox backlog ${fmtInt(backlog)}, sweep items ${items}`);
      }
      if (now - lastChange > 30_000 || now - t0 > GIVE_UP_MS) break;
    }
    const ms = left === 0 ? performance.now() - t0 : null;
    const cpu = meter();
    if (cpu) log(`${phase}: CPU meanwhile (100% = one core): this bench's processes ${cpu.ours}%, other processes ${cpu.other}%${cpu.other > 25 ? ' — NOT representative' : ''}`);
    if (ms === null) fail(`${phase}: ${left} actors still in the due index after ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    log(`${phase}: ${ms === null ? 'NOT all terminal' : `all ${fmtInt(N)} terminal after ${(ms / 1000).toFixed(2)} s (${fmtInt(N / (ms / 1000))} actors/s)`} → target ≤ ${OVERDUE_TARGET_MS / 1000} s ${ms !== null && ms <= OVERDUE_TARGET_MS ? 'MET' : 'MISSED'}`);

    // Correctness: every application EXPIRED by exactly one TaskDeadline turn, none in manual intervention.
    await sleep(500);
    const statuses: Record<string, number> = {};
    const store = new RedisActorStore(writer, keys);
    for (let p = 0; p < P; p++) {
      const members = (due.get(p) ?? []).map(([, m]) => ({ type: 'referral', id: m.slice('referral/'.length) }));
      for (let i = 0; i < members.length; i += 2000) {
        for (const r of await store.loadMany(p, members.slice(i, i + 2000))) {
          const s = r ? `${r.status}` : 'MISSING';
          statuses[s] = (statuses[s] ?? 0) + 1;
        }
      }
    }
    const deadlineTurns = new Map<string, number>();
    let sweeperRedrives = 0;
    await readAudit(redis, keys, (_p, a) => {
      if (a.message === 'TaskDeadline' && a.to === 'EXPIRED') deadlineTurns.set(a.actor, (deadlineTurns.get(a.actor) ?? 0) + 1);
      if (a.message === SWEEP_AUDIT.redrive) sweeperRedrives++;
    }, startedMs - 1000);
    const twice = [...deadlineTurns.values()].filter((n) => n !== 1).length;
    const correct = statuses.EXPIRED === N && deadlineTurns.size === N && twice === 0;
    const detail = `statuses ${JSON.stringify(statuses)}; ${fmtInt(deadlineTurns.size)} actors expired by a TaskDeadline turn, ${twice} more than once; ${fmtInt(sweeperRedrives)} sweeper re-drives`;
    log(`${phase}: check ${correct ? 'MATCH' : 'MISMATCH'}: ${detail}`);
    if (!correct) fail(`${phase}: ${detail}`);
    return { phase, actors: N, ms: ms === null ? null : Math.round(ms), rate: ms === null ? null : Math.round(N / (ms / 1000)), sweeperRedrives, statuses, deadlineTurns: deadlineTurns.size, correct, detail, otherCpuPercent: otherCpu, cpuDuring: cpu };
  } finally {
    if (fleet) {
      await stopFleet([...fleet.sweepers, ...fleet.workers]);
      for (const s of fleet.sweepers) {
        const line = s.tail(400).split('\n').reverse().find((l) => /stopped; /.test(l));
        if (line) log(`  ${s.label}: ${line.replace(/.*stopped; /, '')}`);
      }
    }
    writer.disconnect();
    redis.disconnect();
  }
}

interface KillResult {
  run: number;
  victimPartitions: number[];
  /** ms from SIGKILL to the first timer turn committed on each partition the victim held. */
  firstMoveMs: Record<string, number | null>;
  lastPartitionMs: number | null;
  timers: number;
  correct: boolean;
  detail: string;
}

async function killRun(url: string, run: number): Promise<KillResult> {
  const keys = new Keys(freshNamespace(`kill${run}`));
  const redis = connect(url, `bench-sweep-kill-${run}`);
  let fleet: Awaited<ReturnType<typeof startFleet>> | undefined;
  try {
    await waitQuiet(`kill run ${run}`);
    log(`kill run ${run}: starting 2 workers and 2 sweepers (default settings; ${keys.ns})`);
    fleet = await startFleet(url, keys);
    const owners = await leases(redis, keys);
    const victim = fleet.workers[1];
    const victimId = fleet.ids[1];
    const victimPartitions = owners.flatMap((o, p) => (o === victimId ? [p] : []));
    // 150 counters per partition, each with one timer; over all partitions one comes due every ~7 ms for 16 s.
    const perPartition = 150;
    const spanMs = 16_000;
    const t0 = Date.now() + 2000;
    const counters: Array<{ id: string; p: number }> = [];
    const byPartition = new Map<number, string[]>();
    for (let i = 0; counters.length < perPartition * P; i++) {
      const id = `k${run}-${i}`;
      const p = partitionOf({ type: 'counter', id }, P);
      const list = byPartition.get(p) ?? [];
      if (list.length >= perPartition) continue;
      list.push(id);
      byPartition.set(p, list);
      counters.push({ id, p });
    }
    const pipe = redis.pipeline();
    counters.forEach(({ id, p }, i) => {
      const at = t0 + Math.floor((i / counters.length) * spanMs);
      pipe.xadd(keys.inbox(p), '*', 'e', encodeEnvelope({ id: `${keys.ns}:later:${id}`, pattern: 'actor:counter', key: `counter/${id}`, data: { id, message: { type: 'incrementLater', by: 1, at } }, ts: Date.now() }));
    });
    await pipe.exec();
    await sleep(t0 - Date.now() + 4000); // timers firing on every partition for a few seconds
    log(`kill run ${run}: SIGKILL ${victim.label} (${victimId}), which holds partitions [${victimPartitions.join(', ')}]`);
    const killedAt = Date.now();
    victim.child.kill('SIGKILL');
    await victim.exited;
    const firstMove = new Map<number, number>();
    for (const deadline = killedAt + 30_000; firstMove.size < victimPartitions.length && Date.now() < deadline; ) {
      await sleep(100);
      for (const p of victimPartitions) {
        if (firstMove.has(p)) continue;
        const after = (await redis.xrangeBuffer(keys.audit(p), `${killedAt + 1}-0`, '+', 'COUNT', 50)) as Array<[Buffer, Buffer[]]>;
        const moved = after.find(([, f]) => decode<AuditRecord>(f[1]).messageId.startsWith('timer:'));
        if (moved) {
          const s = moved[0].toString();
          firstMove.set(p, Number(s.slice(0, s.indexOf('-'))) - killedAt);
        }
      }
    }
    const times = victimPartitions.map((p) => firstMove.get(p) ?? null);
    const last = times.some((t) => t === null) ? null : Math.max(...(times as number[]));
    log(`kill run ${run}: actors of every partition of the victim moving again ${last === null ? 'NEVER' : `${(last / 1000).toFixed(2)} s`} after SIGKILL (${victimPartitions.map((p) => `p${p}=${firstMove.has(p) ? (firstMove.get(p)! / 1000).toFixed(2) : '-'}`).join(' ')})`);
    if (last === null) fail(`kill run ${run}: partitions without a timer turn within 30 s of the kill`);

    // Every timer fires exactly once, and nothing is left due.
    for (const deadline = Date.now() + 30_000; Date.now() < deadline && (await dueTotal(redis, keys)) > 0; ) await sleep(200);
    await sleep(500);
    const store = new RedisActorStore(redis as unknown as RedisClient, keys);
    let wrong = 0;
    for (const [p, list] of byPartition) {
      const recs = await store.loadMany(p, list.map((id) => ({ type: 'counter', id })));
      wrong += recs.filter((r) => (r?.state as { count?: number } | undefined)?.count !== 1).length;
    }
    const leftDue = await dueTotal(redis, keys);
    const correct = wrong === 0 && leftDue === 0;
    const detail = `${counters.length} timers: ${wrong} counters not at exactly 1, ${leftDue} due entries left`;
    log(`kill run ${run}: check ${correct ? 'MATCH' : 'MISMATCH'}: ${detail}`);
    if (!correct) fail(`kill run ${run}: ${detail}`);
    return { run, victimPartitions, firstMoveMs: Object.fromEntries(victimPartitions.map((p) => [String(p), firstMove.get(p) ?? null])), lastPartitionMs: last, timers: counters.length, correct, detail };
  } finally {
    if (fleet) await stopFleet([...fleet.sweepers, ...fleet.workers]);
    redis.disconnect();
  }
}

function renderChart(overdue: OverdueResult[], kills: KillResult[]): string {
  const secs = (ms: number | null) => (ms === null ? null : ms / 1000);
  const when = [`${cpus().length} CPUs, load ${loadavg()[0].toFixed(2)}`, args.quick ? 'quick run' : '', new Date().toISOString().replace(/\.\d+Z$/, 'Z')].filter(Boolean).join(' · ');
  const parts = [];
  if (overdue.length) {
    parts.push(
      barChart({
        title: `Sweep: ${fmtInt(N)} overdue referral applications to a terminal state`,
        subtitle: `2 workers + 2 sweepers, ${P} partitions · ${when}`,
        bars: overdue.map((r) => ({
          label: r.phase === 'overdue' ? 'owners and sweepers' : 'sweepers only (owners never fire)',
          value: secs(r.ms),
          unit: 's',
          note: `${r.rate === null ? '' : `${fmtInt(r.rate)} actors/s · `}${fmtInt(r.sweeperRedrives)} sweeper re-drives${r.correct ? '' : ' · MISMATCH'}`,
          color: r.ms !== null && r.ms <= OVERDUE_TARGET_MS ? '#2f6fb0' : '#c0392b',
          missing: 'not all terminal',
        })),
        targets: [{ value: OVERDUE_TARGET_MS / 1000, label: `target ${OVERDUE_TARGET_MS / 1000} s` }],
        axisLabel: 'seconds until every application is EXPIRED (lower is better)',
        format: (v) => v.toFixed(2),
        formatTick: (v) => `${v} s`,
        footnotes: ['Clock from the moment the due entries appear (all four processes up) until no due index holds any of them.'],
      }),
    );
  }
  if (kills.length) {
    const lasts = kills.map((k) => k.lastPartitionMs).filter((x): x is number => x !== null);
    parts.push(
      barChart({
        title: 'SIGKILL of one of 2 workers: its actors moving again',
        subtitle: `timers coming due on every partition; time to the first timer turn on each of the victim's partitions · ${when}`,
        bars: kills.map((k) => ({
          label: `run ${k.run} (${k.victimPartitions.length} partitions)`,
          value: secs(k.lastPartitionMs),
          unit: 's',
          note: k.correct ? undefined : 'MISMATCH',
          color: k.lastPartitionMs !== null && k.lastPartitionMs <= KILL_TARGET_MS ? '#2f6fb0' : '#c0392b',
          marks: Object.values(k.firstMoveMs).flatMap((ms) => (ms === null ? [] : [ms / 1000])),
          missing: 'a partition never moved',
        })),
        targets: [{ value: KILL_TARGET_MS / 1000, label: `target ${KILL_TARGET_MS / 1000} s` }],
        axisLabel: 'seconds after SIGKILL (lower is better)',
        format: (v) => v.toFixed(2),
        formatTick: (v) => `${v} s`,
        footnotes: [`White ticks: each partition's first timer turn.${lasts.length ? ` Median of the runs: ${(median(lasts) / 1000).toFixed(2)} s.` : ''}`],
      }),
    );
  }
  return svgDocument(parts);
}

async function main(): Promise<void> {
  log(`sweep bench: ${fmtInt(N)} overdue actors, ${KILL_RUNS} kill runs, phases ${[...phases].join(',')}; ${machineLine()}`);
  const server: RedisProcess = await startRedisServer(['--appendonly', 'yes', '--appendfsync', 'everysec']);
  redisPid = server.process.pid;
  stopOnSignal(() => [server]);
  const overdue: OverdueResult[] = [];
  const kills: KillResult[] = [];
  try {
    log(`redis-server on ${server.url} (AOF, appendfsync everysec)`);
    for (const phase of ['overdue', 'sweepers-only'] as const) {
      if (!phases.has(phase)) continue;
      try {
        overdue.push(await overduePhase(server.url, phase));
      } catch (err) {
        fail(`${phase}: ${(err as Error).stack ?? err}`);
      }
    }
    if (phases.has('kill')) {
      for (let run = 1; run <= KILL_RUNS; run++) {
        try {
          kills.push(await killRun(server.url, run));
        } catch (err) {
          fail(`kill run ${run}: ${(err as Error).stack ?? err}`);
        }
      }
    }
  } finally {
    killTracked();
    await server.stop();
  }

  console.log('');
  const fmt = (ms: number | null) => (ms === null ? 'never' : `${(ms / 1000).toFixed(2)} s`);
  if (overdue.length) {
    console.log(`Overdue actors to a terminal state (${fmtInt(N)} referral applications, 2 workers + 2 sweepers, ${P} partitions; target ≤ ${OVERDUE_TARGET_MS / 1000} s)`);
    console.log(renderTable(['phase', 'time', 'actors/s', 'sweeper re-drives', 'check', 'vs target'], overdue.map((r) => [r.phase, fmt(r.ms), r.rate === null ? 'n/a' : fmtInt(r.rate), fmtInt(r.sweeperRedrives), r.correct ? 'ok' : 'MISMATCH', r.ms !== null && r.ms <= OVERDUE_TARGET_MS ? 'MET' : 'MISSED']), [false, true, true, true, false, false]));
  }
  if (kills.length) {
    console.log('');
    console.log(`SIGKILL of one of 2 workers → its actors moving again (default settings; target ≤ ${KILL_TARGET_MS / 1000} s)`);
    console.log(renderTable(['run', 'partitions', 'last partition', 'per partition', 'check'], kills.map((k) => [String(k.run), String(k.victimPartitions.length), fmt(k.lastPartitionMs), k.victimPartitions.map((p) => `p${p}=${fmt(k.firstMoveMs[String(p)])}`).join(' '), k.correct ? 'ok' : 'MISMATCH']), [true, true, true, false, false]));
    const lasts = kills.map((k) => k.lastPartitionMs).filter((x): x is number => x !== null);
    if (lasts.length) console.log(`actors moving again after SIGKILL: median ${fmt(median(lasts))}, max ${fmt(Math.max(...lasts))} → target ≤ ${KILL_TARGET_MS / 1000} s ${Math.max(...lasts) <= KILL_TARGET_MS && lasts.length === kills.length ? 'MET' : 'MISSED'}`);
  }
  const correct = overdue.every((r) => r.correct) && kills.every((k) => k.correct);
  const json = { at: new Date().toISOString(), machine: machine(), settings: { partitions: P, actors: N, killRuns: KILL_RUNS, overdueTargetMs: OVERDUE_TARGET_MS, killTargetMs: KILL_TARGET_MS, quick: args.quick }, overdue, kills, correct, failures };
  failures.push(...saveResults('sweep', json, () => (overdue.length || kills.length ? renderChart(overdue, kills) : undefined)));
  reportFailures(failures);
}

runBench('sweep bench', main);
