import { assertValidId } from '../ids';
import { nowOf, OPS_ERRORS, OpsContext, OpsError } from './context';
import { drainFlag, DrainFlag } from './status';

export interface DrainResult {
  workerId: string;
  /** Whether the worker is in the live membership now. */
  live: boolean;
  /** The flag was already set (by someone, at some time): nothing changed. */
  already: boolean;
  flag: DrainFlag;
  /** Live workers not draining that will take its partitions. */
  takers: string[];
  /** Partitions it holds now (it hands them back on its next heartbeat). */
  holding: number[];
}

/**
 * Sets a worker's drain flag: on its next heartbeat it hands every partition back (gracefully, as on shutdown:
 * in-flight turns finish, nothing is left pending) and takes none while the flag is set; the other workers take
 * its share. Refuses (INVALID_INPUT) when no other live worker would take the partitions, unless `force`.
 */
export async function drain(ctx: OpsContext, workerId: string, by: string, options: { force?: boolean } = {}): Promise<DrainResult> {
  assertValidId(workerId, 'worker id');
  const now = nowOf(ctx);
  const [live, flags] = await Promise.all([ctx.redis.zrangebyscore(ctx.keys.members(), now, '+inf'), ctx.redis.hgetall(ctx.keys.drains())]);
  const isLive = live.includes(workerId);
  if (!isLive && !options.force) throw new OpsError(OPS_ERRORS.notFound, `no live worker ${JSON.stringify(workerId)}; live: ${live.sort().join(', ') || 'none'} (force to flag it anyway)`);
  const takers = live.filter((m) => m !== workerId && flags[m] === undefined).sort();
  if (takers.length === 0 && !options.force) {
    throw new OpsError(OPS_ERRORS.invalidInput, `draining ${workerId} would leave no worker to take its partitions (every other live worker is draining or there is none); start another worker first, or force`);
  }
  const flag: DrainFlag = { at: now, by };
  // HSETNX: a second drain keeps the first flag's time and author.
  const set = await ctx.redis.hsetnx(ctx.keys.drains(), workerId, JSON.stringify(flag));
  const stored = set === 1 ? flag : drainFlag((await ctx.redis.hget(ctx.keys.drains(), workerId)) ?? '');
  return { workerId, live: isLive, already: set === 0, flag: stored, takers, holding: await heldBy(ctx, workerId) };
}

/** Clears a worker's drain flag: it takes its share of partitions again on its next heartbeat. */
export async function undrain(ctx: OpsContext, workerId: string): Promise<{ workerId: string; wasDraining: boolean }> {
  assertValidId(workerId, 'worker id');
  return { workerId, wasDraining: (await ctx.redis.hdel(ctx.keys.drains(), workerId)) === 1 };
}

/** Partitions whose lease names the worker: what a drain still waits for. */
export async function heldBy(ctx: OpsContext, workerId: string): Promise<number[]> {
  const holders = await Promise.all([...Array(ctx.partitions).keys()].map((p) => ctx.redis.get(ctx.keys.lease(p))));
  return holders.flatMap((h, p) => (h === workerId ? [p] : []));
}
