import { createHash, randomBytes } from 'node:crypto';
import type { RedisClient } from '../../../common';

/** How long a dashboard session lives: idle (refreshed by every request) and at most in all. */
export const OPS_SESSION_DEFAULTS = { idleMs: 60 * 60_000, maxAgeMs: 12 * 60 * 60_000 } as const;

/** A logged-in dashboard user, as stored in Redis. */
export interface OpsSession {
  /** Who is acting: recorded in the actors' history by retry and terminate. */
  operator: string;
  createdAt: number;
  /** Absolute end of the session, whatever the activity. */
  expiresAt: number;
  /** A short hash of the admin token it was opened with: a new token ends every older session. */
  tokenTag: string;
}

/** Session ids are 32 random bytes in base64url (43 characters); anything else is not looked up. */
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

/** A short fingerprint of the admin token (8 bytes of a salted SHA-256: enough to tell tokens apart, little to brute-force). */
export function tokenTag(adminToken: string): string {
  return createHash('sha256').update(`propel-ops-session\0${adminToken}`).digest('hex').slice(0, 16);
}

/**
 * Dashboard sessions in Redis, so every gateway instance behind a load balancer accepts them and a restart
 * keeps them. The key holds a hash of the session id, never the id itself: reading Redis does not give a
 * usable cookie. Expiry is Redis's own (PX), slid forward on use but never past the session's absolute end.
 */
export class OpsSessionStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly namespace: string,
    private readonly limits: { idleMs: number; maxAgeMs: number } = OPS_SESSION_DEFAULTS,
  ) {}

  get maxAgeMs(): number {
    return this.limits.maxAgeMs;
  }

  /** Key of a session: its own hash tag, since a session belongs to no partition. */
  key(id: string): string {
    return `{${this.namespace}:ops-session:${createHash('sha256').update(id).digest('hex')}}`;
  }

  /** Opens a session for an operator who gave the admin token; returns the id for the cookie. */
  async create(operator: string, adminToken: string, now = Date.now()): Promise<{ id: string; session: OpsSession }> {
    const id = randomBytes(32).toString('base64url');
    const session: OpsSession = { operator, createdAt: now, expiresAt: now + this.limits.maxAgeMs, tokenTag: tokenTag(adminToken) };
    await this.redis.set(this.key(id), JSON.stringify(session), 'PX', Math.min(this.limits.idleMs, this.limits.maxAgeMs), 'NX');
    return { id, session };
  }

  /**
   * The session behind an id, or null when it is unknown, expired or was opened with another admin token.
   * Extends its idle expiry.
   */
  async find(id: string, adminToken: string, now = Date.now()): Promise<OpsSession | null> {
    if (!SESSION_ID.test(id)) return null;
    const key = this.key(id);
    const raw = await this.redis.get(key);
    if (!raw) return null;
    let session: OpsSession;
    try {
      session = JSON.parse(raw) as OpsSession;
    } catch {
      return null;
    }
    if (!(session.expiresAt > now) || session.tokenTag !== tokenTag(adminToken)) {
      await this.redis.del(key);
      return null;
    }
    await this.redis.pexpire(key, Math.max(1, Math.min(this.limits.idleMs, session.expiresAt - now)));
    return session;
  }

  /** Ends a session (logout); unknown ids are ignored. */
  async destroy(id: string): Promise<void> {
    if (SESSION_ID.test(id)) await this.redis.del(this.key(id));
  }
}
