import { randomBytes } from 'node:crypto';
import { compileConfig, createRedis, Keys, PropelConfig, PropelOptions, RedisClient, RedisStreamsClient } from '../../common';
import { referralActor } from '../../actors';
import type { ReferralMessage, ReferralState } from '../../actors';
import { ActivityComponent, ActivityKeys } from '../worker/components/activity';
import type { PropelMetrics } from '../../common/observability';
import { GatewayError } from './gateway.errors';
import { settledWithin } from '../../common/shutdown';

/** How share codes live: 30 days, then the link stops working. */
export const SHARE_TTL_S = 30 * 86_400;
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
const CODE_LENGTH = 10;

/** What the gateway is started with (main.ts reads it from the environment; tests pass it directly). */
export interface GatewayOptions {
  /** Redis, namespace and partitions: the same as the workers'. */
  propel: PropelOptions | PropelConfig;
  /** Bearer token of the admin routes; undefined turns them off (503), never open. */
  adminToken?: string;
  /** Base of share links, without a trailing slash. */
  publicUrl?: string;
  /** How long a request waits for the actor's committed turn. */
  askTimeoutMs?: number;
  /** Bearer token /metrics asks for (PROPEL_METRICS_TOKEN); undefined leaves /metrics open, like /health. */
  metricsToken?: string;
  /** The gateway's metrics registry; a new one by default. */
  metrics?: PropelMetrics;
}

/** A share: who shared which activity, stored under its code. */
export interface Share {
  code: string;
  activityId: string;
  sharerId: string;
  /** The sharer's device and IP when sharing, compared with the invitee's by the risk checks. */
  device?: string;
  ip?: string;
  createdAt: number;
}

/** A random share code: 10 characters of base32 (50 bits). */
export function newShareCode(): string {
  const bytes = randomBytes(CODE_LENGTH);
  let code = '';
  for (const b of bytes) code += BASE32[b & 31];
  return code;
}

/**
 * Everything the controllers share: one command connection, the streams client that asks actors, the
 * activity component (definitions, ledgers, budgets) and the share codes. Closed once, at shutdown.
 */
export class GatewayContext {
  readonly config: PropelConfig;
  readonly keys: Keys;
  readonly redis: RedisClient;
  readonly client: RedisStreamsClient;
  readonly activity: ActivityComponent;
  readonly adminToken: string | undefined;
  readonly publicUrl: string;
  readonly askTimeoutMs: number;

  constructor(options: GatewayOptions) {
    this.config = compileConfig(options.propel as PropelOptions);
    this.keys = new Keys(this.config.runtime.namespace);
    this.redis = createRedis(this.config.redis, 'propel-gateway');
    this.client = new RedisStreamsClient(this.config);
    this.activity = new ActivityComponent(this.redis, new ActivityKeys(this.config.runtime.namespace));
    this.adminToken = options.adminToken || undefined;
    this.publicUrl = (options.publicUrl ?? 'http://localhost:3000').replace(/\/+$/, '');
    this.askTimeoutMs = options.askTimeoutMs ?? 10_000;
  }

  /** Key of a share code; its own hash tag, since a share belongs to no partition. */
  shareKey(code: string): string {
    return `{${this.config.runtime.namespace}:share:${code}}`;
  }

  /** Stores a new share for 30 days under a fresh code (a collision draws another code). */
  async createShare(activityId: string, sharerId: string, seen: { device?: string; ip?: string } = {}, now = Date.now()): Promise<Share> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const share: Share = { code: newShareCode(), activityId, sharerId, ...seen, createdAt: now };
      const set = await this.redis.set(this.shareKey(share.code), JSON.stringify(share), 'EX', SHARE_TTL_S, 'NX');
      if (set === 'OK') return share;
    }
    throw new Error('could not draw an unused share code in 5 attempts');
  }

  /** The share behind a code, or null when it is unknown or expired. */
  async findShare(code: string): Promise<Share | null> {
    const raw = await this.redis.get(this.shareKey(code));
    return raw ? (JSON.parse(raw) as Share) : null;
  }

  /** The public link of a share code. */
  linkOf(code: string): string {
    return `${this.publicUrl}/r/${code}`;
  }

  /**
   * Asks a referral application for a committed turn; a typed rejection (the message is not legal in the
   * application's state) becomes a 409 carrying the actor's code and reason.
   */
  async askReferral(applicationId: string, message: ReferralMessage, messageId: string): Promise<{ status: string; state: ReferralState; duplicate: boolean }> {
    const reply = await this.client.ask(referralActor, applicationId, message, { timeoutMs: this.askTimeoutMs, messageId });
    if (reply.rejected) throw new GatewayError(409, reply.rejected.code, reply.rejected.reason);
    return { status: reply.status, state: reply.state, duplicate: reply.duplicate === true };
  }

  /**
   * Closes the streams client and the command connection. Waits at most `timeoutMs` for them: with Redis
   * down, QUIT would queue forever, and a shutdown must not hang on it.
   */
  async close(timeoutMs = 2_000): Promise<void> {
    const quit = async () => {
      await this.client.close();
      if (this.redis.status === 'ready') await this.redis.quit().catch(() => undefined);
    };
    await settledWithin(quit(), timeoutMs);
    this.redis.disconnect();
    (this.client.unwrap<RedisClient | undefined>())?.disconnect();
  }
}
