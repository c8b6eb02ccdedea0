import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { createHash, randomBytes } from 'node:crypto';
import type { RedisClient } from '../../../common';
import { tokensEqual } from '../admin.controller';
import { GatewayContext } from '../gateway.context';
import { GatewayError } from '../gateway.errors';
import { configIdSchema } from './tasks.validation';

/** Codes of the merchant routes' refusals. */
export const MERCHANT_AUTH_ERRORS = { unauthorized: 'UNAUTHORIZED', forbidden: 'FORBIDDEN_MERCHANT' } as const;

/** SHA-256 of a token, hex: what Redis keeps instead of the token. */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

// Issuing replaces the merchant's previous token in one step: its hash stops resolving the moment the new one does.
const ISSUE_LUA = `
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old then redis.call('HDEL', KEYS[2], old) end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
return old and 1 or 0
`;
const REVOKE_LUA = `
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old then return 0 end
redis.call('HDEL', KEYS[2], old)
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
`;

/**
 * Merchant tokens: one per merchant, issued by an operator and shown once. Redis keeps only SHA-256 hashes, in
 * two hashes under one hash tag (merchant → hash, hash → merchant), so a token resolves to its merchant in one
 * read and a stolen dump of Redis yields no usable token.
 */
export class MerchantTokens {
  private readonly byMerchant: string;
  private readonly byHash: string;

  constructor(
    private readonly redis: RedisClient,
    namespace: string,
  ) {
    this.byMerchant = `{${namespace}:merchants}:token-of`;
    this.byHash = `{${namespace}:merchants}:tokens`;
  }

  /** A new token for the merchant (the previous one stops working); returned once, never stored. */
  async issue(merchantId: string): Promise<{ token: string; replaced: boolean }> {
    const token = `pmt_${randomBytes(32).toString('base64url')}`;
    const replaced = await this.redis.eval(ISSUE_LUA, 2, this.byMerchant, this.byHash, merchantId, tokenHash(token));
    return { token, replaced: Number(replaced) === 1 };
  }

  /** Revokes the merchant's token; false if it had none. */
  async revoke(merchantId: string): Promise<boolean> {
    return Number(await this.redis.eval(REVOKE_LUA, 2, this.byMerchant, this.byHash, merchantId)) === 1;
  }

  /** The merchant a token belongs to, or null for a token never issued or since replaced. */
  async merchantOf(token: string): Promise<string | null> {
    return this.redis.hget(this.byHash, tokenHash(token));
  }
}

interface AuthRequest {
  headers: Record<string, string | string[] | undefined>;
  params: Record<string, string | undefined>;
  merchantPrincipal?: string;
}

/**
 * Admits a merchant route (`/merchants/:merchantId/…`) for `Authorization: Bearer <token>` when the token is
 * that merchant's, or the admin token. 401 without a token or with one that is no merchant's; 403 with another
 * merchant's token. The admin token is compared in constant time; merchant tokens are looked up by hash.
 */
@Injectable()
export class MerchantGuard implements CanActivate {
  constructor(
    private readonly ctx: GatewayContext,
    private readonly tokens: MerchantTokens,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<AuthRequest>();
    const merchantId = configIdSchema.safeParse(req.params.merchantId);
    if (!merchantId.success) throw new GatewayError(400, 'INVALID_ID', `path parameter merchantId ${merchantId.error.issues[0]?.message ?? 'is invalid'}`);
    const header = req.headers.authorization;
    const match = /^Bearer (.+)$/i.exec(typeof header === 'string' ? header : '');
    if (!match) {
      throw new GatewayError(401, MERCHANT_AUTH_ERRORS.unauthorized, `merchant routes need the header Authorization: Bearer <merchant token>; an operator issues it with POST /admin/merchants/${merchantId.data}/token`);
    }
    const token = match[1]!.trim();
    if (this.ctx.adminToken && tokensEqual(token, this.ctx.adminToken)) {
      req.merchantPrincipal = 'admin';
      return true;
    }
    const owner = await this.tokens.merchantOf(token);
    if (owner === null) {
      throw new GatewayError(401, MERCHANT_AUTH_ERRORS.unauthorized, 'the bearer token is not a valid merchant token (never issued, or replaced by a newer one); ask an operator for a new one');
    }
    if (owner !== merchantId.data) {
      throw new GatewayError(403, MERCHANT_AUTH_ERRORS.forbidden, `this token belongs to another merchant; it may not manage merchant ${merchantId.data}'s tasks`);
    }
    req.merchantPrincipal = `merchant:${owner}`;
    return true;
  }
}
