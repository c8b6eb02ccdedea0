/** The runtime bench's SVGs: throughput bars against the targets with the latency curve, and single Redis vs cluster. */
import { cpus, loadavg } from 'node:os';
import { Bar, barChart, latencyChart, Part, svgDocument } from '../lib/svg';
import { fmtInt, fmtMs, fmtRatio } from '../lib/util';
import { args, latencySamples, M, N, P, PHASES } from './config';
import type { LatencyResult, ThroughputResult } from './config';

/** Throughput bars with the two target lines, and under them the latency percentile curve; undefined if no phase ran. */
export function renderCharts(
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
        sortedMs: latencySamples.sorted,
        footnotes: ['Latency: the turn\'s audit time (`at`) minus the time its message was sent (XADD).'],
      }),
    );
  }
  return parts.length ? svgDocument(parts) : undefined;
}

// ---------------------------------------------------------------------------------------------------------
// --cluster: the Propel phases on a single Redis and on a local K-master Redis Cluster, in one run.
// ---------------------------------------------------------------------------------------------------------
export interface ClusterPair {
  workers: number;
  single?: ThroughputResult;
  cluster?: ThroughputResult;
  /** cluster rate / single rate. */
  ratio: number;
}

/** Bars for single and cluster per worker count, the cluster bar annotated with its ratio to single. */
export function renderClusterChart(pairs: ClusterPair[], redisInfo: Record<string, string>): string | undefined {
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
