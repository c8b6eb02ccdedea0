import { Cluster, Command, Redis, RedisOptions } from 'ioredis';
import { RedisConfig } from '../config';
import type { RedisClient } from './client';
import { registerScripts } from './scripts';

export type { RedisClient };

function baseOptions(cfg: RedisConfig): RedisOptions {
  const options: RedisOptions = { maxRetriesPerRequest: null, enableAutoPipelining: true };
  if (cfg.username) options.username = cfg.username;
  if (cfg.password) options.password = cfg.password;
  if (cfg.tls || cfg.url.startsWith('rediss://')) options.tls = cfg.tlsCa ? { ca: cfg.tlsCa } : {};
  return options;
}

/**
 * Opens a command connection with Propel's Lua scripts registered. Blocking reads must not share it:
 * use `duplicateForBlocking` so an XREADGROUP BLOCK never stalls commits behind it.
 */
export function createRedis(cfg: RedisConfig, name = 'propel'): RedisClient {
  const options = { ...baseOptions(cfg), connectionName: name };
  let client: RedisClient;
  if (cfg.cluster && cfg.cluster.length > 0) {
    const nodes = cfg.cluster.map((hp) => {
      const i = hp.lastIndexOf(':');
      return { host: hp.slice(0, i), port: Number(hp.slice(i + 1)) };
    });
    // No auto-pipelining on a Cluster: ioredis 6 can group commands of different slot groups into one
    // pipeline while its slot map is (re)loading and fails them all. Batching is explicit here anyway.
    client = new Cluster(nodes, { redisOptions: { ...options, enableAutoPipelining: false }, enableAutoPipelining: false, scaleReads: 'master' });
  } else {
    client = new Redis(cfg.url, options);
  }
  registerScripts(client);
  return client;
}

/** A connection of its own for blocking commands; closing it unblocks the read at once. */
export function duplicateForBlocking(client: RedisClient): RedisClient {
  const dup: RedisClient = isCluster(client) ? client.duplicate() : client.duplicate();
  registerScripts(dup);
  return dup;
}

export function isCluster(client: RedisClient): client is Cluster {
  return client instanceof Cluster;
}

/** Closes a connection without waiting on replies that will never come (a blocked read). */
export async function closeQuietly(client: RedisClient | undefined): Promise<void> {
  if (!client) return;
  try {
    client.disconnect();
  } catch {
    // already closed
  }
}

/**
 * Sends a command and returns its reply with Buffers (binary-safe). ioredis 6's `callBuffer` breaks under
 * auto-pipelining (it drops the command name), so the command is built and sent directly.
 */
export function commandBuffer<T = unknown>(client: RedisClient, name: string, ...args: Array<string | Buffer | number>): Promise<T> {
  const command = new Command(name.toLowerCase(), args, { replyEncoding: null });
  void client.sendCommand(command);
  return command.promise as Promise<T>;
}

// What ioredis throws while a server or a cluster slot is unreachable: a passing condition, not a bug. ioredis
// gives most of these no code ("Too many Cluster redirections", "Connection is closed"), so the message is what is
// matched here, in one place beside the connection, instead of at each caller.
const UNAVAILABLE = /Too many Cluster redirections|Connection is closed|ECONNREFUSED|ECONNRESET|ETIMEDOUT|CLUSTERDOWN|TRYAGAIN|LOADING|MASTERDOWN|Failed to refresh slots cache|Reached the max retries per request/;

/** True for errors of an unreachable or failing-over Redis (connection loss, cluster redirections, LOADING). */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return ['MaxRetriesPerRequestError', 'ClusterAllFailedError'].includes(err.name) || UNAVAILABLE.test(err.message);
}
