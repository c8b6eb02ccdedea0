import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { closeQuietly, compileConfig, createRedis, exitOnSignal, optionsFromEnv } from '../../common';
import { METRICS_PORTS, PropelMetrics, startObservability } from '../../common/observability';
import { Notifier } from './notifier';
import { notifierMetrics, notifierProbe } from './notifier.metrics';
import { compileNotifierConfig, createChannels, notifierOptionsFromEnv } from './notifier.config';

/**
 * The notifier process: `npm run notifier`. Several may run against one namespace; they share the work
 * through the `notifier` consumer group and take over each other's entries when one dies.
 */
async function bootstrap(): Promise<void> {
  // Both configurations are validated before anything connects: a bad setting stops the process with its name.
  const config = compileConfig(optionsFromEnv());
  const notifierConfig = compileNotifierConfig({ drainTimeoutMs: config.runtime.drainTimeoutMs, ...notifierOptionsFromEnv() });
  const redis = createRedis(config.redis, 'propel-notifier');
  const metrics = new PropelMetrics({ app: 'notifier' });
  const notifier = new Notifier({
    redis,
    namespace: config.runtime.namespace,
    config: notifierConfig,
    channels: createChannels(notifierConfig),
    consumer: config.runtime.workerId,
    maxEntryBytes: config.runtime.maxEntryBytes,
    deadMaxLen: config.runtime.deadMaxLen,
    metrics: notifierMetrics(metrics),
  });
  // /metrics and /health on PROPEL_METRICS_PORT (default 9460, 0: off); a port in use stops the start here.
  const observability = await startObservability({ app: 'notifier', defaultPort: METRICS_PORTS.notifier, metrics, redis, probes: [notifierProbe(notifier)] });
  await notifier.start();
  // Graceful shutdown: stop reading, let sends in progress finish, leave retrying entries pending, exit 0.
  exitOnSignal('Notifier', () => notifier.stop().then(() => Promise.all([observability.close(), closeQuietly(redis)])), () => `draining ${notifier.inFlightCount} notifications`);
  // A line supervisors and tests wait for.
  Logger.log(`ready ${notifier.consumer} (channels ${notifierConfig.channels.join(',')})`, 'Notifier');
}

bootstrap().catch((err) => {
  // Fail fast with the reason (an invalid setting, Redis unreachable) instead of limping on.
  Logger.error(err instanceof Error ? err.message : String(err), undefined, 'Notifier');
  process.exit(1);
});
