import type { ChildProcess } from 'node:child_process';
import type { Redis } from 'ioredis';
import { actorAddress, compileConfig, createRedis, decode, encode, Keys, partitionOf, RedisActorStore, runTurn } from '../../common';
import type { ActorRecord, AuditRecord, CommitTurn, RedisClient } from '../../common';
import { Sweeper } from '../../common/sweeper';
import type { SweeperRole } from '../../common/sweeper';
import { referralActor } from '../../actors';
import { spawnApp } from './workers';

/** Sweep settings that make stalls and hand-overs quick in tests; production defaults are in common/constants.ts. */
export function fastSweep(extra: Record<string, unknown> = {}) {
  return { tickMs: 100, graceMs: 300, leaderTtlMs: 600, claimIdleMs: 1000, actorLeaseMs: 1000, jitter: 0, ...extra };
}

export interface InProcessSweeper {
  sweeper: Sweeper;
  redis: RedisClient;
  close(): Promise<void>;
}

/** Starts a sweeper with the given roles in this process, on a connection of its own. */
export async function startSweeper(
  url: string,
  opts: { namespace: string; partitions: number; id: string; roles?: SweeperRole[]; sweep?: Record<string, unknown> },
): Promise<InProcessSweeper> {
  const config = compileConfig({ redis: { url }, runtime: { namespace: opts.namespace, partitions: opts.partitions }, sweep: opts.sweep ?? fastSweep() });
  const redis = createRedis(config.redis, `test-sweeper:${opts.id}`);
  const sweeper = new Sweeper({ redis, config, roles: opts.roles ?? ['splitter', 'loader', 'executor'], id: opts.id });
  await sweeper.start();
  return {
    sweeper,
    redis,
    close: async () => {
      await sweeper.stop();
      redis.disconnect();
    },
  };
}

export interface SweeperProcess {
  child: ChildProcess;
  id: Promise<string>;
  output(): string;
  exited: Promise<number | null>;
}

/** Spawns apps/sweeper as a real process, for tests that kill it. */
export function spawnSweeper(url: string, env: Record<string, string>): SweeperProcess {
  const { ready, ...rest } = spawnApp('sweeper', url, env);
  return { ...rest, id: ready };
}

/**
 * Writes referral applications in RELATION_ESTABLISHED whose task deadline passed `overdueMs` ago, as if no
 * worker ran meanwhile: each through the real actor (Accept, then the relation recorded) and committed with
 * the store (records, due scores, audit), with no partition lease check. Returns their partitions.
 */
export async function writeOverdueReferrals(url: string, keys: Keys, partitions: number, ids: string[], overdueMs: number, now = Date.now()): Promise<Map<string, number>> {
  const redis = createRedis({ url, tls: false }, 'test-overdue-writer');
  try {
    return await writeOverdue(redis, keys, partitions, ids, overdueMs, now);
  } finally {
    redis.disconnect();
  }
}

/** writeOverdueReferrals over a connection from createRedis (scripts registered). */
export async function writeOverdue(redis: RedisClient, keys: Keys, partitions: number, ids: string[], overdueMs: number, now = Date.now()): Promise<Map<string, number>> {
  const store = new RedisActorStore(redis, keys);
  const limits = { seenLimit: 32, callTimeoutMs: 30_000 };
  const deadlineMs = 1000;
  const acceptedAt = now - overdueMs - deadlineMs;
  const byPartition = new Map<number, CommitTurn[]>();
  const where = new Map<string, number>();
  for (const id of ids) {
    const ref = { type: referralActor.type, id };
    const p = partitionOf(ref, partitions);
    where.set(id, p);
    const fresh: ActorRecord = { version: 0, state: referralActor.initial(id), status: 'NEW', scheduleTime: null, retryCount: 0, timers: {}, calls: {}, seen: [], createdAt: acceptedAt, updatedAt: acceptedAt };
    const accept = runTurn(referralActor, fresh, { id, message: { type: 'Accept', activityId: 'sweep', sharerId: `sh-${id}`, inviteeId: id, settings: { taskDeadlineHours: deadlineMs / 3_600_000 } } }, { self: ref, now: acceptedAt, messageId: `accept-${id}` }, limits);
    const call = accept.calls[0]!;
    const accepted = { ...accept.record, version: 1 };
    const relation = runTurn(referralActor, accepted, { id, message: { type: 'RelationResult', key: call.key, ok: true, value: {} }, reply: true }, { self: ref, now: acceptedAt, messageId: `relation-${id}` }, limits);
    const turns = byPartition.get(p) ?? [];
    turns.push(
      { ref, entryId: '', expectedVersion: 0, record: accept.record, dueChanged: true, outbox: [], local: [], audit: accept.audit.map((a) => encode(a)) },
      { ref, entryId: '', expectedVersion: 1, record: relation.record, dueChanged: true, outbox: [], local: [], audit: relation.audit.map((a) => encode(a)) },
    );
    byPartition.set(p, turns);
  }
  for (const [p, turns] of byPartition) {
    for (let i = 0; i < turns.length; i += 1000) await store.commit(p, turns.slice(i, i + 1000), '');
  }
  return where;
}

/** The audit records of one actor in its partition's audit stream, in order. */
export async function auditOf(redis: Redis, keys: Keys, partitions: number, ref: { type: string; id: string }): Promise<AuditRecord[]> {
  const p = partitionOf(ref, partitions);
  const entries = (await redis.xrangeBuffer(keys.audit(p), '-', '+')) as Array<[Buffer, Buffer[]]>;
  return entries.map(([, f]) => decode<AuditRecord>(f[1]!)).filter((a) => a.actor === actorAddress(ref));
}

/** Timer-tick envelopes in a partition's inbox, per actor address. */
export async function ticksInInbox(redis: Redis, keys: Keys, p: number): Promise<Map<string, string[]>> {
  const entries = (await redis.xrangeBuffer(keys.inbox(p), '-', '+')) as Array<[Buffer, Buffer[]]>;
  const ticks = new Map<string, string[]>();
  for (const [, f] of entries) {
    const env = decode<{ id: string; key: string; data: { timer?: number } }>(f[1]!);
    if (env.data?.timer === undefined) continue;
    ticks.set(env.key, [...(ticks.get(env.key) ?? []), env.id]);
  }
  return ticks;
}

/** Holds the partition leases for a worker that never consumes (an owner that is stuck): nothing there moves by itself. */
export async function stickOwner(redis: Redis, keys: Keys, partitionList: number[], token = 'stuck-owner', ttlMs = 120_000): Promise<void> {
  for (const p of partitionList) await redis.set(keys.lease(p), token, 'PX', ttlMs);
}
