/** Settings of the runtime bench: its targets, the command line and the sizes derived from it, where the Propel phases run (Target), the result shapes, and the run's failure list. */
import { BenchRedis, connect, connectCluster } from '../lib/propel';
import { failureList, parseArgs, warn } from '../lib/util';

export const P = 16;
export const RAW_COUNT = 200;

export const args = parseArgs(process.argv.slice(2), {
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
export const AOF = ['--appendonly', 'yes', '--appendfsync', 'everysec'];
export const N = args.messages || (args.quick ? 20_000 : 200_000);
export const M = args.actors || (args.quick ? 2_000 : 10_000);
export const RATE = args.rate || (args.quick ? 2_000 : 5_000);
export const SECONDS = args.seconds || (args.quick ? 3 : 10);
export const PHASES = new Set(args.phases.split(',').map((s) => s.trim()).filter(Boolean));
if (args.cluster) {
  const skipped = [...PHASES].filter((p) => p !== 'propel1' && p !== 'propel2');
  for (const p of skipped) PHASES.delete(p);
  if (skipped.length && args.phases !== 'raw,bullmq,propel1,propel2,latency') warn(`--cluster: skipping ${skipped.join(', ')} (not cluster-ready; only the Propel phases run)`);
}

/** Where the Propel phases run: a single redis-server or a Redis Cluster. */
export interface Target {
  kind: 'single' | 'cluster';
  /** What the worker processes get to find Redis. */
  env: Record<string, string>;
  connect(name: string): BenchRedis;
}

export const singleTarget = (url: string): Target => ({ kind: 'single', env: { PROPEL_REDIS_URL: url }, connect: (name) => connect(url, name) });
export const clusterTarget = (nodes: string[]): Target => ({ kind: 'cluster', env: { PROPEL_REDIS_CLUSTER: nodes.join(',') }, connect: (name) => connectCluster(nodes, name) });

export interface ThroughputResult {
  name: string;
  messages: number;
  elapsedMs: number;
  rate: number;
  ok: boolean;
  notes: Record<string, unknown>;
}

export interface LatencyResult {
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

export const { failures, fail } = failureList();

/** The latency phase's samples (ms, ascending), kept out of the JSON and drawn in the SVG. */
export const latencySamples: { sorted: number[] } = { sorted: [] };
