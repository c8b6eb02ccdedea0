import { CanActivate, Controller, DynamicModule, ExecutionContext, Get, Inject, Injectable, MiddlewareConsumer, Module, NestModule, Res, ServiceUnavailableException, UnauthorizedException, UseGuards } from '@nestjs/common';
import { HealthCheck, HealthCheckResult, HealthCheckService, HealthIndicatorService, TerminusModule } from '@nestjs/terminus';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { HealthProbe } from './probes';
import type { PropelMetrics } from './propel-metrics';

/** What an app's /metrics and /health serve. */
export interface ObservabilityOptions {
  metrics: PropelMetrics;
  /** Checked by /health (all) and /health/live (the liveness ones). */
  probes?: HealthProbe[];
  /** When set, /metrics answers 401 without `Authorization: Bearer <token>` (PROPEL_METRICS_TOKEN). /health stays open. */
  metricsToken?: string;
  /** Count every HTTP request of the app by route pattern and status (the gateway). */
  httpMetrics?: boolean;
}

export const OBSERVABILITY_OPTIONS = Symbol('OBSERVABILITY_OPTIONS');
const PROBE_TIMEOUT_MS = 2_000;
/** Keys the answer uses itself: a probe named like this would overwrite them. */
const RESERVED_KEYS = new Set(['status', 'info', 'error', 'details']);

/** The /health answer: terminus' result, plus each probe's status at the top level (`redis: 'up'`). */
export type HealthAnswer = HealthCheckResult & Record<string, unknown>;

function sameToken(given: string, expected: string): boolean {
  // Hashed first: equal lengths for timingSafeEqual, and the comparison leaks nothing about the length.
  return timingSafeEqual(createHash('sha256').update(given).digest(), createHash('sha256').update(expected).digest());
}

/** Admits /metrics requests with the metrics token, when one is configured. */
@Injectable()
export class MetricsTokenGuard implements CanActivate {
  constructor(@Inject(OBSERVABILITY_OPTIONS) private readonly options: ObservabilityOptions) {}

  canActivate(context: ExecutionContext): boolean {
    const expected = this.options.metricsToken;
    if (!expected) return true;
    const header = context.switchToHttp().getRequest<{ headers: Record<string, string | undefined> }>().headers.authorization;
    const match = /^Bearer (.+)$/i.exec(header ?? '');
    if (!match || !sameToken(match[1]!.trim(), expected)) throw new UnauthorizedException('/metrics needs the header Authorization: Bearer <PROPEL_METRICS_TOKEN>');
    return true;
  }
}

/** Prometheus exposition of the app's registry. */
@Controller('metrics')
export class MetricsController {
  constructor(@Inject(OBSERVABILITY_OPTIONS) private readonly options: ObservabilityOptions) {}

  @Get()
  @UseGuards(MetricsTokenGuard)
  async scrape(@Res({ passthrough: true }) res: { setHeader(name: string, value: string): unknown }): Promise<string> {
    res.setHeader('Content-Type', this.options.metrics.contentType);
    res.setHeader('Cache-Control', 'no-store');
    return this.options.metrics.scrape();
  }
}

/**
 * /health (readiness: every probe) and /health/live (liveness: only the liveness probes). 200 with
 * `status: 'ok'` when all are up, 503 with `status: 'error'` and each failing probe's message under `error`.
 */
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    @Inject(OBSERVABILITY_OPTIONS) private readonly options: ObservabilityOptions,
  ) {}

  @Get()
  @HealthCheck()
  ready(@Res({ passthrough: true }) res: { status(code: number): unknown }): Promise<HealthAnswer> {
    return this.run(this.options.probes ?? [], res);
  }

  @Get('live')
  @HealthCheck()
  live(@Res({ passthrough: true }) res: { status(code: number): unknown }): Promise<HealthAnswer> {
    return this.run((this.options.probes ?? []).filter((p) => p.liveness), res);
  }

  private async run(probes: HealthProbe[], res: { status(code: number): unknown }): Promise<HealthAnswer> {
    let result: HealthCheckResult;
    try {
      result = await this.health.check(probes.map((p) => () => this.indicators.check(p.key).attempt(({ signal }) => p.check(signal)).withTimeout(p.timeoutMs ?? PROBE_TIMEOUT_MS)));
    } catch (err) {
      // Answered here rather than thrown, so an app's exception filter cannot reshape the health answer.
      if (!(err instanceof ServiceUnavailableException)) throw err;
      res.status(503);
      result = err.getResponse() as HealthCheckResult;
    }
    const summary = Object.fromEntries(Object.entries(result.details).map(([key, detail]) => [key, detail.status]));
    return { status: result.status, ...summary, info: result.info, error: result.error, details: result.details };
  }
}

/** Records every answered request by route pattern (unmatched paths share one label value). */
@Injectable()
export class HttpMetricsMiddleware {
  constructor(@Inject(OBSERVABILITY_OPTIONS) private readonly options: ObservabilityOptions) {}

  use(req: { method: string; route?: { path?: unknown } }, res: { statusCode: number; once(event: 'finish', fn: () => void): unknown }, next: () => void): void {
    const start = process.hrtime.bigint();
    res.once('finish', () => {
      const route = typeof req.route?.path === 'string' ? req.route.path : 'unmatched';
      this.options.metrics.httpRequest(req.method, route, res.statusCode, Number(process.hrtime.bigint() - start) / 1e9);
    });
    next();
  }
}

/**
 * /metrics and /health for any Nest HTTP app: import `ObservabilityModule.forRoot({ metrics, probes })`.
 * Apps without an HTTP server of their own use `startObservability` (a small Nest HTTP app on
 * PROPEL_METRICS_PORT) instead.
 */
@Module({})
export class ObservabilityModule implements NestModule {
  constructor(@Inject(OBSERVABILITY_OPTIONS) private readonly options: ObservabilityOptions) {}

  static forRoot(options: ObservabilityOptions): DynamicModule {
    const keys = (options.probes ?? []).map((p) => p.key);
    const clash = keys.find((k, i) => RESERVED_KEYS.has(k) || keys.indexOf(k) !== i);
    if (clash !== undefined) throw new Error(`health probe key ${JSON.stringify(clash)} is reserved or used twice`);
    return {
      module: ObservabilityModule,
      imports: [TerminusModule.forRoot({ errorLogStyle: 'pretty' })],
      controllers: [MetricsController, HealthController],
      providers: [{ provide: OBSERVABILITY_OPTIONS, useValue: options }, MetricsTokenGuard, HttpMetricsMiddleware],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    if (this.options.httpMetrics) consumer.apply(HttpMetricsMiddleware).forRoutes('*');
  }
}
