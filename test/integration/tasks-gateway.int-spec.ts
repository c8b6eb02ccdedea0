import { Logger } from '@nestjs/common';
import fc from 'fast-check';
import { Keys } from '../../common';
import { createGateway, Gateway } from '../../apps/gateway/gateway.app';
import { CLAIM_OPERATION, TaskCenter } from '../../apps/gateway/tasks';
import { uniqueNamespace, useTestRedis } from '../harness/redis';
import { fastWorkerEnv, spawnWorker, waitFor, WorkerProcess } from '../harness/workers';

const ADMIN_TOKEN = 'test-admin-token';
const ADMIN = { authorization: `Bearer ${ADMIN_TOKEN}` };
const JSON_TYPE = { 'content-type': 'application/json' };
const PARTITIONS = 8;
/** How often the gateway re-reads the idempotency component's dynamic configuration in these tests. */
const IDEM_CACHE_MS = 100;

interface Answer<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

async function listen(gateway: Gateway): Promise<string> {
  await gateway.app.listen(0, '127.0.0.1');
  const { port } = gateway.app.getHttpServer().address() as { port: number };
  return `http://127.0.0.1:${port}`;
}

function client(base: () => string) {
  return async <T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer<T>> => {
    const init: RequestInit = { method, headers: { ...(body !== undefined ? JSON_TYPE : {}), ...headers } };
    if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
    const res = await fetch(`${base()}${path}`, init);
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, body: parsed as T, headers: res.headers };
  };
}

// The gateway's task-center routes in this process, in front of a real worker process hosting the task actor,
// its components and the receipt resolver (apps/worker/main.ts), on a Redis of this file's own.
describe('gateway: task center over HTTP (merchants, claims, receipts) with a real worker', () => {
  const env = useTestRedis();
  describe('over a worker process', () => {
    const ns = uniqueNamespace('tgw');
    let worker: WorkerProcess;
    let gateway: Gateway;
    let base = '';
    const call = client(() => base);
    let shopToken = '';
    let otherToken = '';
    const shop = (token = shopToken) => ({ authorization: `Bearer ${token}` });

    beforeAll(async () => {
      Logger.overrideLogger(['warn', 'error']);
      worker = spawnWorker(env.url, fastWorkerEnv(ns, PARTITIONS));
      await worker.workerId;
      gateway = await createGateway(
        {
          propel: { redis: { url: env.url }, runtime: { namespace: ns, partitions: PARTITIONS } },
          adminToken: ADMIN_TOKEN,
          rateLimit: { perMinute: 0 },
          tasks: { idempotency: { config: { cacheMs: IDEM_CACHE_MS } } },
        },
        false,
      );
      base = await listen(gateway);
      shopToken = (await call('POST', '/admin/merchants/shop1/token', undefined, ADMIN)).body.token;
      otherToken = (await call('POST', '/admin/merchants/shop2/token', undefined, ADMIN)).body.token;
      // The reward flow every claimable task below pays out with.
      expect((await call('PUT', '/merchants/shop1/flows/points10', { steps: [{ type: 'points', amount: 10 }] }, shop())).status).toBe(201);
    }, 60_000);
    afterAll(async () => {
      await gateway?.close();
      if (worker && worker.child.exitCode === null) {
        worker.child.kill('SIGTERM');
        await worker.exited;
      }
    });

    /** Defines a task of shop1 (defaults: cumulative, 3 sign-ins, claim, the points flow). */
    const define = (id: string, extra: Record<string, unknown> = {}) =>
      call('PUT', `/merchants/shop1/tasks/${id}`, { name: id, type: 'cumulative', target: 3, events: ['user.signed_in'], flow: 'points10', ...extra }, shop());

    /** Waits until the worker's configuration cache knows a definition: its first receipt would be unroutable otherwise. */
    const settle = () => new Promise((r) => setTimeout(r, 300));

    it('merchant auth: 401 without a token or with an unknown one, 403 with another merchant’s, admin passes; a new token replaces the old', async () => {
      expect(await call('POST', '/admin/merchants/shop1/token')).toMatchObject({ status: 401 });
      const body = { name: 'x', type: 'one-shot', events: ['user.signed_in'] };
      const none = await call('PUT', '/merchants/shop1/tasks/auth-1', body);
      expect(none).toMatchObject({ status: 401, body: { error: { code: 'UNAUTHORIZED', message: expect.stringContaining('POST /admin/merchants/shop1/token') } } });
      expect(await call('PUT', '/merchants/shop1/tasks/auth-1', body, shop('pmt_not-a-token'))).toMatchObject({ status: 401, body: { error: { code: 'UNAUTHORIZED' } } });
      expect(await call('GET', '/merchants/shop1/tasks', undefined, shop(otherToken))).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN_MERCHANT' } } });
      expect((await call('PUT', '/merchants/shop1/tasks/auth-1', body, ADMIN)).body).toMatchObject({ id: 'auth-1', version: 1, by: 'admin', value: { merchantId: 'shop1' } });
      expect((await call('PUT', '/merchants/shop1/tasks/auth-1', body, shop())).body).toMatchObject({ version: 2, by: 'merchant:shop1' });

      const rotated = await call('POST', '/admin/merchants/shop3/token', undefined, ADMIN);
      expect(rotated).toMatchObject({ status: 201, body: { merchantId: 'shop3', token: expect.stringMatching(/^pmt_/), replaced: false } });
      const again = await call('POST', '/admin/merchants/shop3/token', undefined, ADMIN);
      expect(again.body.replaced).toBe(true);
      expect((await call('GET', '/merchants/shop3/tasks', undefined, shop(rotated.body.token))).status).toBe(401);
      expect(await call('GET', '/merchants/shop3/tasks', undefined, shop(again.body.token))).toMatchObject({ status: 200, body: { merchantId: 'shop3', tasks: [] } });
      // Redis holds no token, only hashes.
      const stored = await env.redis.hgetall(`{${ns}:merchants}:tokens`);
      expect(Object.keys(stored)).not.toContain(again.body.token);
      expect(Object.values(stored)).toContain('shop3');
    });

    it('definitions: 400 naming every problem, flows must exist, If-Match 409, ids are global, history of versions', async () => {
      const bad = await call('PUT', '/merchants/shop1/tasks/bad-1', { merchantId: 'shop9', type: 'cumulative', target: -1, events: ['Signed In'], timeZone: 'Mars/Olympus' }, shop());
      expect(bad.status).toBe(400);
      expect(bad.body.error.code).toBe('INVALID_TASK_DEFINITION');
      for (const part of ['merchantId: "shop9" differs', 'name:', 'target:', 'events.0:', 'timeZone:']) expect(bad.body.error.message).toContain(part);
      expect((await call('PUT', '/merchants/shop1/tasks/bad-2', { name: 'x', type: 'bogus', events: ['a'] }, shop())).body.error.message).toMatch(/^invalid task definition: type:/);
      expect(await call('PUT', '/merchants/shop1/tasks/bad-3', '[1]', shop())).toMatchObject({ status: 400, body: { error: { message: 'the task definition must be a JSON object sent with Content-Type: application/json' } } });
      expect((await define('bad-4', { flow: 'nope' })).body.error.message).toContain('flow: reward flow "nope" is not configured for merchant shop1');
      expect((await define('bad-5', { status: 'ENDED' })).body.error.message).toContain('status: ENDED is set by POST /merchants/shop1/tasks/bad-5/end');

      const created = await define('ver-1');
      expect(created).toMatchObject({ status: 201, body: { id: 'ver-1', version: 1, value: { status: 'ACTIVE', enrolment: 'claim', measure: 'count' } } });
      expect(created.headers.get('etag')).toBe('"1"');
      expect(await call('PUT', '/merchants/shop1/tasks/ver-1', { name: 'v2', type: 'cumulative', target: 4, events: ['user.signed_in'] }, { ...shop(), 'if-match': '1' })).toMatchObject({ status: 200, body: { version: 2 } });
      const stale = await call('PUT', '/merchants/shop1/tasks/ver-1', { name: 'v3', type: 'cumulative', target: 5, events: ['user.signed_in'] }, { ...shop(), 'if-match': '"1"' });
      expect(stale).toMatchObject({ status: 409, body: { error: { code: 'VERSION_CONFLICT', message: expect.stringContaining('is at version 2, not 1') } } });
      expect(await call('PUT', '/merchants/shop1/tasks/ver-1', { name: 'v3', type: 'one-shot', events: ['a'] }, { ...shop(), 'if-match': 'yesterday' })).toMatchObject({ status: 400, body: { error: { code: 'INVALID_IF_MATCH' } } });
      expect(await call('PUT', '/merchants/shop2/tasks/ver-1', { name: 'mine', type: 'one-shot', events: ['a'] }, shop(otherToken))).toMatchObject({ status: 409, body: { error: { code: 'ID_TAKEN' } } });
      expect(await call('GET', '/merchants/shop2/tasks/ver-1', undefined, shop(otherToken))).toMatchObject({ status: 404, body: { error: { code: 'TASK_NOT_FOUND' } } });

      const withHistory = await call('GET', '/merchants/shop1/tasks/ver-1?history=1', undefined, shop());
      expect(withHistory.body).toMatchObject({ id: 'ver-1', version: 2, value: { name: 'v2', target: 4 } });
      expect(withHistory.body.history.map((h: { version: number }) => h.version)).toEqual([2, 1]);
      expect((await call('GET', '/merchants/shop1/tasks', undefined, shop())).body.tasks.map((t: { id: string }) => t.id)).toEqual(expect.arrayContaining(['ver-1']));
      expect((await call('GET', '/merchants/shop1/flows/points10', undefined, shop())).body).toMatchObject({ id: 'points10', version: 1, value: { steps: [{ type: 'points', amount: 10 }] } });
      expect(await call('PUT', '/merchants/shop1/flows/f-bad', { steps: [{ type: 'points', amount: 0 }, { type: 'cash' }] }, shop())).toMatchObject({ status: 400, body: { error: { code: 'INVALID_REWARD_FLOW', message: expect.stringMatching(/steps\.0\.amount: .*; steps\.1\.type: /) } } });
    });

    it('scenario 16: two claims within milliseconds → one claim; same key and payload → the first result; another payload → the configured strategy, switched at run time', async () => {
      expect((await define('sign3')).status).toBe(201);
      const idem = new Keys(ns).idempotencyConfig();
      const strategy = async (onDuplicate: string | null) => {
        if (onDuplicate === null) await env.redis.hdel(idem, CLAIM_OPERATION);
        else await env.redis.hset(idem, CLAIM_OPERATION, JSON.stringify({ onDuplicate }));
        await new Promise((r) => setTimeout(r, IDEM_CACHE_MS * 3));
      };

      // first-result (the default): both concurrent claims answer the one claim.
      const [a, b] = await Promise.all([call('POST', '/users/ann/tasks/sign3/claim'), call('POST', '/users/ann/tasks/sign3/claim')]);
      expect(a.status).toBe(200);
      expect(b).toEqual(expect.objectContaining({ status: 200, body: a.body }));
      expect(a.body.task).toMatchObject({ taskId: 'ann:sign3:once', userId: 'ann', taskDefId: 'sign3', period: 'once', status: 'IN_PROGRESS', progress: 0, target: 3 });
      const detail = await call('GET', '/users/ann/tasks/ann:sign3:once');
      expect(detail.body.history.filter((h: { message: string }) => h.message === 'Claim')).toHaveLength(1);
      expect((await call('GET', '/users/ann/tasks')).body.tasks.map((t: { taskId: string }) => t.taskId)).toEqual(['ann:sign3:once']);

      // Same Idempotency-Key and payload: the first answer; another payload under it: 422.
      const k1 = await call('POST', '/users/bob/tasks/sign3/claim', { channel: 'app' }, { 'idempotency-key': 'k-1' });
      expect(k1).toMatchObject({ status: 200, body: { channel: 'app', task: { taskId: 'bob:sign3:once' } } });
      expect(await call('POST', '/users/bob/tasks/sign3/claim', { channel: 'app' }, { 'idempotency-key': 'k-1' })).toEqual(expect.objectContaining({ status: 200, body: k1.body }));
      expect(await call('POST', '/users/bob/tasks/sign3/claim', { channel: 'web' }, { 'idempotency-key': 'k-1' })).toMatchObject({ status: 422, body: { error: { code: 'IDEMPOTENCY_KEY_REUSED' } } });
      expect(await call('POST', '/users/bob/tasks/ver-1/claim', { channel: 'app' }, { 'idempotency-key': 'k-1' })).toMatchObject({ status: 422, body: { error: { code: 'IDEMPOTENCY_KEY_REUSED' } } });

      // code: a duplicate gets the idempotency code; the first claim still ran once.
      await strategy('code');
      expect(await call('POST', '/users/bob/tasks/sign3/claim', { channel: 'app' }, { 'idempotency-key': 'k-1' })).toMatchObject({ status: 200, body: { duplicate: true, code: 'IDEMPOTENCY_DUPLICATE' } });
      expect(await call('POST', '/users/bob/tasks/sign3/claim', { channel: 'web' }, { 'idempotency-key': 'k-1' })).toMatchObject({ status: 422, body: { error: { code: 'IDEMPOTENCY_KEY_REUSED' } } });
      const [c1, c2] = await Promise.all([call('POST', '/users/cid/tasks/sign3/claim'), call('POST', '/users/cid/tasks/sign3/claim')]);
      const codes = [c1, c2].map((c) => (c.body.task ? 'CLAIMED' : c.body.code ?? c.body.error?.code)).sort();
      expect(codes).toEqual(['CLAIMED', 'IDEMPOTENCY_DUPLICATE']);

      // throw: a duplicate is a 409 with the code.
      await strategy('throw');
      expect(await call('POST', '/users/ann/tasks/sign3/claim')).toMatchObject({ status: 409, body: { error: { code: 'IDEMPOTENCY_DUPLICATE' } } });
      const [d1, d2] = await Promise.all([call('POST', '/users/dan/tasks/sign3/claim'), call('POST', '/users/dan/tasks/sign3/claim')]);
      expect([d1.status, d2.status].sort()).toEqual([200, 409]);
      for (const user of ['bob', 'cid', 'dan']) {
        const h = (await call('GET', `/users/${user}/tasks/${user}:sign3:once`)).body.history;
        expect(h.filter((x: { message: string }) => x.message === 'Claim')).toHaveLength(1);
      }

      await strategy(null);
      expect(await call('POST', '/users/ann/tasks/sign3/claim')).toEqual(expect.objectContaining({ status: 200, body: a.body }));
    });

    it('receipts answer the updated progress at once; the same event counts once; the reward is granted once', async () => {
      expect((await define('sign2', { target: 2 })).status).toBe(201);
      await settle();
      expect((await call('POST', '/users/eve/tasks/sign2/claim')).status).toBe(200);
      const receipt = (eventId: string, extra: Record<string, unknown> = {}) => call('POST', '/receipts', { userId: 'eve', event: 'user.signed_in', eventId, ...extra });
      const first = await receipt('in-1');
      expect(first).toMatchObject({ status: 200, body: { eventId: 'in-1', skipped: [], tasks: [{ taskId: 'eve:sign2:once', progress: 1, target: 2, status: 'IN_PROGRESS' }] } });
      expect((await receipt('in-1')).body.tasks).toEqual([expect.objectContaining({ taskId: 'eve:sign2:once', progress: 1 })]);
      const done = await receipt('in-2');
      expect(done.body.tasks[0]).toMatchObject({ progress: 2, stages: [{ threshold: 2, status: expect.stringMatching(/EARNED|GRANTED/) }] });
      const rewarded = await waitFor(async () => {
        const t = await call('GET', '/users/eve/tasks/eve:sign2:once');
        return t.body.status === 'REWARDED' ? t.body : null;
      }, 10_000, 'the reward');
      expect(rewarded.stages[0]).toMatchObject({ status: 'GRANTED', outcome: { flow: 'points10', steps: [expect.objectContaining({ type: 'points' })] } });
      expect(await call('GET', '/users/eve/rewards')).toMatchObject({ status: 200, body: { userId: 'eve', balances: { points: 10, growth: 0 }, ledger: [expect.objectContaining({ type: 'points', amount: 10, taskId: 'eve:sign2:once' })] } });
      // A late duplicate of a counted event changes nothing: the finished task no longer subscribes to the event.
      expect((await receipt('in-2')).body).toEqual({ eventId: 'in-2', tasks: [], skipped: [] });
      expect((await call('GET', '/users/eve/tasks/eve:sign2:once')).body).toMatchObject({ status: 'REWARDED', progress: 2 });
      expect((await call('GET', '/users/eve/rewards')).body.ledger).toHaveLength(1);
      // Claimed again under another key: the finished task is shown as it is, and is not subscribed again.
      expect(await call('POST', '/users/eve/tasks/sign2/claim', undefined, { 'idempotency-key': 'again' })).toMatchObject({ status: 200, body: { task: { status: 'REWARDED' } } });
      expect(await env.redis.hexists(`{${ns}:tu:eve}:subs`, 'eve:sign2:once')).toBe(0);
    });

    it('a referral over HTTP completes through its preset task: accept claims the task for the invitee, a receipt completes it, both sides are rewarded', async () => {
      expect((await call('PUT', '/merchants/shop1/tasks/use-coupon', { name: 'Use the welcome coupon', type: 'one-shot', events: ['coupon.used'] }, shop())).status).toBe(201);
      // Naming a task that does not exist: the accept is refused with a reason the merchant can fix.
      expect((await call('PUT', '/admin/activities/ref-missing', { timeZone: 'Asia/Shanghai', budget: { total: 5 }, prize: { kind: 'points', amount: 10 }, presetTask: 'no-such-task' }, ADMIN)).status).toBe(200);
      const missing = await call('POST', '/activities/ref-missing/shares', { sharerId: 'sam' });
      expect(await call('POST', `/shares/${missing.body.code}/accept`, { inviteeId: 'tom' })).toMatchObject({ status: 409, body: { error: { code: 'PRESET_TASK_UNAVAILABLE', message: expect.stringContaining('no-such-task') } } });

      expect((await call('PUT', '/admin/activities/ref-coupon', { timeZone: 'Asia/Shanghai', budget: { total: 5 }, prize: { kind: 'points', amount: 10 }, presetTask: 'use-coupon' }, ADMIN)).status).toBe(200);
      const share = await call('POST', '/activities/ref-coupon/shares', { sharerId: 'sam' });
      const accepted = await call('POST', `/shares/${share.body.code}/accept`, { inviteeId: 'tina' });
      expect(accepted).toMatchObject({ status: 202, body: { applicationId: 'ref-coupon:tina' } });
      // The relation is recorded, then the application claims the preset task for the invitee: it shows in her list.
      const task = await waitFor(async () => {
        const list = await call('GET', '/users/tina/tasks');
        return list.body.tasks?.find((t: { taskDefId: string }) => t.taskDefId === 'use-coupon');
      }, 15_000, 'the preset task in the invitee list');
      expect(task).toMatchObject({ status: 'IN_PROGRESS', progress: 0, target: 1, deadline: expect.any(Number) });
      await waitFor(async () => (await env.redis.hexists(`{${ns}:tu:tina}:subs`, task.taskId)) === 1, 10_000, 'subscribed');
      const receipt = await call('POST', '/receipts', { userId: 'tina', event: 'coupon.used', eventId: 'cpn-tina-1' });
      expect(receipt).toMatchObject({ status: 200, body: { tasks: [expect.objectContaining({ taskId: task.taskId, progress: 1 })] } });
      const app = await waitFor(async () => {
        const a = await call('GET', '/applications/ref-coupon:tina');
        return a.body.status === 'BOTH_REWARDED' ? a.body : null;
      }, 20_000, 'BOTH_REWARDED');
      expect(app).toMatchObject({ status: 'BOTH_REWARDED' });
      expect((await call('GET', '/admin/activities/ref-coupon/budget', undefined, ADMIN)).body).toMatchObject({ used: 2 });
    }, 60_000);

    it('receipts: auto-enrolment on the first event, amount tasks, skipped tasks with their reason, 400 naming each problem', async () => {
      expect((await define('first-order', { type: 'one-shot', target: undefined, events: ['order.paid'], enrolment: 'auto' })).status).toBe(201);
      expect((await define('spend100', { target: 100, events: ['order.paid'], measure: 'amount', amountField: 'paid' })).status).toBe(201);
      await settle();
      expect((await call('POST', '/users/fay/tasks/spend100/claim')).status).toBe(200);
      const paid = await call('POST', '/receipts', { userId: 'fay', event: 'order.paid', eventId: 'o-1', fields: { paid: 60 } });
      expect(paid.status).toBe(200);
      expect(paid.body.tasks.map((t: { taskId: string; progress: number }) => [t.taskId, t.progress])).toEqual([['fay:first-order:once', 1], ['fay:spend100:once', 60]]);
      // The auto-enrolled task is listed with the claimed one.
      expect((await call('GET', '/users/fay/tasks')).body.tasks.map((t: { taskId: string }) => t.taskId)).toEqual(['fay:first-order:once', 'fay:spend100:once']);

      // No amount for the amount task: skipped by the router; the finished one-shot task refuses the event itself.
      const noAmount = await call('POST', '/receipts', { userId: 'fay', event: 'order.paid', eventId: 'o-2' });
      expect(noAmount.body).toEqual({
        eventId: 'o-2',
        tasks: [],
        skipped: [
          { taskId: 'fay:spend100:once', code: 'AMOUNT_MISSING', reason: expect.stringContaining('fields.paid or in amount') },
          { taskId: 'fay:first-order:once', code: 'NOT_COUNTING', reason: expect.stringContaining('no longer counts events') },
        ],
      });
      expect(await call('POST', '/receipts', { userId: 'nobody', event: 'user.logged_out', eventId: 'x-1' })).toMatchObject({ status: 200, body: { tasks: [], skipped: [] } });

      const bad = await call('POST', '/receipts', { userId: 'a:b', event: 'Order Paid', amount: -5, extra: 1 });
      expect(bad.status).toBe(400);
      expect(bad.body.error.code).toBe('INVALID_RECEIPT');
      for (const part of ['unknown field "extra"', "userId must not contain ':'", 'event must be an event type', 'eventId must be a non-empty string', 'amount must be a finite number']) expect(bad.body.error.message).toContain(part);
      expect(await call('POST', '/receipts', '{"userId":')).toMatchObject({ status: 400, body: { error: { code: 'MALFORMED_JSON' } } });
      expect(await call('POST', '/receipts', [1])).toMatchObject({ status: 400, body: { error: { code: 'INVALID_RECEIPT' } } });
    });

    it('receipts through the ingest stream (plain XADD) reach the same tasks; one event id by both ways counts once; bad receipts dead-letter', async () => {
      expect((await define('sign4', { target: 4 })).status).toBe(201);
      await settle();
      expect((await call('POST', '/users/ida/tasks/sign4/claim')).status).toBe(200);
      const ingest = new Keys(ns).ingest();
      const at = String(Date.now());
      await env.redis.xadd(ingest, '*', 'event', 'user.signed_in', 'userId', 'ida', 'eventId', 's-1', 'occurredAt', at);
      await env.redis.xadd(ingest, '*', 'event', 'user.signed_in', 'userId', 'ida', 'eventId', 's-1', 'occurredAt', at); // an upstream retry
      await env.redis.xadd(ingest, '*', 'event', 'user.signed_in', 'userId', 'ida', 'eventId', 's-2', 'payload', JSON.stringify({ occurredAt: Date.now() }));
      await waitFor(async () => (await call('GET', '/users/ida/tasks/ida:sign4:once')).body.progress === 2, 10_000, 'two stream receipts counted');
      // The same event reported over HTTP too: already counted.
      expect((await call('POST', '/receipts', { userId: 'ida', event: 'user.signed_in', eventId: 's-2' })).body.tasks).toEqual([expect.objectContaining({ progress: 2 })]);
      await env.redis.xadd(ingest, '*', 'event', 'user.signed_in', 'userId', 'i:da', 'eventId', 's-3', 'occurredAt', at);
      await env.redis.xadd(ingest, '*', 'event', 'user.unknown_event', 'userId', 'ida', 'eventId', 's-4');
      const dead = await waitFor(async () => {
        const d = await env.redis.xrange(new Keys(ns).ingestDead(), '-', '+');
        return d.length >= 2 ? d : null;
      }, 10_000, 'two dead letters');
      const reasons = Object.fromEntries(dead.map(([, f]) => [f[f.indexOf('code') + 1], f[f.indexOf('reason') + 1]]));
      expect(reasons).toMatchObject({ INVALID_RECEIPT: expect.stringContaining("userId must not contain ':'"), UNROUTABLE: 'no ingest route matches event "user.unknown_event"' });
      expect((await call('GET', '/users/ida/tasks/ida:sign4:once')).body.progress).toBe(2);
    });

    it('claims: 404 unknown, 409 paused / not started / closed, 422 auto-enrolment, 400 bad ids, body and Idempotency-Key', async () => {
      expect(await call('POST', '/users/gus/tasks/no-such/claim')).toMatchObject({ status: 404, body: { error: { code: 'TASK_NOT_FOUND' } } });
      await define('paused-1', { status: 'PAUSED' });
      expect(await call('POST', '/users/gus/tasks/paused-1/claim')).toMatchObject({ status: 409, body: { error: { code: 'TASK_PAUSED' } } });
      await define('later-1', { startsAt: Date.now() + 3_600_000 });
      expect(await call('POST', '/users/gus/tasks/later-1/claim')).toMatchObject({ status: 409, body: { error: { code: 'TASK_NOT_STARTED' } } });
      await define('over-1', { startsAt: 0, endsAt: Date.now() - 1 });
      expect(await call('POST', '/users/gus/tasks/over-1/claim')).toMatchObject({ status: 409, body: { error: { code: 'TASK_CLOSED' } } });
      expect(await call('POST', '/users/gus/tasks/first-order/claim')).toMatchObject({ status: 422, body: { error: { code: 'TASK_ENROLS_AUTOMATICALLY' } } });
      // A refused claim gives its idempotency key back: once active, the same claim runs.
      await define('paused-1', { status: 'ACTIVE' });
      expect(await call('POST', '/users/gus/tasks/paused-1/claim')).toMatchObject({ status: 200, body: { task: { status: 'IN_PROGRESS' } } });

      expect(await call('POST', '/users/a:b/tasks/sign3/claim')).toMatchObject({ status: 400, body: { error: { code: 'INVALID_ID', message: expect.stringContaining("must not contain ':'") } } });
      expect(await call('POST', '/users/gus/tasks/sign3/claim', { channel: 'app', coupon: 'x' })).toMatchObject({ status: 400, body: { error: { code: 'INVALID_CLAIM', message: expect.stringContaining('Unrecognized key') } } });
      expect(await call('POST', '/users/gus/tasks/sign3/claim', undefined, { 'idempotency-key': 'has space' })).toMatchObject({ status: 400, body: { error: { code: 'INVALID_IDEMPOTENCY_KEY' } } });
      expect(await call('GET', '/users/gus/tasks/zed:sign3:once')).toMatchObject({ status: 404, body: { error: { code: 'USER_TASK_NOT_FOUND' } } });
      expect(await call('GET', '/users/gus/tasks?limit=0')).toMatchObject({ status: 400, body: { error: { code: 'INVALID_QUERY' } } });
    });

    it('ending a task terminates every enrolled task (SSCAN in pages) and refuses later claims; repeating it is harmless', async () => {
      expect((await define('end-1')).status).toBe(201);
      const users = Array.from({ length: 5 }, (_, i) => `end-user-${i}`);
      for (const u of users) expect((await call('POST', `/users/${u}/tasks/end-1/claim`)).status).toBe(200);
      await waitFor(async () => (await env.redis.scard(`{${ns}:td:end-1}:enrolled`)) === users.length, 10_000, 'every task enrolled');
      expect(await call('POST', '/merchants/shop2/tasks/end-1/end', {}, shop(otherToken))).toMatchObject({ status: 404 });
      const ended = await call('POST', '/merchants/shop1/tasks/end-1/end', { reason: 'campaign over' }, shop());
      expect(ended).toMatchObject({ status: 200, body: { taskDefId: 'end-1', status: 'ENDED', terminated: users.length } });
      for (const u of users) {
        await waitFor(async () => (await call('GET', `/users/${u}/tasks/${u}:end-1:once`)).body.status === 'TERMINATED', 10_000, `${u}'s task terminated`);
      }
      expect(await call('POST', '/users/late/tasks/end-1/claim')).toMatchObject({ status: 409, body: { error: { code: 'TASK_ENDED' } } });
      expect((await call('POST', '/merchants/shop1/tasks/end-1/end', undefined, shop())).body).toMatchObject({ status: 'ENDED', version: ended.body.version });
      expect(await define('end-1')).toMatchObject({ status: 409, body: { error: { code: 'TASK_ENDED' } } });
    });

    it('property over HTTP: a few hundred generated definition, claim and receipt bodies answer 2xx or a 4xx with a code and a message, never 5xx', async () => {
      const plausible = fc.oneof(
        fc.constantFrom('sign3', 'user.signed_in', 'Order Paid', 'cumulative', 'staged', 'auto', 'claim', 'points10', 'UTC', 'Mars/X', '', 'a:b', 'a{b}'),
        fc.constantFrom(0, 1, 3, -1, 1.5, 1e300, Number.MAX_SAFE_INTEGER),
        fc.constant(['user.signed_in']),
        fc.constant([{ threshold: 1 }, { threshold: 2, flow: 'points10' }]),
      );
      const near = (keys: string[]) => fc.record(Object.fromEntries(keys.map((k) => [k, fc.oneof({ arbitrary: plausible, weight: 3 }, { arbitrary: fc.jsonValue({ maxDepth: 2 }), weight: 1 })])), { requiredKeys: [] });
      const bodies = {
        definition: fc.oneof(near(['name', 'type', 'target', 'events', 'stages', 'enrolment', 'measure', 'flow', 'timeZone', 'period', 'withinMs', 'extra']), fc.jsonValue({ maxDepth: 3 })),
        claim: fc.oneof(near(['channel', 'extra']), fc.jsonValue({ maxDepth: 2 })),
        receipt: fc.oneof(near(['userId', 'event', 'eventId', 'occurredAt', 'amount', 'fields', 'extra']), fc.jsonValue({ maxDepth: 3 })),
      };
      let n = 0;
      const check = (a: Answer) => {
        if (a.status >= 500 || (a.status >= 400 && !(typeof a.body?.error?.code === 'string' && a.body.error.message.length > 0))) {
          throw new Error(`answered ${a.status} ${JSON.stringify(a.body)}`);
        }
      };
      await fc.assert(fc.asyncProperty(bodies.definition, async (body) => check(await call('PUT', `/merchants/shop1/tasks/prop-${n++ % 20}`, body === undefined ? 'null' : JSON.stringify(body), shop()))), { numRuns: 200 });
      await fc.assert(fc.asyncProperty(bodies.claim, async (body) => check(await call('POST', `/users/prop-user-${n++}/tasks/sign3/claim`, body === undefined ? 'null' : JSON.stringify(body)))), { numRuns: 200 });
      await fc.assert(fc.asyncProperty(bodies.receipt, async (body) => check(await call('POST', '/receipts', body === undefined ? 'null' : JSON.stringify(body)))), { numRuns: 300 });
    }, 120_000);
  });

  it('POST /receipts is rate-limited like the other public routes, and answers 202 when a task does not answer in time', async () => {
    const ns = uniqueNamespace('tgwrl');
    // No worker yet: the receipt is written to the task's inbox, nobody answers within the ask timeout → 202 queued.
    let worker: WorkerProcess | undefined;
    let gateway: Gateway | undefined;
    try {
      gateway = await createGateway({ propel: { redis: { url: env.url }, runtime: { namespace: ns, partitions: PARTITIONS } }, adminToken: ADMIN_TOKEN, askTimeoutMs: 500, rateLimit: { perMinute: 3 } }, false);
      const base = await listen(gateway);
      const call = client(() => base);
      const token = (await call('POST', '/admin/merchants/m1/token', undefined, ADMIN)).body.token;
      expect((await call('PUT', '/merchants/m1/tasks/auto-1', { name: 'a', type: 'cumulative', target: 5, events: ['user.signed_in'], enrolment: 'auto' }, { authorization: `Bearer ${token}` })).status).toBe(201);
      const center = gateway.app.get(TaskCenter);
      await waitFor(() => center.cache.get('task', 'auto-1'), 5_000, 'the gateway cache');
      const queued = await call('POST', '/receipts', { userId: 'q', event: 'user.signed_in', eventId: 'e-1' });
      expect(queued).toMatchObject({ status: 202, body: { tasks: [], queued: ['q:auto-1:once'], message: expect.stringContaining('queued') } });
      // A worker comes up and applies the queued receipt. Read through the gateway's own reader: the GET route is limited too.
      worker = spawnWorker(env.url, fastWorkerEnv(ns, PARTITIONS));
      await worker.workerId;
      await waitFor(async () => (await center.task('q:auto-1:once'))?.view.progress === 1, 15_000, 'the queued receipt applied');
      for (const eventId of ['e-2', 'e-3']) expect([200, 202]).toContain((await call('POST', '/receipts', { userId: 'q', event: 'user.signed_in', eventId })).status);
      const limited = await call('POST', '/receipts', { userId: 'q', event: 'user.signed_in', eventId: 'e-4' });
      expect(limited).toMatchObject({ status: 429, body: { error: { code: 'RATE_LIMITED' } } });
    } finally {
      await gateway?.close();
      worker?.child.kill('SIGTERM');
      await worker?.exited;
    }
  }, 60_000);
});
