import type { Server } from 'node:http';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ErrorCode, PropelError } from '../errors';
import type { RedisClient } from '../redis/connection';
import { ObservabilityModule } from './observability.module';
import { observabilityFromEnv, ObservabilitySettings } from './observability.config';
import { HealthProbe, redisProbe } from './probes';
import { PropelMetrics } from './propel-metrics';

export interface StartObservabilityOptions {
  /** The app's name: the `app` label of its metrics and the context of its log lines. */
  app: string;
  /** Port when PROPEL_METRICS_PORT is unset (METRICS_PORTS has the apps' defaults). */
  defaultPort: number;
  /** The app's registry, when it was created earlier (a worker hands it to its transport first). */
  metrics?: PropelMetrics;
  /** Adds the `redis` probe (PING) for this connection (or a function returning it, once it exists). */
  redis?: RedisClient | (() => RedisClient | undefined);
  probes?: HealthProbe[];
  /** Overrides the environment (tests). */
  settings?: Partial<ObservabilitySettings>;
}

/** An app's metrics and, unless turned off, the HTTP listener serving them. */
export interface Observability {
  metrics: PropelMetrics;
  /** The port /metrics and /health listen on; undefined when off. */
  port?: number;
  close(): Promise<void>;
}

/**
 * One call for an app without an HTTP server of its own (worker, notifier, sweeper): creates its metrics
 * registry (unless given) and serves /metrics and /health on PROPEL_METRICS_PORT from a small Nest HTTP app
 * in the same process. A port named in PROPEL_METRICS_PORT must be free (the start fails otherwise); the
 * default port is skipped with a warning when taken (several processes on one host without settings).
 */
export async function startObservability(options: StartObservabilityOptions): Promise<Observability> {
  const settings = { ...observabilityFromEnv(options.defaultPort), ...options.settings };
  const metrics = options.metrics ?? new PropelMetrics({ app: options.app });
  const probes = [...(options.redis ? [redisProbe(options.redis)] : []), ...(options.probes ?? [])];
  const context = `${options.app[0]!.toUpperCase()}${options.app.slice(1)}`;
  if (settings.port === 0) return { metrics, close: async () => undefined };

  // No `logger` option: Nest applies it process-wide (Logger.overrideLogger), which would silence the app's own lines.
  const app = await NestFactory.create(ObservabilityModule.forRoot({ metrics, probes, metricsToken: settings.token }));
  try {
    // Listened on here, not with app.listen(): Nest logs a failed listen as an error, and a taken default port is not one.
    await app.init();
    const server = app.getHttpServer() as Server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: settings.port, host: settings.host }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await app.close().catch(() => undefined);
    const inUse = (err as NodeJS.ErrnoException).code === 'EADDRINUSE';
    if (inUse && !settings.explicitPort) {
      Logger.warn(`/metrics and /health are off: the default port ${settings.port} is in use (set PROPEL_METRICS_PORT to a free port, or 0)`, context);
      return { metrics, close: async () => undefined };
    }
    const why = inUse ? `port ${settings.port} is in use` : (err as Error).message;
    throw new PropelError(ErrorCode.InvalidConfig, `cannot serve /metrics and /health on PROPEL_METRICS_PORT ${settings.port}: ${why}; give each process its own port, or 0 to turn the listener off`);
  }
  const port = (app.getHttpServer().address() as { port: number }).port;
  Logger.log(`/metrics and /health on port ${port}${settings.token ? ' (/metrics behind PROPEL_METRICS_TOKEN)' : ''}`, context);
  let closed: Promise<void> | undefined;
  return { metrics, port, close: () => (closed ??= app.close()) };
}
