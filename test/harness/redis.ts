import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { redisServerBinary, startRedisServer } from './redis-server';

/** A Redis for one test file, and how it was obtained. */
export interface TestRedis {
  url: string;
  kind: 'testcontainers' | 'redis-server' | 'REDIS_URL';
  stop(): Promise<void>;
}

function containerRuntimeLikely(): boolean {
  return Boolean(process.env.DOCKER_HOST) || existsSync('/var/run/docker.sock') || existsSync(`${process.env.HOME}/.docker/run/docker.sock`);
}

/**
 * One factory for every integration test's Redis: testcontainers where a container engine answers, else a
 * redis-server started on a free port, else REDIS_URL. Each caller gets its own server (or, with REDIS_URL,
 * its own namespace), so tests never depend on leftovers.
 */
export async function startTestRedis(): Promise<TestRedis> {
  if (containerRuntimeLikely() && process.env.PROPEL_TEST_NO_CONTAINERS !== '1') {
    try {
      // Loaded lazily: testcontainers is only needed where a container engine exists.
      const { GenericContainer, Wait } = await import('testcontainers');
      const container = await new GenericContainer('redis:7-alpine').withExposedPorts(6379).withWaitStrategy(Wait.forLogMessage('Ready to accept connections')).start();
      return { url: `redis://${container.getHost()}:${container.getMappedPort(6379)}`, kind: 'testcontainers', stop: async () => void (await container.stop()) };
    } catch {
      // no usable engine after all: fall through
    }
  }
  if (redisServerBinary()) {
    const server = await startRedisServer();
    return { url: server.url, kind: 'redis-server', stop: () => server.stop() };
  }
  if (process.env.REDIS_URL) return { url: process.env.REDIS_URL, kind: 'REDIS_URL', stop: async () => undefined };
  throw new Error('no Redis for tests: no container engine, no redis-server binary (scripts/ensure-redis.sh installs it) and no REDIS_URL');
}

/** A namespace no other test uses: the unique key prefix of one test. */
export function uniqueNamespace(label = 't'): string {
  return `${label.replace(/[^a-zA-Z0-9]/g, '').slice(0, 12)}${randomBytes(4).toString('hex')}`;
}

/** Deletes every key of a namespace (cleanup after a test that shares a server). */
export async function dropNamespace(url: string, ns: string): Promise<void> {
  const redis = new Redis(url);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `{${ns}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/**
 * Registers beforeAll/afterAll for a test file: a Redis of its own (see startTestRedis) and a connection to
 * it. Read `url` and `redis` inside tests, not at module load.
 */
export function useTestRedis(): { readonly url: string; readonly redis: Redis } {
  const ctx = {} as { url: string; redis: Redis; server?: TestRedis };
  beforeAll(async () => {
    ctx.server = await startTestRedis();
    ctx.url = ctx.server.url;
    ctx.redis = new Redis(ctx.url);
  });
  afterAll(async () => {
    ctx.redis?.disconnect();
    await ctx.server?.stop();
  });
  return ctx;
}
