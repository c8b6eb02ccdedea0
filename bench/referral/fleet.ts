/** What every phase stands on: the processes it measures (CPU, quiet waits), Redis and the worker processes (Ctx), and the waits that fail a phase when it stalls or a process dies. */
import { Redis } from 'ioredis';
import { Keys, RedisActorStore, RedisStreamsClient } from '../../common';
import type { RedisClient } from '../../common';
import { NOTIFICATION_STREAM, referralActor } from '../../actors';
import type { ReferralState } from '../../actors';
import { ActivityComponent, ActivityKeys } from '../../apps/worker/components/activity';
import { RedisProcess } from '../../test/harness/redis-server';
import { log, sleep, warn } from '../lib/util';
import { WorkerProcess } from '../lib/workers';
import { loadRecords } from '../lib/propel';
import { cpuSnapshot as cpuSnapshotOf, waitQuiet as waitQuietFor } from '../lib/cpu';
import { args, PRIZE, QUIET_WAIT_MS, STALL_MS } from './config';
import type { Plan } from './plan';

/** The processes whose CPU a phase reports (100% = one core), by name. */
export interface Procs {
  redis: RedisProcess;
  workers: WorkerProcess[];
  gateway?: WorkerProcess;
}
const pidsOf = (procs: Procs): Record<string, number | undefined> => ({
  redis: procs.redis.process.pid,
  ...Object.fromEntries(procs.workers.map((w) => [w.label, w.child.pid])),
  ...(procs.gateway ? { gateway: procs.gateway.child.pid } : {}),
});
export const cpuSnapshot = (procs: Procs) => cpuSnapshotOf(pidsOf(procs));

/** Other processes used this much of a core during a phase: its numbers say more about them than about Propel. */
const NOISY_OTHER_PERCENT = 25;
export const noisy = (c: Record<string, number>) => (c.other ?? 0) >= NOISY_OTHER_PERCENT;
export function noteNoise(tag: string, c: Record<string, number>): void {
  if (noisy(c)) warn(`${tag}: NOTE other processes used ${c.other}% of a core during this phase: its numbers are not representative of Propel on this machine`);
}

/** Waits (at most QUIET_WAIT_MS; --quiet-wait=false: not at all) for other processes to use under 10% of a core. */
export async function waitQuiet(procs: Procs, what: string): Promise<void> {
  if (args.quietWait) await waitQuietFor(what, () => pidsOf(procs), { maxWaitMs: QUIET_WAIT_MS });
}

/** Per referral: calls and µs of the commands Redis spent the most time in between two snapshots. */
export function commandsPerReferral(a: Map<string, { calls: number; usec: number }>, b: Map<string, { calls: number; usec: number }>, referrals: number, top = 8): Record<string, { calls: number; usec: number }> {
  const rows = [...b].map(([cmd, v]) => ({ cmd, calls: v.calls - (a.get(cmd)?.calls ?? 0), usec: v.usec - (a.get(cmd)?.usec ?? 0) }));
  rows.sort((x, y) => y.usec - x.usec);
  const round = (n: number) => Math.round(n * 100) / 100;
  return Object.fromEntries(rows.slice(0, top).filter((r) => r.calls > 0).map((r) => [r.cmd, { calls: round(r.calls / referrals), usec: round(r.usec / referrals) }]));
}

// ---------------------------------------------------------------------------------------------------------
// Shared context: Redis, the worker processes, a streams client, the activity component.
// ---------------------------------------------------------------------------------------------------------
export interface Ctx {
  url: string;
  keys: Keys;
  redis: Redis;
  client: RedisStreamsClient;
  activity: ActivityComponent;
  activityKeys: ActivityKeys;
  procs: Procs;
}

function isAlive(ctx: Ctx): string | undefined {
  for (const w of [...ctx.procs.workers, ...(ctx.procs.gateway ? [ctx.procs.gateway] : [])]) {
    const e = w.exitInfo();
    if (e) return `${w.label} exited (${JSON.stringify(e)}):\n${w.tail()}`;
  }
  return undefined;
}

/** Entries in the notifications stream: one REFERRAL_TASK_ASSIGNED per relation, one REFERRAL_REWARDED per granted side. */
export const notifications = (ctx: Ctx) => ctx.redis.xlen(ctx.keys.named(NOTIFICATION_STREAM));

/** Statuses of a plan's applications (for a stall report and the final check). */
export async function statuses(ctx: Ctx, plan: Plan): Promise<{ histogram: Record<string, number>; records: Array<{ status: string; state: ReferralState } | null> }> {
  const store = new RedisActorStore(ctx.redis as unknown as RedisClient, ctx.keys);
  const ks = Array.from({ length: plan.count }, (_, k) => k);
  const loaded = await loadRecords<number, ReferralState>(store, ks, (k) => ({ partition: plan.partition[k]!, type: referralActor.type, id: plan.apps[k]! }), 2_000);
  const records = loaded.map((r) => (r ? { status: r.status, state: r.state } : null));
  const histogram: Record<string, number> = {};
  for (const r of records) {
    const s = r?.status ?? 'missing';
    histogram[s] = (histogram[s] ?? 0) + 1;
  }
  return { histogram, records };
}

/**
 * Waits until `progress()` reaches `goal`; logs once a second; fails when nothing moved for STALL_MS (with
 * the plan's statuses) or a process died.
 */
export async function waitUntil(ctx: Ctx, plan: Plan, what: string, goal: number, progress: () => Promise<number>, line: (n: number) => string): Promise<void> {
  let last = -1;
  let lastChange = Date.now();
  let lastReport = Date.now();
  for (;;) {
    const n = await progress();
    if (n >= goal) return;
    const now = Date.now();
    if (n !== last) {
      last = n;
      lastChange = now;
    } else if (now - lastChange > STALL_MS) {
      const { histogram } = await statuses(ctx, plan);
      throw new Error(`${what}: no progress for ${STALL_MS / 1000} s at ${n}/${goal}; application statuses ${JSON.stringify(histogram)}`);
    }
    const dead = isAlive(ctx);
    if (dead) throw new Error(dead);
    if (now - lastReport >= 1_000) {
      lastReport = now;
      log(line(n));
    }
    await sleep(10);
  }
}

export async function defineActivity(ctx: Ctx, activityId: string, referrals: number): Promise<void> {
  // A budget far larger than the run needs: every side of every referral is granted.
  await ctx.activity.define({ id: activityId, timeZone: 'UTC', budget: { total: Math.max(1_000, 10 * 2 * referrals) }, prize: PRIZE });
}
