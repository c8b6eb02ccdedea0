import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Keys, PropelOptions, RedisActorStore, RedisStreamsServer, RedisStreamsServerOptions } from '../../common';
import type { ActorRecord } from '../../common';

const ROOT = join(__dirname, '..', '..');

/** Settings that make hand-overs quick in tests; production defaults are in common/constants.ts. */
export function fastRuntime(ns: string, extra: Record<string, unknown> = {}) {
  return { namespace: ns, partitions: 8, heartbeatMs: 100, memberTtlMs: 800, leaseTtlMs: 800, tickMs: 20, retryBaseMs: 10, claimIdleMs: 2000, ...extra };
}

/**
 * The environment of a spawned worker (spawnWorker) with fastRuntime's hand-over settings, and /metrics off
 * (PROPEL_METRICS_PORT 0) unless `extra` names a port; `extra` adds or overrides variables.
 */
export function fastWorkerEnv(ns: string, partitions: number, extra: Record<string, string> = {}): Record<string, string> {
  const r = fastRuntime(ns, { partitions });
  return {
    PROPEL_NAMESPACE: ns,
    PROPEL_PARTITIONS: String(partitions),
    PROPEL_HEARTBEAT_MS: String(r.heartbeatMs),
    PROPEL_MEMBER_TTL_MS: String(r.memberTtlMs),
    PROPEL_LEASE_TTL_MS: String(r.leaseTtlMs),
    PROPEL_TICK_MS: String(r.tickMs),
    PROPEL_METRICS_PORT: '0',
    ...extra,
  };
}

/** Starts a worker in this process; resolves once it has taken its partitions. */
export async function startWorker(url: string, options: Omit<RedisStreamsServerOptions, 'config'> & { runtime: Record<string, unknown> }): Promise<RedisStreamsServer> {
  const config: PropelOptions = { redis: { url }, runtime: options.runtime };
  const server = new RedisStreamsServer({ ...options, config });
  await new Promise<void>((resolve, reject) => server.listen((err) => (err ? reject(err) : resolve())));
  return server;
}

export interface WorkerProcess {
  child: ChildProcess;
  workerId: Promise<string>;
  output(): string;
  exited: Promise<number | null>;
}

/** An app of apps/ started as a real process: `ready` resolves with the id its "ready <id>" line names. */
export interface AppProcess {
  child: ChildProcess;
  ready: Promise<string>;
  output(): string;
  exited: Promise<number | null>;
}

/** Spawns apps/<app>/main.ts as a real process (TypeScript compiled on load), for tests that kill it. */
export function spawnApp(app: string, url: string, env: Record<string, string>): AppProcess {
  const child = spawn(process.execPath, ['-r', join(ROOT, 'scripts', 'register.js'), join(ROOT, 'apps', app, 'main.ts')], {
    cwd: ROOT,
    env: { ...process.env, PROPEL_REDIS_URL: url, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const ready = new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const m = /ready (\S+)/.exec(out);
      if (m) resolve(m[1]);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${app} exited (${code}) before it was ready:\n${out}`)));
  });
  ready.catch(() => undefined);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, ready, output: () => out, exited };
}

/** Spawns apps/worker as a real process. */
export function spawnWorker(url: string, env: Record<string, string>): WorkerProcess {
  const { ready, ...rest } = spawnApp('worker', url, env);
  return { ...rest, workerId: ready };
}

/** Polls until `check` returns a truthy value, or fails with the last value seen. */
export async function waitFor<T>(check: () => Promise<T> | T, timeoutMs = 20_000, what = 'condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await check();
    if (last) return last as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Reads an actor record through the runtime's store. */
export function readRecord<S>(redis: Redis, keys: Keys, partition: number, type: string, id: string): Promise<ActorRecord<S> | null> {
  return new RedisActorStore(redis, keys).load<S>(partition, { type, id });
}

/** Sum of lag and pending over the actor group of every partition inbox (0 when all is consumed). */
export async function backlog(redis: Redis, keys: Keys, partitions: number): Promise<number> {
  let total = 0;
  for (let p = 0; p < partitions; p++) {
    const groups = (await redis.xinfo('GROUPS', keys.inbox(p)).catch(() => null)) as unknown[][] | null;
    const g = groups?.find((x) => x[1] === 'actors');
    if (!g) {
      if ((await redis.xlen(keys.inbox(p))) > 0) total += await redis.xlen(keys.inbox(p));
      continue;
    }
    const field = (name: string) => g[g.indexOf(name) + 1];
    // Redis reports lag as null when it cannot tell (after deletions): count what follows last-delivered.
    const lag = field('lag');
    const behind = lag === null || lag === undefined ? (await redis.xrange(keys.inbox(p), `(${String(field('last-delivered-id'))}`, '+')).length : Number(lag);
    total += behind + Number(field('pending') ?? 0);
  }
  return total;
}
