/** Settings of the referral bench: its targets, the command line (`--quick`, `--phases`, ...) and the sizes derived from it, and the run's failure list. */
import { join } from 'node:path';
import { failureList, parseArgs } from '../lib/util';

export const P = 16;
export const TARGET_RATE = 3_000;
export const TARGET_P99_MS = 25;
export const TARGET_AT_RATE = 1_000;
export const STALL_MS = 30_000;
export const PRIZE = { kind: 'points' as const, amount: 10 };

export const args = parseArgs(process.argv.slice(2), {
  referrals: 0,
  rate: 0,
  seconds: 0,
  httpReferrals: 0,
  httpRate: 0,
  httpSeconds: 0,
  concurrency: 64,
  workers: 2,
  warmup: 0,
  phases: 'saturation,latency,http,http-latency',
  quick: false,
  quietWait: true,
  cpuProf: false,
  nodeArgs: '',
  verbose: false,
});
export const N = args.referrals || (args.quick ? 2_000 : 20_000);
export const RATE = args.rate || (args.quick ? 500 : TARGET_AT_RATE);
export const SECONDS = args.seconds || (args.quick ? 3 : 10);
export const HTTP_N = args.httpReferrals || (args.quick ? 500 : 5_000);
export const HTTP_RATE = args.httpRate || (args.quick ? 200 : 500);
export const HTTP_SECONDS = args.httpSeconds || (args.quick ? 3 : 10);
export const CONCURRENCY = Math.max(1, Math.round(args.concurrency));
export const WORKERS = Math.max(1, Math.round(args.workers));
export const WARMUP = args.warmup || Math.min(1_000, Math.max(50, Math.round(N / 20)));
export const PHASES = new Set(args.phases.split(',').map((s) => s.trim()).filter(Boolean));
for (const p of PHASES) if (!['saturation', 'latency', 'http', 'http-latency'].includes(p)) throw new Error(`unknown phase ${p} (known: saturation, latency, http, http-latency)`);
/** In-flight HTTP requests at most during the fixed-rate HTTP phase (an open loop, but not an unbounded one). */
export const HTTP_MAX_IN_FLIGHT = 1_000;
/** How long a phase waits at most for other processes to calm down before it starts. */
export const QUIET_WAIT_MS = 120_000;

export const { failures, fail } = failureList();

/** Node flags of the worker and gateway processes: `--node-args "--max-semi-space-size=64"`, `--cpu-prof`. */
export function profArgs(): string[] {
  const extra = args.nodeArgs.split(/\s+/).filter(Boolean);
  return [...extra, ...(args.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${join(__dirname, '..', 'results', 'profiles')}`] : [])];
}
