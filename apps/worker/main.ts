import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { compileConfig, ConfigCache, ConfigStore, createRedis, exitOnSignal, ingestRouteSchema, optionsFromEnv, RedisClient, RedisStreamsServer } from '../../common';
import { METRICS_PORTS, PropelMetrics, startObservability, workerProbe } from '../../common/observability';
import { counterActor, referralActor, taskActor } from '../../actors';
import { ActivityComponent, ActivityFaults, ActivityKeys, components } from './components/activity';
import { flowSourceFrom, redisUserTaskSet, SubscriptionIndex, TASK_CONFIG_KINDS, taskComponents, TaskKeys, taskReceiptResolver } from './components/task';
import { WorkerModule } from './worker.module';

/** Ingest routes from PROPEL_INGEST_ROUTES (a JSON array), validated before the worker starts. */
function ingestRoutes() {
  const raw = process.env.PROPEL_INGEST_ROUTES;
  if (!raw) return [];
  return ingestRouteSchema.array().parse(JSON.parse(raw));
}

/** A rate from 0 to 1 (or a delay) in an environment variable, refused with its name when malformed. */
function envNumber(name: string, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return 0;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || n > max) throw new Error(`${name} must be a number from 0 to ${max}, not ${JSON.stringify(raw)}`);
  return n;
}

/**
 * Downstream faults for tests and chaos runs (never set in production): the activity component fails a
 * share of calls before writing, loses a share of replies after committing, or answers slowly.
 */
function activityFaults(): ActivityFaults | undefined {
  const failRate = envNumber('PROPEL_FAULT_ACTIVITY_FAIL_RATE', 1);
  const afterCommitRate = envNumber('PROPEL_FAULT_ACTIVITY_LOST_REPLY_RATE', 1);
  const delayMs = envNumber('PROPEL_FAULT_ACTIVITY_DELAY_MS', 60_000);
  if (!failRate && !afterCommitRate && !delayMs) return undefined;
  Logger.warn(`fault injection on: activity fail rate ${failRate}, lost-reply rate ${afterCommitRate}, delay ${delayMs} ms`, 'Worker');
  return { failRate, afterCommitRate, delayMs };
}

async function bootstrap(): Promise<void> {
  const config = compileConfig(optionsFromEnv());
  // The activity component answers the referral actor's calls; it has a connection of its own.
  const faults = activityFaults();
  const activity = new ActivityComponent(createRedis(config.redis, 'propel-activity'), new ActivityKeys(config.runtime.namespace), faults ? { faults } : {});
  const metrics = new PropelMetrics({ app: 'worker' });
  // The task center: definitions and flows cached from the configuration center (a change reaches this worker
  // within a second, no restart), its components on a connection of their own, receipts routed from the ingest stream.
  const ns = config.runtime.namespace;
  const taskRedis = createRedis(config.redis, 'propel-tasks');
  const configStore = new ConfigStore(taskRedis, ns, TASK_CONFIG_KINDS);
  const configCache = new ConfigCache(taskRedis, ns, TASK_CONFIG_KINDS);
  await configCache.start();
  const taskKeys = new TaskKeys(ns);
  const strategy = new RedisStreamsServer({
    config,
    actors: [counterActor, referralActor, taskActor],
    components: { ...components(activity), ...taskComponents({ redis: taskRedis, keys: taskKeys, flows: flowSourceFrom(configCache, configStore) }) },
    ingest: ingestRoutes(),
    ingestResolver: taskReceiptResolver({ config: configCache, reader: configStore, subscriptions: new SubscriptionIndex(taskRedis, taskKeys), userTasks: redisUserTaskSet(taskRedis, taskKeys) }),
    metrics,
  });
  const app = await NestFactory.createMicroservice(WorkerModule, { strategy, bufferLogs: false });
  // /metrics and /health on PROPEL_METRICS_PORT (0: off); started first, so a port in use stops the start before
  // any partition is taken. Until the transport has connected, /health answers 503 (not ready yet).
  const observability = await startObservability({ app: 'worker', defaultPort: METRICS_PORTS.worker, metrics, redis: () => strategy.unwrap<RedisClient | undefined>(), probes: [workerProbe(strategy)] });
  await app.listen();
  // Graceful shutdown: stop reading, drain in-flight turns, hand partitions back, then exit 0.
  exitOnSignal('Worker', () => app.close().finally(() => Promise.all([observability.close(), configCache.stop()])));
  // A line supervisors and tests wait for.
  Logger.log(`ready ${strategy.workerId}`, 'Worker');
}

bootstrap().catch((err) => {
  // Fail fast with the reason (an invalid setting, Redis unreachable) instead of limping on.
  Logger.error(err instanceof Error ? err.message : String(err), undefined, 'Worker');
  process.exit(1);
});
