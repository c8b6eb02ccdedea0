import { Controller, Get, Inject, Param, Post, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { dirname, join } from 'node:path';
import { tokensEqual } from '../admin.controller';
import { GatewayError } from '../gateway.errors';
import { idSchema } from '../gateway.validation';
import { LoginThrottle } from './login-throttle';
import { isHttps, OpsAuth, OpsRequest, sameOrigin, sessionCookie } from './ops-auth';

/** Where the page, its script and styles live (copied beside the compiled code by `npm run build`). */
const PUBLIC_DIR = join(__dirname, 'public');
const UPLOT_DIR = join(dirname(require.resolve('uplot/package.json')), 'dist');

const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';
const HTML = 'text/html; charset=utf-8';

/** The files under /ops/assets: an allow-list, so no request names a path on disk. */
const ASSETS: Readonly<Record<string, { file: string; type: string }>> = {
  'dashboard.js': { file: join(PUBLIC_DIR, 'dashboard.js'), type: JS },
  'dashboard.css': { file: join(PUBLIC_DIR, 'dashboard.css'), type: CSS },
  'login.js': { file: join(PUBLIC_DIR, 'login.js'), type: JS },
  // uPlot (MIT), served from node_modules at a fixed path: no bundler, no CDN.
  'uPlot.iife.min.js': { file: join(UPLOT_DIR, 'uPlot.iife.min.js'), type: JS },
  'uPlot.min.css': { file: join(UPLOT_DIR, 'uPlot.min.css'), type: CSS },
};

/** Login forms are a few fields: anything larger is not one. */
const FORM_LIMIT_BYTES = 4096;

/** The parts of an Express response the pages use. */
interface PageResponse {
  status(code: number): PageResponse;
  setHeader(name: string, value: string): unknown;
  send(body: string | Buffer): unknown;
  redirect(status: number, url: string): void;
}

type FormRequest = OpsRequest & IncomingMessage & { body?: unknown };

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Reads an `application/x-www-form-urlencoded` body (the JSON parser leaves other types unread). */
async function readForm(req: FormRequest): Promise<URLSearchParams> {
  const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/json' && req.body && typeof req.body === 'object') {
    const body = req.body as Record<string, unknown>;
    return new URLSearchParams(Object.entries(body).filter(([, v]) => typeof v === 'string') as Array<[string, string]>);
  }
  if (type !== 'application/x-www-form-urlencoded') throw new GatewayError(415, 'UNSUPPORTED_MEDIA_TYPE', 'send the login form as application/x-www-form-urlencoded');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > FORM_LIMIT_BYTES) throw new GatewayError(413, 'BODY_TOO_LARGE', `the login form is larger than ${FORM_LIMIT_BYTES} bytes`);
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

/**
 * The dashboard's pages: /ops (the dashboard, for a logged-in session; otherwise a redirect to the login),
 * /ops/login (a form that exchanges the admin token for a session cookie), /ops/logout, and the static files.
 */
@ApiExcludeController()
@Controller('ops')
export class OpsPagesController {
  constructor(
    private readonly auth: OpsAuth,
    @Inject(LoginThrottle) private readonly throttle: LoginThrottle,
  ) {}

  /** The dashboard, or a redirect to the login page without a valid session. */
  @Get()
  async dashboard(@Req() req: OpsRequest, @Res() res: PageResponse): Promise<void> {
    if (!(await this.auth.session(req))) return res.redirect(302, '/ops/login');
    res.setHeader('Content-Type', HTML);
    res.send(await readFile(join(PUBLIC_DIR, 'index.html')));
  }

  @Get('login')
  async loginPage(@Res() res: PageResponse): Promise<void> {
    // A session may already exist (a link from another site arrives without the cookie): login.js asks
    // /ops/session from the page itself and moves on to /ops when it does.
    const disabled = this.disabledReason();
    await this.renderLogin(res, disabled ? 503 : 200, disabled);
  }

  /**
   * Whether the request's cookie names a live session (nothing else: it answers without one). The login page
   * asks it, since the SameSite=Strict cookie is not sent on a navigation from another site but is on this call.
   */
  @Get('session')
  async session(@Req() req: OpsRequest): Promise<{ authenticated: boolean }> {
    return { authenticated: (await this.auth.session(req)) !== null };
  }

  /** Exchanges operator name and admin token for a session cookie; the wrong token re-renders the form with the error. */
  @Post('login')
  async login(@Req() req: FormRequest, @Res() res: PageResponse): Promise<void> {
    const disabled = this.disabledReason();
    if (disabled) return this.renderLogin(res, 503, disabled);
    const expected = this.auth.adminToken();
    if (!sameOrigin(req)) return this.renderLogin(res, 403, 'This login came from another site; open the dashboard at /ops and log in there.');
    const client = req.ip ?? 'unknown';
    const wait = this.throttle.retryAfterMs(client);
    if (wait > 0) {
      res.setHeader('Retry-After', String(Math.ceil(wait / 1000)));
      return this.renderLogin(res, 429, `Too many failed logins from this address; try again in ${Math.ceil(wait / 1000)} s.`);
    }
    const form = await readForm(req);
    const operator = (form.get('operator') ?? '').trim();
    const token = (form.get('token') ?? '').trim();
    const validOperator = idSchema.safeParse(operator);
    if (!validOperator.success) return this.renderLogin(res, 400, `Your name ${validOperator.error.issues[0]?.message ?? 'is invalid'}: it is recorded in the history of the actors you retry or terminate.`, operator);
    if (!token || !tokensEqual(token, expected)) {
      this.throttle.fail(client);
      return this.renderLogin(res, 401, 'That is not the admin token (PROPEL_ADMIN_TOKEN); check it and try again.', operator);
    }
    this.throttle.succeed(client);
    const { id } = await this.auth.sessions.create(validOperator.data, expected);
    res.setHeader('Set-Cookie', sessionCookie(id, this.auth.sessions.maxAgeMs, isHttps(req)));
    res.redirect(303, '/ops');
  }

  /** Ends the session (server side too) and clears the cookie. */
  @Post('logout')
  async logout(@Req() req: OpsRequest, @Res() res: PageResponse): Promise<void> {
    // A cross-site POST carries no SameSite=Strict cookie anyway; refusing it keeps the rule obvious.
    if (!sameOrigin(req)) throw new GatewayError(403, 'CROSS_ORIGIN', 'the request comes from another site; use the dashboard at /ops');
    const found = await this.auth.session(req);
    if (found) await this.auth.sessions.destroy(found.id);
    res.setHeader('Set-Cookie', sessionCookie('', 0, isHttps(req)));
    res.redirect(303, '/ops/login');
  }

  /** The page's script and styles, and uPlot's. Public: they hold no data, and the login page needs them. */
  @Get('assets/:name')
  async asset(@Param('name') name: string, @Res() res: PageResponse): Promise<void> {
    const asset = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined;
    if (!asset) throw new GatewayError(404, 'NOT_FOUND', `no dashboard asset ${name}`);
    res.setHeader('Content-Type', asset.type);
    res.send(await readFile(asset.file));
  }

  /** Why the dashboard is off (no admin token configured), or undefined when it is on. */
  private disabledReason(): string | undefined {
    try {
      this.auth.adminToken();
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  }

  private async renderLogin(res: PageResponse, status: number, error?: string, operator = ''): Promise<void> {
    const html = (await readFile(join(PUBLIC_DIR, 'login.html'), 'utf8'))
      .replace('{{error}}', () => (error ? `<p class="error" role="alert" id="login-error">${escapeHtml(error)}</p>` : ''))
      .replace('{{operator}}', () => escapeHtml(operator));
    res.setHeader('Content-Type', HTML);
    res.status(status).send(html);
  }
}
