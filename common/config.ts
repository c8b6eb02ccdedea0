import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { DEFAULTS } from './constants';
import { ErrorCode, PropelError } from './errors';

const redisSchema = z.object({
  /** redis:// or rediss:// URL of a standalone server. */
  url: z.string().default('redis://127.0.0.1:6379'),
  /** Seed nodes of a Redis Cluster ("host:port"); when set, `url` is ignored. */
  cluster: z.array(z.string().regex(/^[^:]+:\d+$/, 'cluster nodes are written host:port')).optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  tls: z.boolean().default(false),
  /** PEM of the CA that signs the server certificate (TLS). */
  tlsCa: z.string().optional(),
});

const runtimeSchema = z.object({
  namespace: z.string().regex(/^[a-zA-Z0-9_.-]{1,32}$/, 'the namespace is 1-32 letters, digits, ".", "_" or "-"').default(DEFAULTS.namespace),
  partitions: z.number().int().min(1).max(16384).default(DEFAULTS.partitions),
  batchSize: z.number().int().min(1).max(10_000).default(DEFAULTS.batchSize),
  blockMs: z.number().int().min(10).default(DEFAULTS.blockMs),
  maxInFlight: z.number().int().min(1).default(DEFAULTS.maxInFlight),
  maxDeliveries: z.number().int().min(1).default(DEFAULTS.maxDeliveries),
  retryBaseMs: z.number().int().min(0).default(DEFAULTS.retryBaseMs),
  retryMaxMs: z.number().int().min(0).default(DEFAULTS.retryMaxMs),
  heartbeatMs: z.number().int().min(20).default(DEFAULTS.heartbeatMs),
  memberTtlMs: z.number().int().min(100).default(DEFAULTS.memberTtlMs),
  leaseTtlMs: z.number().int().min(100).default(DEFAULTS.leaseTtlMs),
  claimIdleMs: z.number().int().min(0).default(DEFAULTS.claimIdleMs),
  tickMs: z.number().int().min(5).default(DEFAULTS.tickMs),
  timerRedeliveryMs: z.number().int().min(100).default(DEFAULTS.timerRedeliveryMs),
  actorLeaseMs: z.number().int().min(300).default(DEFAULTS.actorLeaseMs),
  callTimeoutMs: z.number().int().min(10).default(DEFAULTS.callTimeoutMs),
  maxConcurrentCalls: z.number().int().min(1).default(DEFAULTS.maxConcurrentCalls),
  maxQueuedCalls: z.number().int().min(1).default(DEFAULTS.maxQueuedCalls),
  auditMaxLen: z.number().int().min(1).default(DEFAULTS.auditMaxLen),
  /** Time-based audit retention (hours, fractions allowed); 0 turns it off and leaves only auditMaxLen. */
  auditRetentionHours: z.number().min(0).default(DEFAULTS.auditRetentionHours),
  auditTrimEveryMs: z.number().int().min(10).default(DEFAULTS.auditTrimEveryMs),
  deadMaxLen: z.number().int().min(1).default(DEFAULTS.deadMaxLen),
  historyLimit: z.number().int().min(0).default(DEFAULTS.historyLimit),
  seenLimit: z.number().int().min(1).default(DEFAULTS.seenLimit),
  stateCacheSize: z.number().int().min(0).default(DEFAULTS.stateCacheSize),
  maxEntryBytes: z.number().int().min(64).default(DEFAULTS.maxEntryBytes),
  drainTimeoutMs: z.number().int().min(0).default(DEFAULTS.drainTimeoutMs),
  /** Worker id in the membership registry; defaults to host-pid-random. */
  workerId: z.string().regex(/^[a-zA-Z0-9_.:-]{1,100}$/).optional(),
});

/** Sweepers (apps/sweeper): the splitter → loader → executor compensation over the due index (ADR 5). */
const sweepSchema = z.object({
  tickMs: z.number().int().min(10).default(DEFAULTS.sweepTickMs),
  graceMs: z.number().int().min(0).default(DEFAULTS.sweepGraceMs),
  maxRetries: z.number().int().min(0).default(DEFAULTS.sweepMaxRetries),
  backoffBaseMs: z.number().int().min(1).default(DEFAULTS.sweepBackoffBaseMs),
  backoffCapMs: z.number().int().min(1).default(DEFAULTS.sweepBackoffCapMs),
  jitter: z.number().min(0).max(1).default(DEFAULTS.sweepJitter),
  pageSize: z.number().int().min(1).max(10_000).default(DEFAULTS.sweepPageSize),
  maxPerTask: z.number().int().min(1).default(DEFAULTS.sweepMaxPerTask),
  partitionsPerTask: z.number().int().min(1).default(DEFAULTS.sweepPartitionsPerTask),
  leaderTtlMs: z.number().int().min(100).default(DEFAULTS.sweepLeaderTtlMs),
  actorLeaseMs: z.number().int().min(100).default(DEFAULTS.sweepActorLeaseMs),
  claimIdleMs: z.number().int().min(100).default(DEFAULTS.sweepClaimIdleMs),
  concurrency: z.number().int().min(1).default(DEFAULTS.sweepConcurrency),
  streamMaxLen: z.number().int().min(100).default(DEFAULTS.sweepStreamMaxLen),
});

const configSchema = z.object({
  redis: redisSchema.default({ url: 'redis://127.0.0.1:6379', tls: false }),
  runtime: runtimeSchema.default(() => runtimeSchema.parse({})),
  sweep: sweepSchema.default(() => sweepSchema.parse({})),
});

export type RedisConfig = z.infer<typeof redisSchema>;
export type RuntimeConfig = z.infer<typeof runtimeSchema>;
export type SweepConfig = z.infer<typeof sweepSchema>;
export type PropelConfig = z.infer<typeof configSchema>;
export type PropelOptions = {
  redis?: Partial<z.input<typeof redisSchema>>;
  runtime?: Partial<z.input<typeof runtimeSchema>>;
  sweep?: Partial<z.input<typeof sweepSchema>>;
};

/**
 * Raw options → defaults → one validated config. Fails fast with every problem named, so a mistyped
 * setting stops the process at start instead of misbehaving under load.
 */
export function compileConfig(options: PropelOptions = {}): PropelConfig {
  const result = configSchema.safeParse(options);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new PropelError(ErrorCode.InvalidConfig, `invalid Propel configuration: ${problems}`);
  }
  const cfg = result.data;
  if (cfg.runtime.leaseTtlMs <= cfg.runtime.heartbeatMs * 2) {
    throw new PropelError(ErrorCode.InvalidConfig, 'runtime.leaseTtlMs must be more than twice runtime.heartbeatMs, or leases lapse between renewals');
  }
  if (cfg.sweep.leaderTtlMs <= cfg.sweep.tickMs * 2) {
    throw new PropelError(ErrorCode.InvalidConfig, 'sweep.leaderTtlMs must be more than twice sweep.tickMs: the splitter renews its leader lease once per tick');
  }
  if (cfg.sweep.backoffCapMs < cfg.sweep.backoffBaseMs) {
    throw new PropelError(ErrorCode.InvalidConfig, 'sweep.backoffCapMs must be at least sweep.backoffBaseMs');
  }
  return cfg;
}

const ENV_NUMBERS: Array<[string, keyof RuntimeConfig]> = [
  ['PROPEL_PARTITIONS', 'partitions'],
  ['PROPEL_BATCH_SIZE', 'batchSize'],
  ['PROPEL_MAX_IN_FLIGHT', 'maxInFlight'],
  ['PROPEL_MAX_DELIVERIES', 'maxDeliveries'],
  ['PROPEL_HEARTBEAT_MS', 'heartbeatMs'],
  ['PROPEL_MEMBER_TTL_MS', 'memberTtlMs'],
  ['PROPEL_LEASE_TTL_MS', 'leaseTtlMs'],
  ['PROPEL_CLAIM_IDLE_MS', 'claimIdleMs'],
  ['PROPEL_TICK_MS', 'tickMs'],
  ['PROPEL_ACTOR_LEASE_MS', 'actorLeaseMs'],
  ['PROPEL_CALL_TIMEOUT_MS', 'callTimeoutMs'],
  ['PROPEL_MAX_CONCURRENT_CALLS', 'maxConcurrentCalls'],
  ['PROPEL_MAX_QUEUED_CALLS', 'maxQueuedCalls'],
  ['PROPEL_STATE_CACHE_SIZE', 'stateCacheSize'],
  ['PROPEL_AUDIT_RETENTION_HOURS', 'auditRetentionHours'],
];

const SWEEP_ENV_NUMBERS: Array<[string, keyof SweepConfig]> = [
  ['PROPEL_SWEEP_TICK_MS', 'tickMs'],
  ['PROPEL_SWEEP_GRACE_MS', 'graceMs'],
  ['PROPEL_SWEEP_MAX_RETRIES', 'maxRetries'],
  ['PROPEL_SWEEP_BACKOFF_BASE_MS', 'backoffBaseMs'],
  ['PROPEL_SWEEP_BACKOFF_CAP_MS', 'backoffCapMs'],
  ['PROPEL_SWEEP_JITTER', 'jitter'],
  ['PROPEL_SWEEP_PAGE_SIZE', 'pageSize'],
  ['PROPEL_SWEEP_MAX_PER_TASK', 'maxPerTask'],
  ['PROPEL_SWEEP_PARTITIONS_PER_TASK', 'partitionsPerTask'],
  ['PROPEL_SWEEP_LEADER_TTL_MS', 'leaderTtlMs'],
  ['PROPEL_SWEEP_ACTOR_LEASE_MS', 'actorLeaseMs'],
  ['PROPEL_SWEEP_CLAIM_IDLE_MS', 'claimIdleMs'],
  ['PROPEL_SWEEP_CONCURRENCY', 'concurrency'],
];

/** Options from the environment (documented in the Configuration section of README.md). */
export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env): PropelOptions {
  const runtime: Record<string, unknown> = {};
  if (env.PROPEL_NAMESPACE) runtime.namespace = env.PROPEL_NAMESPACE;
  if (env.PROPEL_WORKER_ID) runtime.workerId = env.PROPEL_WORKER_ID;
  for (const [name, key] of ENV_NUMBERS) {
    const raw = env[name];
    if (raw !== undefined && raw !== '') {
      const value = Number(raw);
      if (!Number.isFinite(value)) throw new PropelError(ErrorCode.InvalidConfig, `${name} must be a number (got ${JSON.stringify(raw)})`);
      runtime[key] = value;
    }
  }
  const redis: Record<string, unknown> = {};
  const url = env.PROPEL_REDIS_URL ?? env.REDIS_URL;
  if (url) redis.url = url;
  if (env.PROPEL_REDIS_CLUSTER) redis.cluster = env.PROPEL_REDIS_CLUSTER.split(',').map((s) => s.trim()).filter(Boolean);
  if (env.PROPEL_REDIS_USERNAME) redis.username = env.PROPEL_REDIS_USERNAME;
  if (env.PROPEL_REDIS_PASSWORD) redis.password = env.PROPEL_REDIS_PASSWORD;
  if (env.PROPEL_REDIS_TLS === '1' || env.PROPEL_REDIS_TLS === 'true') redis.tls = true;
  if (env.PROPEL_REDIS_TLS_CA_FILE) redis.tlsCa = readFileSync(env.PROPEL_REDIS_TLS_CA_FILE, 'utf8');
  const sweep: Record<string, unknown> = {};
  for (const [name, key] of SWEEP_ENV_NUMBERS) {
    const raw = env[name];
    if (raw !== undefined && raw !== '') {
      const value = Number(raw);
      if (!Number.isFinite(value)) throw new PropelError(ErrorCode.InvalidConfig, `${name} must be a number (got ${JSON.stringify(raw)})`);
      sweep[key] = value;
    }
  }
  return { redis, runtime, sweep } as PropelOptions;
}
