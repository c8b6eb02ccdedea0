import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { compileConfig, exitOnSignal, optionsFromEnv } from '../../common';
import { createGateway } from './gateway.app';
import { rateLimitFromEnv, trustProxyFromEnv } from './rate-limit';

const DEFAULT_PORT = 3000;

/** The HTTP port from PORT (default 3000); anything but a port number stops the start with the reason. */
function portFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.PORT;
  if (raw === undefined || raw === '') return DEFAULT_PORT;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`PORT must be a port number from 0 to 65535 (got ${JSON.stringify(raw)})`);
  return port;
}

/** How long a request waits for an actor's committed turn, from PROPEL_GATEWAY_ASK_TIMEOUT_MS (default 10 s). */
function askTimeoutFromEnv(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = env.PROPEL_GATEWAY_ASK_TIMEOUT_MS;
  if (raw === undefined || raw === '') return undefined;
  const ms = Number(raw);
  if (!Number.isInteger(ms) || ms <= 0) throw new Error(`PROPEL_GATEWAY_ASK_TIMEOUT_MS must be a positive whole number of ms (got ${JSON.stringify(raw)})`);
  return ms;
}

/**
 * The MariaDB store of the idempotency component (claims), from PROPEL_IDEMPOTENCY_MARIADB_URL
 * (`mysql://user:password@host:3306/database`); without it claims use the Redis store only. Which store a claim
 * uses is switched at run time through the `{<ns>:idem}:config` hash (docs/idempotency.md).
 */
function idempotencyFromEnv(env: NodeJS.ProcessEnv = process.env): { mariadb: { pool: { uri: string } } } | undefined {
  const raw = env.PROPEL_IDEMPOTENCY_MARIADB_URL;
  if (raw === undefined || raw === '') return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error('PROPEL_IDEMPOTENCY_MARIADB_URL must be a URL like mysql://user:password@host:3306/database');
  }
  if (url.protocol !== 'mysql:' && url.protocol !== 'mariadb:') throw new Error(`PROPEL_IDEMPOTENCY_MARIADB_URL must start with mysql:// (got ${url.protocol}//)`);
  return { mariadb: { pool: { uri: raw.replace(/^mariadb:/, 'mysql:') } } };
}

async function bootstrap(): Promise<void> {
  // Every setting is checked before anything connects: an invalid value stops the start with its reason.
  const propel = compileConfig(optionsFromEnv());
  const port = portFromEnv();
  const adminToken = process.env.PROPEL_ADMIN_TOKEN || undefined;
  const metricsToken = process.env.PROPEL_METRICS_TOKEN || undefined;
  const rateLimit = { perMinute: rateLimitFromEnv(), trustProxy: trustProxyFromEnv() };
  const idempotency = idempotencyFromEnv();
  const gateway = await createGateway({ propel, adminToken, publicUrl: process.env.PROPEL_PUBLIC_URL, askTimeoutMs: askTimeoutFromEnv(), metricsToken, rateLimit, ...(idempotency ? { tasks: { idempotency } } : {}) });
  if (rateLimit.perMinute === 0) Logger.warn('PROPEL_RATE_LIMIT_PER_MINUTE=0: the public routes are not rate-limited', 'Gateway');
  if (!adminToken) Logger.warn('PROPEL_ADMIN_TOKEN is not set: the admin routes answer 503', 'Gateway');
  await gateway.app.listen(port);
  // Graceful shutdown: stop accepting, finish in-flight requests, close Redis, then exit 0.
  exitOnSignal('Gateway', () => gateway.close(), () => 'closing');
  const address = gateway.app.getHttpServer().address() as { port: number } | null;
  // A line supervisors and tests wait for.
  Logger.log(`ready http://localhost:${address?.port ?? port}`, 'Gateway');
}

bootstrap().catch((err) => {
  // Fail fast with the reason (an invalid setting, a port in use) instead of limping on.
  Logger.error(err instanceof Error ? err.message : String(err), undefined, 'Gateway');
  process.exit(1);
});
