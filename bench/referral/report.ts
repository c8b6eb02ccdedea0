/** The referral bench's SVG: saturation and latency bars against their targets, and the latency distributions. */
import { cpus } from 'node:os';
import { Bar, barChart, latencyChart, Part, svgDocument } from '../lib/svg';
import { fmtInt, fmtMs } from '../lib/util';
import { fmtCpu } from '../lib/cpu';
import { args, P, TARGET_AT_RATE, TARGET_P99_MS, TARGET_RATE, WORKERS } from './config';
import { latencySamples } from './direct';
import type { LatencyResult, SaturationResult } from './direct';

export interface Results {
  saturation?: SaturationResult;
  latency?: LatencyResult;
  http?: SaturationResult;
  httpLatency?: LatencyResult;
}

export const verdict = (ok: boolean | undefined) => (ok === undefined ? 'n/a' : ok ? 'MET' : 'MISSED');

export function renderCharts(results: Results, redisInfo: Record<string, string>): string | undefined {
  const parts: Part[] = [];
  const when = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const setup = [`Redis ${redisInfo.version ?? '?'} AOF ${redisInfo.appendfsync ?? '?'}`, `${WORKERS} worker process${WORKERS > 1 ? 'es' : ''}`, `${P} partitions`, `${cpus().length} CPUs`, args.quick ? 'quick run' : '', when].filter(Boolean).join(' · ');
  const { saturation: sat, http } = results;
  if (sat || http) {
    const bars: Bar[] = [];
    if (sat) {
      bars.push({ label: 'gateway-free: full lifecycle', value: sat.lifecycleRate, unit: 'referrals/s', color: '#2f6fb0', note: `${fmtInt(sat.referrals)} referrals` });
      bars.push({ label: 'gateway-free: reward phase', value: sat.rewardPhaseRate, unit: '/s', color: '#6d9fd4', note: 'TaskCompleted → terminal' });
      bars.push({ label: 'gateway-free: accept phase', value: sat.acceptPhaseRate, unit: '/s', color: '#6d9fd4', note: 'accept → relation' });
    }
    if (http) {
      bars.push({ label: 'HTTP: full lifecycle', value: http.lifecycleRate, unit: 'referrals/s', color: '#e07b2a', note: `${fmtInt(http.referrals)} referrals, ${http.concurrency} in flight` });
      bars.push({ label: 'HTTP: reward phase', value: http.rewardPhaseRate, unit: '/s', color: '#f0a868' });
      bars.push({ label: 'HTTP: accept phase', value: http.acceptPhaseRate, unit: '/s', color: '#f0a868' });
    }
    parts.push(
      barChart({
        title: 'Referral lifecycles at saturation',
        subtitle: setup,
        bars,
        targets: [{ value: TARGET_RATE, label: `target ${fmtInt(TARGET_RATE)} referrals/s` }],
        axisLabel: 'per second (higher is better)',
        format: fmtInt,
        footnotes: [
          'Full lifecycle: first accept sent → last terminal turn committed (relation, TaskCompleted, both rewards).',
          `Target ≥ ${fmtInt(TARGET_RATE)} referrals/s (gateway-free): ${verdict(sat ? sat.lifecycleRate >= TARGET_RATE : undefined)}.`,
          ...(sat ? [`CPU meanwhile (100% = one core): ${fmtCpu(sat.cpuPercent)}.`] : []),
        ],
      }),
    );
  }
  const { latency: lat, httpLatency: hl } = results;
  if (lat || hl) {
    const bars: Bar[] = [];
    for (const [r, name, color] of [
      [lat, 'gateway-free', '#2f6fb0'],
      [hl, 'HTTP', '#e07b2a'],
    ] as const) {
      if (!r) continue;
      for (const q of ['p50', 'p90', 'p99'] as const) bars.push({ label: `${name} ${q} at ${fmtInt(r.offeredRate)}/s`, value: r.toTerminal[q], unit: 'ms', color });
    }
    parts.push(
      barChart({
        title: 'TaskCompleted → terminal state',
        subtitle: [lat ? `gateway-free ${fmtInt(lat.offeredRate)}/s for ${lat.seconds} s` : '', hl ? `HTTP ${fmtInt(hl.offeredRate)}/s for ${hl.seconds} s` : ''].filter(Boolean).join(' · '),
        bars,
        targets: [{ value: TARGET_P99_MS, label: `target p99 ≤ ${TARGET_P99_MS} ms at ${fmtInt(TARGET_AT_RATE)}/s` }],
        axisLabel: 'milliseconds (lower is better)',
        format: (v) => (v < 10 ? v.toFixed(1) : v.toFixed(0)),
        footnotes: [
          'Latency: commit of the terminal turn (Redis time of its audit entry) − when the TaskCompleted (HTTP: the request) was sent.',
          `Target p99 ≤ ${TARGET_P99_MS} ms at ${fmtInt(TARGET_AT_RATE)}/s (gateway-free): ${verdict(lat && lat.offeredRate === TARGET_AT_RATE ? lat.toTerminal.p99 <= TARGET_P99_MS : undefined)}.`,
          ...(lat ? [`CPU meanwhile (100% = one core): ${fmtCpu(lat.cpuPercent)}.`] : []),
        ],
      }),
    );
  }
  if (lat) {
    parts.push(
      latencyChart({
        title: `Gateway-free: TaskCompleted → terminal at ${fmtInt(lat.offeredRate)}/s`,
        subtitle: [`${fmtInt(lat.toTerminal.n)} referrals`, `${fmtInt(lat.achievedSendRate)}/s achieved`, `max ${fmtMs(lat.toTerminal.max)}`].join(' · '),
        sortedMs: latencySamples.direct,
      }),
    );
  }
  if (hl) {
    parts.push(
      latencyChart({
        title: `HTTP: task-completed request → terminal at ${fmtInt(hl.offeredRate)}/s`,
        subtitle: [`${fmtInt(hl.toTerminal.n)} referrals`, `${fmtInt(hl.achievedSendRate)}/s achieved`, `max ${fmtMs(hl.toTerminal.max)}`].join(' · '),
        sortedMs: latencySamples.http,
      }),
    );
  }
  return parts.length ? svgDocument(parts) : undefined;
}
