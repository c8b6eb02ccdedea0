import { ExecutionContext, Injectable } from '@nestjs/common';
import { ThrottlerGuard, ThrottlerStorage } from '@nestjs/throttler';
import type { ThrottlerLimitDetail } from '@nestjs/throttler';
import type { RedisClient } from '../../common';
import { GatewayError } from './gateway.errors';

/** Requests one client IP may make per minute to each public route, unless PROPEL_RATE_LIMIT_PER_MINUTE says otherwise. */
export const DEFAULT_RATE_LIMIT_PER_MINUTE = 600;
/** The window of the limit: one minute. */
export const RATE_LIMIT_WINDOW_MS = 60_000;

/**
 * PROPEL_RATE_LIMIT_PER_MINUTE: requests per client IP per public route per minute; 0 turns the limit off;
 * unset → 600. Anything else stops the start with the reason.
 */
export function rateLimitFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.PROPEL_RATE_LIMIT_PER_MINUTE;
  if (raw === undefined || raw === '') return DEFAULT_RATE_LIMIT_PER_MINUTE;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`PROPEL_RATE_LIMIT_PER_MINUTE must be a whole number ≥ 0, 0 = off (got ${JSON.stringify(raw)})`);
  return n;
}

/**
 * PROPEL_TRUST_PROXY, handed to Express's `trust proxy`: unset/`false` → the client IP is the socket's peer;
 * `true` → the left-most X-Forwarded-For address (only safe when every request comes through a proxy that
 * overwrites the header); a number → that many proxy hops; otherwise a comma list of proxy addresses/subnets
 * (e.g. `loopback, 10.0.0.0/8`).
 */
export function trustProxyFromEnv(env: NodeJS.ProcessEnv = process.env): boolean | number | string {
  const raw = (env.PROPEL_TRUST_PROXY ?? '').trim();
  if (raw === '' || raw === 'false') return false;
  if (raw === 'true') return true;
  if (/^\d+$/.test(raw)) return Number(raw);
  return raw;
}

// One fixed window per key: the first hit starts it (PEXPIRE), later hits count in it. A key without a TTL
// (should never happen) gets one, so a counter never outlives its window for good.
/** What the storage answers the guard (the package does not export the record type from its index). */
type ThrottlerStorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

const INCREMENT_LUA = `
local hits = redis.call('INCR', KEYS[1])
if hits == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {hits, ttl}
`;

/**
 * The throttler's counters in Redis (the gateway's own connection), so every gateway instance shares one
 * limit per client. Fixed windows: a client over the limit is refused until its window ends (the block
 * duration is the window; the guard's blockDuration is not used).
 */
export class RedisThrottlerStorage implements ThrottlerStorage {
  constructor(
    private readonly redis: RedisClient,
    private readonly namespace: string,
  ) {}

  /** Key of one tracker's counter; its own hash tag (one key per script call, any cluster slot). */
  keyOf(key: string, throttlerName: string): string {
    return `{${this.namespace}:ratelimit:${throttlerName}:${key}}`;
  }

  async increment(key: string, ttl: number, limit: number, _blockDuration: number, throttlerName: string): Promise<ThrottlerStorageRecord> {
    const [hits, pttl] = (await this.redis.eval(INCREMENT_LUA, 1, this.keyOf(key, throttlerName), String(ttl))) as [number, number];
    const seconds = Math.max(1, Math.ceil(pttl / 1000));
    const isBlocked = hits > limit;
    return { totalHits: hits, timeToExpire: seconds, isBlocked, timeToBlockExpire: isBlocked ? seconds : 0 };
  }
}

/**
 * The throttler guard of the public routes: a refused request answers 429
 * `{ error: { code: 'RATE_LIMITED', message } }` (Retry-After set by the base guard, in seconds).
 */
@Injectable()
export class PublicRateLimitGuard extends ThrottlerGuard {
  protected override async throwThrottlingException(_context: ExecutionContext, detail: ThrottlerLimitDetail): Promise<void> {
    const seconds = detail.timeToBlockExpire;
    throw new GatewayError(
      429,
      'RATE_LIMITED',
      `too many requests from this address: at most ${detail.limit} per ${Math.round(detail.ttl / 1000)} s on this route; try again in ${seconds} s (see Retry-After)`,
    );
  }
}
