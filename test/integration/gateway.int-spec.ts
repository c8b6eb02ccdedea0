import { Logger } from '@nestjs/common';
import { createRedis, RedisClient, RedisStreamsServer } from '../../common';
import { referralActor } from '../../actors';
import { ActivityComponent, ActivityKeys, components } from '../../apps/worker/components/activity';
import { createGateway, Gateway } from '../../apps/gateway/gateway.app';
import { uniqueNamespace, useTestRedis } from '../harness/redis';
import { fastRuntime, startWorker, waitFor } from '../harness/workers';

const TOKEN = 'test-admin-token';
const ADMIN = { authorization: `Bearer ${TOKEN}` };
const JSON_TYPE = { 'content-type': 'application/json' };

/** A JSON answer: status and parsed body. */
interface Answer<T = any> {
  status: number;
  body: T;
}

async function listen(gateway: Gateway): Promise<string> {
  await gateway.app.listen(0, '127.0.0.1');
  const { port } = gateway.app.getHttpServer().address() as { port: number };
  return `http://127.0.0.1:${port}`;
}

// The gateway over HTTP in front of a real worker hosting the referral actor and the activity component.
describe('gateway: HTTP entry to referrals (admin, shares, applications, ledgers)', () => {
  // The Redis is registered in the outer block: its afterAll (stopping the server) runs after the inner
  // block's, which closes the gateway and the worker while Redis still answers.
  const env = useTestRedis();
  describe('over a real worker', () => {
    let redis: RedisClient;
    let worker: RedisStreamsServer;
    let gateway: Gateway;
    let base: string;

    const call = async <T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer<T>> => {
      const init: RequestInit = { method, headers: { ...(body !== undefined ? JSON_TYPE : {}), ...headers } };
      if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
      const res = await fetch(`${base}${path}`, init);
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON (the docs page): keep the text
      }
      return { status: res.status, body: parsed as T };
    };

    beforeAll(async () => {
      Logger.overrideLogger(['warn', 'error']); // quiet: only problems reach the test output
      const ns = uniqueNamespace('gw');
      const runtime = fastRuntime(ns);
      redis = createRedis({ url: env.url, tls: false }, 'gateway-test-activity');
      const activity = new ActivityComponent(redis, new ActivityKeys(ns));
      worker = await startWorker(env.url, { runtime, actors: [referralActor], components: components(activity) });
      gateway = await createGateway({ propel: { redis: { url: env.url }, runtime: { namespace: ns, partitions: runtime.partitions } }, adminToken: TOKEN, publicUrl: 'https://propel.test' }, false);
      base = await listen(gateway);
    });
    afterAll(async () => {
      await gateway?.close();
      await worker?.close();
      redis?.disconnect();
    });

    it('walk-through: define → share → accept → task completed → BOTH_REWARDED, one grant per side', async () => {
      const defined = await call('PUT', '/admin/activities/spring-invite', { timeZone: 'Asia/Shanghai', budget: { total: 100 }, prize: { kind: 'points', amount: 10 } }, ADMIN);
      expect(defined).toMatchObject({ status: 200, body: { activity: { id: 'spring-invite', status: 'ACTIVE', budgetBuckets: 1 } } });

      const share = await call<{ code: string; link: string }>('POST', '/activities/spring-invite/shares', { sharerId: 'alice' });
      expect(share.status).toBe(201);
      expect(share.body.code).toMatch(/^[a-z2-7]{10}$/);
      expect(share.body.link).toBe(`https://propel.test/r/${share.body.code}`);
      expect((await call('GET', `/r/${share.body.code}`)).body).toMatchObject({ activityId: 'spring-invite', sharerId: 'alice' });

      const accepted = await call('POST', `/shares/${share.body.code}/accept`, { inviteeId: 'bob', device: 'dev-b', ip: '10.0.0.2' });
      expect(accepted).toEqual({ status: 202, body: { applicationId: 'spring-invite:bob', status: 'INIT' } });
      // The same accept again (a client retry) is applied once; another sharer's link for bob is refused.
      expect((await call('POST', `/shares/${share.body.code}/accept`, { inviteeId: 'bob', device: 'dev-b', ip: '10.0.0.2' })).status).toBe(202);
      const other = await call<{ code: string }>('POST', '/activities/spring-invite/shares', { sharerId: 'carol' });
      expect(await call('POST', `/shares/${other.body.code}/accept`, { inviteeId: 'bob' })).toMatchObject({ status: 409, body: { error: { code: 'ALREADY_ACCEPTED' } } });

      await waitFor(async () => (await call('GET', '/applications/spring-invite:bob')).body.status === 'RELATION_ESTABLISHED', 10_000, 'the relation');
      const done = await call('POST', '/applications/spring-invite:bob/task-completed', { eventId: 'order-1' });
      expect(done).toMatchObject({ status: 202, body: { applicationId: 'spring-invite:bob', status: 'TASK_COMPLETED' } });

      const app = await waitFor(async () => {
        const a = await call('GET', '/applications/spring-invite:bob');
        return a.body.status === 'BOTH_REWARDED' ? a : null;
      }, 10_000, 'both rewards');
      expect(app.status).toBe(200);
      expect(app.body).toMatchObject({ relation: { outcome: 'ESTABLISHED' }, sharer: { outcome: 'GRANTED' }, invitee: { outcome: 'GRANTED' }, state: { sharerId: 'alice', inviteeId: 'bob' } });
      expect(app.body.history.map((h: { message: string }) => h.message)).toEqual(expect.arrayContaining(['Accept', 'RelationResult', 'TaskCompleted', 'SharerRewardResult', 'InviteeRewardResult']));
      expect(app.body.history.at(-1)).toMatchObject({ to: 'BOTH_REWARDED' });

      for (const user of ['alice', 'bob']) {
        const ledger = await call('GET', `/users/${user}/ledger`);
        expect(ledger).toMatchObject({ status: 200, body: { userId: user } });
        expect(ledger.body.grants).toHaveLength(1);
        expect(ledger.body.grants[0]).toMatchObject({ activityId: 'spring-invite', userId: user, prize: { kind: 'points', amount: 10 } });
      }
      expect(await call('GET', '/admin/activities/spring-invite/budget', undefined, ADMIN)).toEqual({ status: 200, body: { activityId: 'spring-invite', limit: 100, used: 2, remaining: 98 } });
      expect(await call('POST', '/admin/activities/spring-invite/pause', undefined, ADMIN)).toEqual({ status: 200, body: { activityId: 'spring-invite', status: 'PAUSED' } });
      expect(await call('POST', '/admin/activities/spring-invite/resume', undefined, ADMIN)).toEqual({ status: 200, body: { activityId: 'spring-invite', status: 'ACTIVE' } });
    });

    it('scenarios 3 and 4 over HTTP: the sharer device kept with the share meets the invitee on accept; crowd tags set by an operator', async () => {
      const define = (id: string, extra: Record<string, unknown>) =>
        call('PUT', `/admin/activities/${id}`, { timeZone: 'UTC', budget: { total: 10 }, prize: { kind: 'coupon', amount: 5 }, ...extra }, ADMIN);
      expect((await define('risky', { risk: { sameDevice: 'reject' } })).status).toBe(200);
      const share = await call<{ code: string }>('POST', '/activities/risky/shares', { sharerId: 'mia', device: 'dev-m', ip: '10.1.1.1' });
      await call('POST', `/shares/${share.body.code}/accept`, { inviteeId: 'mia-2', device: 'dev-m', ip: '10.9.9.9' });
      const rejected = await waitFor(async () => {
        const a = await call('GET', '/applications/risky:mia-2');
        return a.body.status === 'REJECTED' ? a : null;
      }, 10_000, 'the risk check');
      expect(rejected.body).toMatchObject({ relation: { outcome: 'REJECTED', reason: 'RISK_SAME_DEVICE' } });

      // Tags need the admin token; with them the audience rule admits the sharer and not the invitee.
      expect((await call('PUT', '/admin/users/nia/tags', { tags: ['member'] })).status).toBe(401);
      expect(await call('PUT', '/admin/users/nia/tags', { tags: ['member'] }, ADMIN)).toEqual({ status: 200, body: { userId: 'nia', tags: ['member'] } });
      expect(await call('PUT', '/admin/users/nia/tags', { tags: 'member' }, ADMIN)).toMatchObject({ status: 400, body: { error: { code: 'INVALID_REQUEST' } } });
      expect((await call('GET', '/admin/users/nia/tags', undefined, ADMIN)).body).toEqual({ userId: 'nia', tags: ['member'] });
      await define('members', { audience: { anyOf: ['member'] } });
      const code = (await call<{ code: string }>('POST', '/activities/members/shares', { sharerId: 'nia' })).body.code;
      await call('POST', `/shares/${code}/accept`, { inviteeId: 'nia-2' });
      await waitFor(async () => (await call('GET', '/applications/members:nia-2')).body.status === 'RELATION_ESTABLISHED', 10_000, 'the relation');
      await call('POST', '/applications/members:nia-2/task-completed', { eventId: 'order-n' });
      const done = await waitFor(async () => {
        const a = await call('GET', '/applications/members:nia-2');
        return a.body.status === 'SHARER_ONLY' ? a : null;
      }, 10_000, 'the rewards');
      expect(done.body).toMatchObject({ sharer: { outcome: 'GRANTED' }, invitee: { outcome: 'REJECTED', reason: 'NOT_IN_AUDIENCE' } });
    });

    it('admin routes answer 401 without the token and with a wrong one', async () => {
      const body = { timeZone: 'UTC', budget: { total: 1 }, prize: { kind: 'points', amount: 1 } };
      for (const headers of [{}, { authorization: 'Bearer wrong-token' }, { authorization: TOKEN }] as Array<Record<string, string>>) {
        const put = await call('PUT', '/admin/activities/locked', body, headers);
        expect(put).toMatchObject({ status: 401, body: { error: { code: 'UNAUTHORIZED' } } });
        expect(put.body.error.message).toMatch(/Authorization: Bearer|not the admin token/);
        expect((await call('GET', '/admin/activities/spring-invite/budget', undefined, headers)).status).toBe(401);
      }
    });

    it('admin routes answer 503 when PROPEL_ADMIN_TOKEN is not set (never open by default)', async () => {
      const closed = await createGateway({ propel: gateway.ctx.config }, false);
      try {
        const res = await fetch(`${await listen(closed)}/admin/activities/spring-invite/budget`, { headers: ADMIN });
        expect(res.status).toBe(503);
        expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/PROPEL_ADMIN_TOKEN is not set/);
      } finally {
        await closed.close();
      }
    });

    it('invalid requests answer 400 with a sentence naming the problem', async () => {
      const missing = await call('POST', '/activities/spring-invite/shares', {});
      expect(missing).toMatchObject({ status: 400, body: { error: { code: 'INVALID_REQUEST' } } });
      expect(missing.body.error.message).toBe('invalid share request: sharerId: is required');

      const braces = await call('POST', '/activities/spring-invite/shares', { sharerId: 'a{b}' });
      expect(braces.status).toBe(400);
      expect(braces.body.error.message).toMatch(/sharerId: must not contain '\{', '\}'/);
      const pathBraces = await call('POST', '/applications/x%7By%7D/task-completed', { eventId: 'e' });
      expect(pathBraces).toMatchObject({ status: 400, body: { error: { code: 'INVALID_ID' } } });

      const malformed = await call('POST', '/activities/spring-invite/shares', '{"sharerId": ');
      expect(malformed).toMatchObject({ status: 400, body: { error: { code: 'MALFORMED_JSON' } } });
      expect(await call('POST', '/activities/spring-invite/shares', `{"sharerId":"${'a'.repeat(70_000)}"}`)).toMatchObject({ status: 413, body: { error: { code: 'BODY_TOO_LARGE' } } });

      const activity = await call('PUT', '/admin/activities/bad', { timeZone: 'Mars/Olympus', budget: {}, prize: { kind: 'gold', amount: 1 } }, ADMIN);
      expect(activity).toMatchObject({ status: 400, body: { error: { code: 'INVALID_ACTIVITY' } } });
      for (const named of ['timeZone', 'budget.total', 'prize.kind']) expect(activity.body.error.message).toContain(named);
      const late = await call('POST', '/applications/spring-invite:bob/task-completed', { eventId: 'e', occurredAt: 'yesterday' });
      expect(late.body.error.message).toMatch(/occurredAt: must be a number/);
    });

    it('unknown share codes, activities and applications answer 404', async () => {
      expect(await call('POST', '/shares/aaaaaaaaaa/accept', { inviteeId: 'dan' })).toMatchObject({ status: 404, body: { error: { code: 'SHARE_NOT_FOUND' } } });
      expect((await call('POST', '/shares/not-a-code/accept', { inviteeId: 'dan' })).status).toBe(404);
      expect(await call('POST', '/activities/no-such/shares', { sharerId: 'a' })).toMatchObject({ status: 404, body: { error: { code: 'ACTIVITY_NOT_FOUND' } } });
      expect(await call('GET', '/applications/no-such:app')).toMatchObject({ status: 404, body: { error: { code: 'APPLICATION_NOT_FOUND' } } });
      expect((await call('POST', '/applications/no-such:app/task-completed', { eventId: 'e' })).status).toBe(404);
    });

    it('serves the OpenAPI docs and the health check', async () => {
      const page = await call('GET', '/docs');
      expect(page.status).toBe(200);
      expect(String(page.body)).toMatch(/swagger/i);
      const doc = await call('GET', '/docs/openapi.json');
      expect(doc.status).toBe(200);
      expect(Object.keys(doc.body.paths)).toEqual(expect.arrayContaining(['/admin/activities/{id}', '/activities/{activityId}/shares', '/shares/{code}/accept', '/applications/{id}', '/users/{userId}/ledger', '/health']));
      // The contract kept: status and redis at the top level (terminus' info/error/details beside them).
      expect(await call('GET', '/health')).toMatchObject({ status: 200, body: { status: 'ok', redis: 'up' } });
    });
  });
});
