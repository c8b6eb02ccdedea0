import fc from 'fast-check';
import { createGateway, Gateway } from '../../apps/gateway/gateway.app';
import { uniqueNamespace, useTestRedis } from '../harness/redis';

const TOKEN = 'test-admin-token';

// The gateway over HTTP and a real Redis, no worker: every body here is refused (or 404s) before an actor is asked.
describe('gateway under bad bodies over HTTP', () => {
  // Nested, so the gateway closes before the Redis of useTestRedis stops (afterAll hooks run in registration order).
  const env = useTestRedis();
  describe('one gateway', () => badInput(env));
});

function badInput(env: ReturnType<typeof useTestRedis>): void {
  let gateway: Gateway;
  let base: string;

  const post = async (method: string, path: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any; ms: number }> => {
    const started = Date.now();
    const res = await fetch(`${base}${path}`, { method, headers: { 'content-type': 'application/json', ...headers }, body });
    const text = await res.text();
    return { status: res.status, body: JSON.parse(text), ms: Date.now() - started };
  };

  beforeAll(async () => {
    gateway = await createGateway({ propel: { redis: { url: env.url }, runtime: { namespace: uniqueNamespace('gwbad') } }, adminToken: TOKEN, askTimeoutMs: 1_000 }, false);
    await gateway.app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(gateway.app.getHttpServer().address() as { port: number }).port}`;
  });
  afterAll(async () => {
    await gateway?.close();
  });

  it('deeply nested JSON within the 64 KiB limit (32,000 levels of arrays, 10,000 of objects) answers 400 naming the body or field, quickly, and the gateway keeps serving', async () => {
    const arrays = '['.repeat(32_000) + ']'.repeat(32_000);
    const objects = '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000);
    expect(arrays.length).toBeLessThan(64 * 1024);
    const asBody = await post('POST', '/activities/spring/shares', arrays);
    expect(asBody).toMatchObject({ status: 400, body: { error: { code: 'INVALID_REQUEST', message: 'the share request must be a JSON object sent with Content-Type: application/json' } } });
    const inField = await post('POST', '/activities/spring/shares', `{"sharerId":${arrays.slice(0, 60_000)}}`);
    // A truncated nesting is malformed JSON: the body parser's 400.
    expect(inField).toMatchObject({ status: 400, body: { error: { code: 'MALFORMED_JSON' } } });
    const field = await post('POST', `/shares/abcdefghij/accept`, `{"inviteeId":${objects}}`);
    expect(field).toMatchObject({ status: 400, body: { error: { message: expect.stringContaining('inviteeId: must be a string') } } });
    const tags = await post('PUT', '/admin/users/bob/tags', `{"tags":${'['.repeat(30_000)}${']'.repeat(30_000)}}`, { authorization: `Bearer ${TOKEN}` });
    expect(tags).toMatchObject({ status: 400, body: { error: { message: expect.stringContaining('tags.0: must be a string') } } });
    for (const answer of [asBody, inField, field, tags]) expect(answer.ms).toBeLessThan(2_000);
    expect((await fetch(`${base}/health`)).status).toBe(200);
  });

  it('bodies over 64 KiB answer 413 BODY_TOO_LARGE on every body route', async () => {
    const big = JSON.stringify({ pad: 'x'.repeat(70_000) });
    for (const [method, path] of [['POST', '/activities/spring/shares'], ['POST', '/shares/abcdefghij/accept'], ['POST', '/applications/spring:bob/task-completed'], ['PUT', '/admin/users/bob/tags'], ['PUT', '/admin/activities/spring']]) {
      expect(await post(method, path, big, { authorization: `Bearer ${TOKEN}` })).toMatchObject({ status: 413, body: { error: { code: 'BODY_TOO_LARGE' } } });
    }
  });

  it('property: 400 generated bodies on the body routes never answer 5xx; every refusal is { error: { code, message } }', async () => {
    const routes = [
      ['POST', '/activities/spring/shares'],
      ['POST', '/shares/abcdefghij/accept'],
      ['POST', '/applications/spring:bob/task-completed'],
      ['PUT', '/admin/users/bob/tags'],
    ] as const;
    const text = fc.oneof(fc.json({ maxDepth: 3 }), fc.string({ maxLength: 40 }), fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify({ sharerId: v, inviteeId: v, eventId: v, tags: v })));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...routes), text, async ([method, path], body) => {
        const answer = await post(method, path, body, { authorization: `Bearer ${TOKEN}` });
        expect(answer.status).toBeLessThan(500);
        if (answer.status >= 400) {
          expect(typeof answer.body.error.code).toBe('string');
          expect(answer.body.error.message.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 400 },
    );
  });
}
