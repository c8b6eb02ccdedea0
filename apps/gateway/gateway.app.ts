import { DynamicModule, INestApplication, LoggerService, LogLevel, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { ThrottlerModule } from '@nestjs/throttler';
import { ObservabilityModule, ObservabilityOptions, PropelMetrics, redisProbe } from '../../common/observability';
import { AdminController, AdminGuard, CrowdController } from './admin.controller';
import { ApplicationsController } from './applications.controller';
import { GatewayContext, GatewayOptions } from './gateway.context';
import { bodyErrorMiddleware, GatewayExceptionFilter } from './gateway.errors';
import { OPS_COOKIE, OpsDashboardModule, OpsDashboardOptions } from './ops';
import { DEFAULT_RATE_LIMIT_PER_MINUTE, RATE_LIMIT_WINDOW_MS, RedisThrottlerStorage } from './rate-limit';
import { SharesController } from './shares.controller';
import { TasksModule, TasksModuleOptions } from './tasks';

/** Bodies above this are answered 413 before any handler runs. */
export const BODY_LIMIT_BYTES = 64 * 1024;

/** Where the OpenAPI UI and its JSON document are served. */
export const DOCS_PATH = 'docs';
/** The OpenAPI document as JSON (YAML beside it at docs/openapi.yaml). */
export const OPENAPI_JSON_PATH = 'docs/openapi.json';

/** The public routes' rate limit (main.ts reads PROPEL_RATE_LIMIT_PER_MINUTE and PROPEL_TRUST_PROXY). */
export interface GatewayRateLimit {
  /** Requests per client IP per public route per minute; 0 = off; default 600. */
  perMinute?: number;
  /** Express's `trust proxy`: which proxies' X-Forwarded-For names the client; default false (the socket's peer). */
  trustProxy?: boolean | number | string;
}

/** The gateway's Nest module, built around one GatewayContext. */
@Module({})
export class GatewayModule {
  /**
   * Binds the context the controllers and the admin guard are given, and /metrics and /health
   * (200 `{ status: 'ok', redis: 'up', ... }`, 503 `{ status: 'error', redis: 'down', error: { redis: { message } } }`).
   */
  static forContext(ctx: GatewayContext, observability: ObservabilityOptions, ops: OpsDashboardOptions = {}, rateLimitPerMinute = DEFAULT_RATE_LIMIT_PER_MINUTE, tasks: TasksModuleOptions = {}): DynamicModule {
    // The public controllers' PublicRateLimitGuard reads this: per client IP, per route, per minute, counted in Redis.
    const throttler = ThrottlerModule.forRoot({
      throttlers: [{ ttl: RATE_LIMIT_WINDOW_MS, limit: Math.max(1, rateLimitPerMinute) }],
      storage: new RedisThrottlerStorage(ctx.redis, ctx.config.runtime.namespace),
      ...(rateLimitPerMinute === 0 ? { skipIf: () => true } : {}),
    });
    return {
      module: GatewayModule,
      imports: [ObservabilityModule.forRoot(observability), OpsDashboardModule.forContext(ctx, ops), throttler, TasksModule.forContext(ctx, tasks)],
      controllers: [AdminController, CrowdController, SharesController, ApplicationsController],
      providers: [{ provide: GatewayContext, useValue: ctx }, AdminGuard],
    };
  }
}

/** A started-or-not gateway: the Nest app, the context it owns and its metrics. `close()` closes both. */
export interface Gateway {
  app: INestApplication;
  ctx: GatewayContext;
  metrics: PropelMetrics;
  close(): Promise<void>;
}

/** The OpenAPI document of the gateway, described by the controllers' decorators. */
function setupDocs(app: INestApplication): void {
  const config = new DocumentBuilder()
    .setTitle('Propel gateway')
    .setDescription('HTTP entry to Propel: referrals (activities, shares, applications, ledgers) and the task center (merchant task definitions and reward flows, user claims, tasks and rewards, completion receipts). Errors answer { error: { code, message } }.')
    .setVersion('0.1.0')
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: "PROPEL_ADMIN_TOKEN; on /merchants/{merchantId} routes also that merchant's token" })
    .addCookieAuth(OPS_COOKIE, { type: 'apiKey', in: 'cookie', name: OPS_COOKIE, description: 'the ops dashboard session (log in at /ops/login)' }, OPS_COOKIE)
    .build();
  const document = SwaggerModule.createDocument(app, config);
  SwaggerModule.setup(DOCS_PATH, app, document, { jsonDocumentUrl: OPENAPI_JSON_PATH, yamlDocumentUrl: 'docs/openapi.yaml' });
}

/**
 * Builds the gateway app (not listening yet): JSON bodies up to 64 KiB (malformed → 400, larger → 413),
 * every error as `{ error: { code, message } }`, OpenAPI at /docs, /metrics (behind `metricsToken` when set)
 * and /health on the same port, the ops dashboard at /ops (behind the admin token), and the public routes
 * rate-limited per client IP (429 RATE_LIMITED; /health, /metrics, admin and ops are not). The caller listens and
 * closes it.
 */
export async function createGateway(options: GatewayOptions & { ops?: OpsDashboardOptions; rateLimit?: GatewayRateLimit; tasks?: TasksModuleOptions }, logger: LoggerService | LogLevel[] | false = ['log', 'warn', 'error']): Promise<Gateway> {
  const ctx = new GatewayContext(options);
  const metrics = options.metrics ?? new PropelMetrics({ app: 'gateway' });
  try {
    const observability: ObservabilityOptions = { metrics, probes: [redisProbe(ctx.redis)], metricsToken: options.metricsToken, httpMetrics: true };
    const app = await NestFactory.create<NestExpressApplication>(GatewayModule.forContext(ctx, observability, options.ops, options.rateLimit?.perMinute, options.tasks), { bodyParser: false, logger });
    // The client IP the rate limit counts by: the socket's peer unless proxies in front are trusted.
    app.set('trust proxy', options.rateLimit?.trustProxy ?? false);
    app.useBodyParser('json', { limit: BODY_LIMIT_BYTES });
    app.use(bodyErrorMiddleware(BODY_LIMIT_BYTES));
    app.useGlobalFilters(new GatewayExceptionFilter());
    app.disable('x-powered-by');
    setupDocs(app);
    let closed: Promise<void> | undefined;
    const close = () => (closed ??= app.close().finally(() => ctx.close()));
    return { app, ctx, metrics, close };
  } catch (err) {
    await ctx.close();
    throw err;
  }
}
