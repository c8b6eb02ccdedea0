import type { Cluster, Redis } from 'ioredis';

/** A standalone or Cluster connection; both speak the same command API. */
export type RedisClient = Redis | Cluster;
