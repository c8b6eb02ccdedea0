import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { compileConfig, createRedis, exitOnSignal, ingestRouteSchema, optionsFromEnv, RedisStreamsServer } from '../../common';
import { counterActor, referralActor } from '../../actors';
import { ActivityComponent, ActivityKeys, components } from './components/activity';
import { WorkerModule } from './worker.module';

/** Ingest routes from PROPEL_INGEST_ROUTES (a JSON array), validated before the worker starts. */
function ingestRoutes() {
  const raw = process.env.PROPEL_INGEST_ROUTES;
  if (!raw) return [];
  return ingestRouteSchema.array().parse(JSON.parse(raw));
}

async function bootstrap(): Promise<void> {
  const config = compileConfig(optionsFromEnv());
  // The activity component answers the referral actor's calls; it has a connection of its own.
  const activity = new ActivityComponent(createRedis(config.redis, 'propel-activity'), new ActivityKeys(config.runtime.namespace));
  const strategy = new RedisStreamsServer({ config, actors: [counterActor, referralActor], components: components(activity), ingest: ingestRoutes() });
  const app = await NestFactory.createMicroservice(WorkerModule, { strategy, bufferLogs: false });
  await app.listen();
  // Graceful shutdown: stop reading, drain in-flight turns, hand partitions back, then exit 0.
  exitOnSignal('Worker', () => app.close());
  // A line supervisors and tests wait for.
  Logger.log(`ready ${strategy.workerId}`, 'Worker');
}

bootstrap().catch((err) => {
  // Fail fast with the reason (an invalid setting, Redis unreachable) instead of limping on.
  Logger.error(err instanceof Error ? err.message : String(err), undefined, 'Worker');
  process.exit(1);
});
