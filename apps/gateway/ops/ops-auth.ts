import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { tokensEqual } from '../admin.controller';
import { GatewayContext } from '../gateway.context';
import { GatewayError } from '../gateway.errors';
import { idSchema } from '../gateway.validation';
import { OpsSession, OpsSessionStore } from './ops-sessions';

/** The session cookie: HttpOnly, SameSite=Strict, sent to /ops only. */
export const OPS_COOKIE = 'propel_ops';
export const OPS_COOKIE_PATH = '/ops';
/**
 * The header every state-changing dashboard request carries. A cross-site form cannot set it, and a
 * cross-origin fetch that sets it needs a CORS preflight the gateway never grants: with SameSite=Strict
 * this is the CSRF defence.
 */
export const OPS_CSRF_HEADER = 'x-propel-ops';
/** Who is acting, for API clients using the bearer token (the dashboard's sessions carry their operator). */
export const OPS_OPERATOR_HEADER = 'x-propel-operator';
/** The operator recorded for bearer requests that name none. */
export const DEFAULT_API_OPERATOR = 'admin-api';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The parts of an Express request the dashboard reads. */
export interface OpsRequest {
  method: string;
  url?: string;
  headers: Record<string, string | string[] | undefined>;
  ip?: string;
  secure?: boolean;
  /** Set by OpsApiGuard: who made the request. */
  opsPrincipal?: OpsPrincipal;
}

/** Who made an authenticated dashboard request, and how. */
export interface OpsPrincipal {
  via: 'bearer' | 'session';
  operator: string;
}

function header(req: OpsRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Cookies of a `Cookie` header (the first value wins for a repeated name; undecodable values are skipped). */
export function parseCookies(cookieHeader: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const part of (cookieHeader ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    if (!name || cookies.has(name)) continue;
    try {
      cookies.set(name, decodeURIComponent(part.slice(eq + 1).trim()));
    } catch {
      // a malformed %-escape: not one of ours
    }
  }
  return cookies;
}

/** Whether the request came over HTTPS (directly, or through a proxy saying so): the cookie is then Secure. */
export function isHttps(req: OpsRequest): boolean {
  return req.secure === true || header(req, 'x-forwarded-proto')?.split(',')[0]?.trim() === 'https';
}

/** The `Set-Cookie` value that opens a session (`maxAgeMs` 0: the one that ends it). */
export function sessionCookie(id: string, maxAgeMs: number, secure: boolean): string {
  const parts = [`${OPS_COOKIE}=${id}`, `Path=${OPS_COOKIE_PATH}`, 'HttpOnly', 'SameSite=Strict', `Max-Age=${Math.floor(maxAgeMs / 1000)}`];
  if (secure) parts.push('Secure');
  return parts.join('; ');
}

/**
 * False when the browser says the request comes from another site: an `Origin` whose host is not the one
 * asked (Host, or X-Forwarded-Host behind a proxy), or `Sec-Fetch-Site: cross-site`. Requests without
 * these headers (curl, old browsers) pass: they are not a browser being tricked.
 */
export function sameOrigin(req: OpsRequest): boolean {
  const site = header(req, 'sec-fetch-site');
  if (site === 'cross-site' || site === 'same-site') return false;
  const origin = header(req, 'origin');
  if (origin === undefined) return true;
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    return false; // "null" (a sandboxed frame, a file) or garbage
  }
  const asked = [header(req, 'host'), header(req, 'x-forwarded-host')?.split(',')[0]?.trim()].filter((h): h is string => !!h);
  return asked.includes(host);
}

/**
 * Authenticates dashboard requests: the admin bearer token (scripts, curl) or a session cookie opened at
 * /ops/login (the browser). Without a configured admin token the dashboard is off (503), never open.
 */
@Injectable()
export class OpsAuth {
  constructor(
    private readonly ctx: GatewayContext,
    @Inject(OpsSessionStore) readonly sessions: OpsSessionStore,
  ) {}

  /** The admin token, or a 503 saying the dashboard is off. */
  adminToken(): string {
    const token = this.ctx.adminToken;
    if (!token) throw new GatewayError(503, 'ADMIN_DISABLED', 'the ops dashboard is disabled because PROPEL_ADMIN_TOKEN is not set; set it and restart the gateway');
    return token;
  }

  /** The session the request's cookie names, if it is valid. */
  async session(req: OpsRequest): Promise<{ id: string; session: OpsSession } | null> {
    const token = this.ctx.adminToken;
    const id = parseCookies(header(req, 'cookie')).get(OPS_COOKIE);
    if (!token || !id) return null;
    const session = await this.sessions.find(id, token);
    return session ? { id, session } : null;
  }

  /**
   * Who makes an API request: a bearer token is checked when the request carries one (a wrong one is a 401,
   * never a fall back to the cookie); otherwise the session, and for anything but GET the CSRF header and a
   * same-origin request.
   */
  async authenticate(req: OpsRequest): Promise<OpsPrincipal> {
    const expected = this.adminToken();
    const authorization = header(req, 'authorization');
    if (authorization !== undefined) {
      const match = /^Bearer (.+)$/i.exec(authorization);
      if (!match || !tokensEqual(match[1]!.trim(), expected)) throw new GatewayError(401, 'UNAUTHORIZED', 'the bearer token is not the admin token; check PROPEL_ADMIN_TOKEN');
      const named = header(req, OPS_OPERATOR_HEADER);
      if (named === undefined) return { via: 'bearer', operator: DEFAULT_API_OPERATOR };
      const parsed = idSchema.safeParse(named);
      if (!parsed.success) throw new GatewayError(400, 'INVALID_OPERATOR', `the ${OPS_OPERATOR_HEADER} header ${parsed.error.issues[0]?.message ?? 'is invalid'}`);
      return { via: 'bearer', operator: parsed.data };
    }
    const found = await this.session(req);
    if (!found) throw new GatewayError(401, 'UNAUTHORIZED', 'log in at /ops/login, or send Authorization: Bearer <PROPEL_ADMIN_TOKEN>');
    if (!SAFE_METHODS.has(req.method.toUpperCase())) {
      if (header(req, OPS_CSRF_HEADER) !== '1') throw new GatewayError(403, 'CSRF_CHECK_FAILED', `requests that change something need the header X-Propel-Ops: 1 (the dashboard sends it)`);
      if (!sameOrigin(req)) throw new GatewayError(403, 'CROSS_ORIGIN', 'the request comes from another site; use the dashboard at /ops');
    }
    return { via: 'session', operator: found.session.operator };
  }
}

/** Admits /ops/api requests from a logged-in dashboard or with the admin bearer token; sets `req.opsPrincipal`. */
@Injectable()
export class OpsApiGuard implements CanActivate {
  constructor(private readonly auth: OpsAuth) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<OpsRequest>();
    req.opsPrincipal = await this.auth.authenticate(req);
    return true;
  }
}
