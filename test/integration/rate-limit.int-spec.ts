import { createGateway, Gateway } from '../../apps/gateway/gateway.app';
import { rateLimitFromEnv, trustProxyFromEnv } from '../../apps/gateway/rate-limit';
import { uniqueNamespace, useTestRedis } from '../harness/redis';

/** A JSON answer with the headers a rate-limit test reads. */
interface Answer {
  status: number;
  body: any;
  retryAfter: string | null;
}

async function listen(gateway: Gateway): Promise<string> {
  await gateway.app.listen(0, '127.0.0.1');
  const { port } = gateway.app.getHttpServer().address() as { port: number };
  return `http://127.0.0.1:${port}`;
}

async function get(base: string, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(`${base}${path}`, { headers });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // /metrics is text
  }
  return { status: res.status, body, retryAfter: res.headers.get('retry-after') };
}

// The public routes' limit per client IP, counted in Redis (shared by every gateway of a namespace).
describe('gateway: rate limit of the public routes', () => {
  // Nested, so the gateways close before the Redis of useTestRedis stops (afterAll hooks run in registration order).
  const env = useTestRedis();
  describe('gateways started per test', () => rateLimits(env));
});

function rateLimits(env: ReturnType<typeof useTestRedis>): void {
  const gateways: Gateway[] = [];
  const start = async (ns: string, rateLimit: { perMinute?: number; trustProxy?: boolean }): Promise<string> => {
    const gateway = await createGateway({ propel: { redis: { url: env.url }, runtime: { namespace: ns, partitions: 4 } }, adminToken: 't', rateLimit }, false);
    gateways.push(gateway);
    return listen(gateway);
  };
  afterAll(async () => {
    for (const g of gateways) await g.close();
  });

  it('past the limit on one route: 429 RATE_LIMITED with Retry-After; other routes, /health and /metrics still answer', async () => {
    const base = await start(uniqueNamespace('rl'), { perMinute: 3 });
    for (let i = 0; i < 3; i++) expect((await get(base, '/users/u1/ledger')).status).toBe(200);
    const refused = await get(base, '/users/u1/ledger');
    expect(refused.status).toBe(429);
    expect(refused.body).toEqual({ error: { code: 'RATE_LIMITED', message: expect.stringMatching(/too many requests from this address: at most 3 per 60 s on this route; try again in \d+ s/) } });
    const retryAfter = Number(refused.retryAfter);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    // Each route has its own count; /health and /metrics are never limited.
    expect((await get(base, '/r/aaaaaaaaaa')).status).toBe(404);
    for (let i = 0; i < 5; i++) expect((await get(base, '/health')).status).toBe(200);
    expect((await get(base, '/metrics')).status).toBe(200);
    expect((await get(base, '/users/u2/ledger')).status).toBe(429); // per route and IP, not per user
  });

  it('two gateways of one namespace share the count (Redis-backed storage)', async () => {
    const ns = uniqueNamespace('rl');
    const a = await start(ns, { perMinute: 2 });
    const b = await start(ns, { perMinute: 2 });
    expect((await get(a, '/users/u/ledger')).status).toBe(200);
    expect((await get(b, '/users/u/ledger')).status).toBe(200);
    expect((await get(a, '/users/u/ledger')).status).toBe(429);
    expect((await get(b, '/users/u/ledger')).status).toBe(429);
  });

  it('0 turns the limit off', async () => {
    const base = await start(uniqueNamespace('rl'), { perMinute: 0 });
    for (let i = 0; i < 20; i++) expect((await get(base, '/users/u/ledger')).status).toBe(200);
  });

  it('keys by the socket peer unless proxies are trusted, then by X-Forwarded-For', async () => {
    const direct = await start(uniqueNamespace('rl'), { perMinute: 1 });
    expect((await get(direct, '/users/u/ledger', { 'x-forwarded-for': '203.0.113.1' })).status).toBe(200);
    expect((await get(direct, '/users/u/ledger', { 'x-forwarded-for': '203.0.113.2' })).status).toBe(429); // the header is ignored
    const proxied = await start(uniqueNamespace('rl'), { perMinute: 1, trustProxy: true });
    expect((await get(proxied, '/users/u/ledger', { 'x-forwarded-for': '203.0.113.1' })).status).toBe(200);
    expect((await get(proxied, '/users/u/ledger', { 'x-forwarded-for': '203.0.113.2' })).status).toBe(200);
    expect((await get(proxied, '/users/u/ledger', { 'x-forwarded-for': '203.0.113.1' })).status).toBe(429);
  });

  it('reads PROPEL_RATE_LIMIT_PER_MINUTE and PROPEL_TRUST_PROXY', () => {
    expect(rateLimitFromEnv({})).toBe(600);
    expect(rateLimitFromEnv({ PROPEL_RATE_LIMIT_PER_MINUTE: '0' })).toBe(0);
    expect(rateLimitFromEnv({ PROPEL_RATE_LIMIT_PER_MINUTE: '120' })).toBe(120);
    expect(() => rateLimitFromEnv({ PROPEL_RATE_LIMIT_PER_MINUTE: '-1' })).toThrow(/whole number/);
    expect(trustProxyFromEnv({})).toBe(false);
    expect(trustProxyFromEnv({ PROPEL_TRUST_PROXY: 'true' })).toBe(true);
    expect(trustProxyFromEnv({ PROPEL_TRUST_PROXY: '1' })).toBe(1);
    expect(trustProxyFromEnv({ PROPEL_TRUST_PROXY: 'loopback, 10.0.0.0/8' })).toBe('loopback, 10.0.0.0/8');
  });
}
