import { DynamicModule, Inject, MiddlewareConsumer, Module, NestModule, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import type { OpsContext } from '../../../common/ops';
import { GatewayContext } from '../gateway.context';
import { LoginThrottle } from './login-throttle';
import { OpsApiController } from './ops-api.controller';
import { OpsApiGuard, OpsAuth } from './ops-auth';
import { OpsPagesController } from './ops-pages.controller';
import { OpsSampler } from './ops-sampler';
import { OPS_SESSION_DEFAULTS, OpsSessionStore } from './ops-sessions';

/** How the dashboard runs; the defaults suit production, tests shorten them. */
export interface OpsDashboardOptions {
  /** Sampling interval of the time series (ms; default 1000; 0 turns sampling off). */
  sampleMs?: number;
  /** Samples kept (default 600). */
  capacity?: number;
  /** Session idle and absolute lifetimes (ms; default 1 h and 12 h). */
  sessions?: { idleMs: number; maxAgeMs: number };
  /** Failed logins allowed per address within the window (default 10 in 5 minutes). */
  loginThrottle?: { maxFailures: number; windowMs: number };
}

const SAMPLING = Symbol('OPS_SAMPLING');

/** The page's policy: nothing but this origin's own scripts, styles and API; never framed. */
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/** Headers of every /ops answer: no caching of ops data, no sniffing, no framing (clickjacking on Retry), a strict CSP. */
export function opsSecurityHeaders(_req: unknown, res: { setHeader(name: string, value: string): unknown }, next: () => void): void {
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Referrer-Policy', 'same-origin');
  res.setHeader('Content-Security-Policy', CSP);
  next();
}

/**
 * The ops dashboard inside the gateway: the page at /ops, its JSON API at /ops/api, and the sampler behind
 * its charts (started with the app when an admin token is configured, stopped before the gateway closes Redis).
 */
@Module({})
export class OpsDashboardModule implements NestModule, OnApplicationBootstrap, OnModuleDestroy {
  constructor(
    @Inject(OpsSampler) private readonly sampler: OpsSampler,
    @Inject(SAMPLING) private readonly sampling: boolean,
  ) {}

  static forContext(ctx: GatewayContext, options: OpsDashboardOptions = {}): DynamicModule {
    const ops: OpsContext = { redis: ctx.redis, keys: ctx.keys, partitions: ctx.config.runtime.partitions, client: ctx.client };
    const sampleMs = options.sampleMs ?? 1000;
    const throttle = options.loginThrottle;
    return {
      module: OpsDashboardModule,
      controllers: [OpsApiController, OpsPagesController],
      providers: [
        { provide: GatewayContext, useValue: ctx },
        { provide: OpsSampler, useValue: new OpsSampler(ops, { intervalMs: sampleMs || 1000, ...(options.capacity ? { capacity: options.capacity } : {}) }) },
        // Nobody can see the dashboard without an admin token: do not read Redis for it then.
        { provide: SAMPLING, useValue: sampleMs > 0 && ctx.adminToken !== undefined },
        { provide: OpsSessionStore, useValue: new OpsSessionStore(ctx.redis, ctx.config.runtime.namespace, options.sessions ?? OPS_SESSION_DEFAULTS) },
        { provide: LoginThrottle, useValue: throttle ? new LoginThrottle(throttle.maxFailures, throttle.windowMs) : new LoginThrottle() },
        OpsAuth,
        OpsApiGuard,
      ],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(opsSecurityHeaders).forRoutes(OpsApiController, OpsPagesController);
  }

  onApplicationBootstrap(): void {
    if (this.sampling) this.sampler.start();
  }

  async onModuleDestroy(): Promise<void> {
    await this.sampler.stop();
  }
}
