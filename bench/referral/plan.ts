/** The referrals of one phase (one activity, sharer s<k> invites invitee i<k>, application `${activity}:i<k>`), their send and commit times read back from the audit streams, and the statistics drawn from them. */
import { Redis } from 'ioredis';
import { actorAddress, Keys, partitionOf } from '../../common';
import { REFERRAL_TERMINAL_STATUSES, referralActor } from '../../actors';
import type { ReferralState } from '../../actors';
import { readAudit } from '../lib/propel';
import { fmtInt, fmtMs, quantile } from '../lib/util';
import { P } from './config';

export interface Plan {
  activityId: string;
  count: number;
  apps: string[];
  sharers: string[];
  invitees: string[];
  partition: Int32Array;
  /** actor address (`referral/<app>`) → index. */
  index: Map<string, number>;
  /** ms since the epoch: when the Accept (HTTP: the share request) and the TaskCompleted were sent. */
  acceptSent: Float64Array;
  taskSent: Float64Array;
  /** ms since the epoch: commit times of the turns, from the audit stream entry ids (Redis time). */
  relationAt: Float64Array;
  taskAt: Float64Array;
  terminalAt: Float64Array;
  terminalStatus: Array<string | undefined>;
  /** Audit records of this plan's applications (turns committed). */
  turns: number;
}

export function makePlan(activityId: string, count: number): Plan {
  const apps: string[] = new Array(count);
  const sharers: string[] = new Array(count);
  const invitees: string[] = new Array(count);
  const partition = new Int32Array(count);
  const index = new Map<string, number>();
  for (let k = 0; k < count; k++) {
    sharers[k] = `s${k}`;
    invitees[k] = `i${k}`;
    apps[k] = `${activityId}:i${k}`;
    const ref = { type: referralActor.type, id: apps[k] };
    partition[k] = partitionOf(ref, P);
    index.set(actorAddress(ref), k);
  }
  const nan = () => new Float64Array(count).fill(NaN);
  return { activityId, count, apps, sharers, invitees, partition, index, acceptSent: nan(), taskSent: nan(), relationAt: nan(), taskAt: nan(), terminalAt: nan(), terminalStatus: new Array(count), turns: 0 };
}

/** Reads the audit streams from `fromMs` on and fills in the plan's commit times. */
export async function collectTimes(redis: Redis, keys: Keys, plan: Plan, fromMs: number): Promise<void> {
  plan.turns = 0;
  await readAudit(
    redis,
    keys,
    P,
    (r, committedMs) => {
      const k = plan.index.get(r.actor);
      if (k === undefined) return;
      plan.turns++;
      if (r.from === r.to) return;
      if (r.to === 'RELATION_ESTABLISHED') plan.relationAt[k] = committedMs;
      else if (r.to === 'TASK_COMPLETED') plan.taskAt[k] = committedMs;
      else if (REFERRAL_TERMINAL_STATUSES.has(r.to as ReferralState['status'])) {
        plan.terminalAt[k] = committedMs;
        plan.terminalStatus[k] = r.to;
      }
    },
    fromMs - 1_000,
  );
}

export const minOf = (a: Float64Array) => a.reduce((m, v) => (v < m ? v : m), Infinity);
export const maxOf = (a: Float64Array) => a.reduce((m, v) => (v > m ? v : m), -Infinity);
export const countOf = (a: Float64Array) => a.reduce((n, v) => (Number.isNaN(v) ? n : n + 1), 0);

/** Sorted differences b[k] − a[k] where both are known. */
export function diffs(a: Float64Array, b: Float64Array): number[] {
  const out: number[] = [];
  for (let k = 0; k < a.length; k++) if (!Number.isNaN(a[k]) && !Number.isNaN(b[k])) out.push(b[k] - a[k]);
  return out.sort((x, y) => x - y);
}

export interface Percentiles {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}
export function percentiles(sorted: number[]): Percentiles {
  const r = (v: number) => Math.round(v * 10) / 10;
  return { n: sorted.length, p50: r(quantile(sorted, 0.5)), p90: r(quantile(sorted, 0.9)), p99: r(quantile(sorted, 0.99)), max: sorted.length ? r(sorted[sorted.length - 1]) : NaN };
}
export const fmtP = (p: Percentiles) => `p50 ${fmtMs(p.p50)}, p90 ${fmtMs(p.p90)}, p99 ${fmtMs(p.p99)}, max ${fmtMs(p.max)} (${fmtInt(p.n)})`;
