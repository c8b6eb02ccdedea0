import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import { log, sleep, warn } from './util';

// Where a benchmark's CPU went, from /proc (100% = one core), and a wait for a quiet machine: these machines
// are shared, and a neighbour's test run must not end up in the numbers unnoticed.

const CLK_TCK = (() => {
  try {
    return Number(execSync('getconf CLK_TCK', { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU time (ms, user + system) a process has used so far; NaN when it is gone or off Linux. */
export function cpuMsOf(pid: number | undefined): number {
  if (!pid) return NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** CPU time (ms, all cores) the whole machine spent not idle, from /proc/stat; NaN off Linux. */
export function machineBusyMs(): number {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, , , irq, softirq, steal] = cpu; // idle and iowait left out
    return ((user + nice + system + irq + softirq + steal) * 1000) / CLK_TCK;
  } catch {
    return NaN;
  }
}

export interface CpuSnapshot {
  at: number;
  byName: Record<string, number>;
}

/** CPU used so far by each named process, by this bench (`bench`) and by the whole machine. */
export function cpuSnapshot(pids: Record<string, number | undefined>): CpuSnapshot {
  const byName: Record<string, number> = {};
  for (const [name, pid] of Object.entries(pids)) byName[name] = cpuMsOf(pid);
  const own = process.cpuUsage();
  byName.bench = (own.user + own.system) / 1000;
  byName.machine = machineBusyMs();
  return { at: performance.now(), byName };
}

/** Percent of one core per process between two snapshots, and `other`: what the rest of the machine used. */
export function cpuPercent(a: CpuSnapshot, b: CpuSnapshot): Record<string, number> {
  const wall = b.at - a.at;
  const out: Record<string, number> = {};
  let ours = 0;
  for (const [name, ms] of Object.entries(b.byName)) {
    const before = a.byName[name];
    if (name === 'machine' || !Number.isFinite(ms) || !Number.isFinite(before)) continue;
    out[name] = Math.round(((ms - before) / wall) * 100);
    ours += ms - before;
  }
  const machine = b.byName.machine - a.byName.machine;
  if (Number.isFinite(machine)) out.other = Math.max(0, Math.round(((machine - ours) / wall) * 100));
  return out;
}

export const fmtCpu = (c: Record<string, number>) =>
  Object.entries(c)
    .map(([k, v]) => `${k} ${v}%`)
    .join(', ');

export interface QuietOptions {
  /** Other processes must stay under this % of one core (default 10)... */
  calmPercent?: number;
  /** ...over this many 2-second windows in a row (default 2). */
  windows?: number;
  /** Give up waiting after this long (default 2 min) and start anyway, saying so. */
  maxWaitMs?: number;
}

/**
 * Waits until processes other than `pids` (and this bench) use little CPU, so a phase does not start in the
 * middle of someone else's work. Returns the % of one core others used in the last window (null off Linux).
 */
export async function waitQuiet(what: string, pids: () => Record<string, number | undefined>, options: QuietOptions = {}): Promise<number | null> {
  if (!Number.isFinite(machineBusyMs())) return null;
  const { calmPercent = 10, windows = 2, maxWaitMs = 120_000 } = options;
  const deadline = Date.now() + maxWaitMs;
  let calm = 0;
  let said = false;
  for (;;) {
    const a = cpuSnapshot(pids());
    await sleep(2_000);
    const other = cpuPercent(a, cpuSnapshot(pids())).other ?? 0;
    calm = other < calmPercent ? calm + 1 : 0;
    if (calm >= windows) return other;
    if (Date.now() > deadline) {
      warn(`${what}: other processes still use ${other}% of a core after ${maxWaitMs / 1000} s; starting anyway`);
      return other;
    }
    if (!said && other >= calmPercent) {
      said = true;
      log(`${what}: waiting for the machine to calm down (other processes use ${other}% of a core)`);
    }
  }
}

/** Redis INFO commandstats: calls and µs per command (commands run inside scripts are counted too). */
export async function commandStats(redis: Redis): Promise<Map<string, { calls: number; usec: number }>> {
  const out = new Map<string, { calls: number; usec: number }>();
  for (const line of (await redis.info('commandstats')).split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line.trim());
    if (m) out.set(m[1], { calls: Number(m[2]), usec: Number(m[3]) });
  }
  return out;
}
