import type { RedisClient } from '../redis/connection';
import type { WorkerStatus } from './runtime-metrics';

/**
 * One health check, answered by /health. A probe resolves (optionally with details) when healthy and
 * throws an Error whose message says what is wrong when not; a probe that takes longer than `timeoutMs`
 * counts as down. Liveness probes are also answered by /health/live: only what a restart could fix belongs
 * there (Redis being down does not).
 */
export interface HealthProbe {
  /** The key in the answer (`redis`, `worker`, ...). */
  readonly key: string;
  readonly liveness?: boolean;
  readonly timeoutMs?: number;
  check(signal: AbortSignal): Promise<Record<string, unknown> | void> | Record<string, unknown> | void;
}

/**
 * Redis answers PING. Commands queue while ioredis reconnects, so a connection not ready is down at once. The
 * connection may be given as a function, for apps that open it later (a worker's, in its transport's listen).
 */
export function redisProbe(connection: RedisClient | (() => RedisClient | undefined), key = 'redis', timeoutMs = 1_000): HealthProbe {
  return {
    key,
    timeoutMs,
    async check() {
      const redis = typeof connection === 'function' ? connection() : connection;
      if (!redis) throw new Error('no Redis connection yet (starting)');
      if (redis.status !== 'ready') throw new Error(`not connected to Redis (connection ${redis.status})`);
      const reply = await redis.ping();
      if (reply !== 'PONG') throw new Error(`Redis answered PING with ${JSON.stringify(reply)}`);
    },
  };
}

/** Something that reports a WorkerStatus (RedisStreamsServer does). */
export interface WorkerStatusSource {
  workerStatus(): WorkerStatus;
}

/**
 * What the worker probe concludes from a status, at `now`: healthy while it runs and its membership heartbeat
 * is fresher than the member TTL (it is in the registry, so it owns partitions or is being given some).
 * Pure, so it is unit-tested without a worker.
 */
export function judgeWorker(s: WorkerStatus, now: number): { ok: true; details: Record<string, unknown> } | { ok: false; reason: string } {
  if (!s.running) return { ok: false, reason: `worker ${s.workerId} is not running (starting or shutting down)` };
  if (s.lastHeartbeatAt === undefined) return { ok: false, reason: `worker ${s.workerId} has not completed a membership heartbeat yet` };
  const age = now - s.lastHeartbeatAt;
  if (age > s.memberTtlMs) {
    return { ok: false, reason: `worker ${s.workerId} has had no successful membership heartbeat for ${age} ms (member TTL ${s.memberTtlMs} ms): the others count it as gone, its partitions move` };
  }
  return { ok: true, details: { workerId: s.workerId, partitions: s.ownedPartitions, members: s.members, heartbeatAgeMs: age, callsRunning: s.calls.running, callsQueued: s.calls.queued } };
}

/** The worker is in the membership registry and running (see judgeWorker). */
export function workerProbe(source: WorkerStatusSource, key = 'worker'): HealthProbe {
  return {
    key,
    check() {
      const verdict = judgeWorker(source.workerStatus(), Date.now());
      if (!verdict.ok) throw new Error(verdict.reason);
      return verdict.details;
    },
  };
}
