import { Logger } from '@nestjs/common';
import { Redis } from 'ioredis';
import { compileConfig, createRedis, encodeEnvelope, Keys, RedisClient, RedisStreamsClient, RedisStreamsServer } from '../../common';
import { PropelMetrics, startObservability, type Observability } from '../../common/observability';
import { counterActor, referralActor } from '../../actors';
import { ActivityComponent, ActivityKeys, components } from '../../apps/worker/components/activity';
import { createGateway, Gateway } from '../../apps/gateway/gateway.app';
import { compileNotifierConfig, LogChannel, Notifier, NotifierKeys, notifierMetrics, notifierProbe } from '../../apps/notifier';
import { sampleOf, scrape } from '../harness/metrics';
import { startTestRedis, TestRedis, uniqueNamespace, useTestRedis } from '../harness/redis';
import { freePort } from '../harness/redis-server';
import { backlog, fastRuntime, fastWorkerEnv, spawnWorker, startWorker, waitFor, WorkerProcess } from '../harness/workers';

interface HealthBody {
  status: string;
  [key: string]: unknown;
  error?: Record<string, { message?: string }>;
}

async function health(base: string, path = '/health'): Promise<{ status: number; body: HealthBody }> {
  const res = await fetch(`${base}${path}`);
  return { status: res.status, body: (await res.json()) as HealthBody };
}

// A real worker process (apps/worker/main.ts) on a Redis of its own, scraped over HTTP; the Redis is stopped
// at the end to provoke the 503.
describe('worker /metrics and /health: counters move by what was sent; 503 with the reason when Redis stops', () => {
  const partitions = 4;
  const ns = uniqueNamespace('obsw');
  const keys = new Keys(ns);
  let server: TestRedis;
  let redis: Redis;
  let client: RedisStreamsClient;
  let worker: WorkerProcess;
  let base: string;

  beforeAll(async () => {
    server = await startTestRedis();
    redis = new Redis(server.url);
    const port = await freePort();
    worker = spawnWorker(server.url, fastWorkerEnv(ns, partitions, { PROPEL_METRICS_PORT: String(port) }));
    await worker.workerId;
    base = `http://127.0.0.1:${port}`;
    client = new RedisStreamsClient({ redis: { url: server.url }, runtime: { namespace: ns, partitions } });
  });
  afterAll(async () => {
    await client?.close();
    redis?.disconnect();
    worker?.child.kill('SIGKILL');
    await worker?.exited;
    await server?.stop();
  });

  it('after 60 increments, one ingest entry and 2 poison entries: 61 turns committed, 1 routed, 2 dead letters', async () => {
    const sent = 60;
    for (let i = 0; i < sent; i++) await client.tell(counterActor, `user-${i % 12}`, { type: 'increment', by: 1 });
    await redis.xadd(keys.ingest(), '*', 'actor', 'counter', 'id', 'user-ingest', 'type', 'increment', 'payload', '{"by":2}');
    // Nobody handles pattern `nobody`: a terminal NO_HANDLER, dead-lettered at once.
    await client.append('nobody', { key: 'a' });
    await client.append('nobody', { key: 'b' });

    const text = await waitFor(async () => {
      const t = await scrape(base);
      return sampleOf(t, 'propel_turns_committed_total', { actor: 'counter' }) === sent + 1 && sampleOf(t, 'propel_dead_letters_total', { source: 'inbox', code: 'NO_HANDLER' }) === 2 ? t : null;
    }, 20_000, 'the counters to reach what was sent');
    expect(await backlog(redis, keys, partitions)).toBe(0);
    expect(sampleOf(text, 'propel_turns_committed_total', { actor: 'counter', app: 'worker' })).toBe(61);
    expect(sampleOf(text, 'propel_turns_duplicate_total', { actor: 'counter' })).toBeUndefined();
    expect(sampleOf(text, 'propel_ingest_routed_total')).toBe(1);
    expect(sampleOf(text, 'propel_commit_batch_turns_sum')).toBe(61); // every turn went through a commit call once
    expect(sampleOf(text, 'propel_commit_duration_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(sampleOf(text, 'propel_partitions_owned')).toBe(partitions);
    expect(sampleOf(text, 'propel_partitions_acquired_total')).toBe(partitions);
    expect(sampleOf(text, 'propel_call_effects_queued')).toBe(0);
    expect(sampleOf(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);

    // Inbox lag is sampled on the maintenance tick (about once a second), for each owned partition.
    const sampled = await waitFor(async () => {
      const t = await scrape(base);
      return [0, 1, 2, 3].every((p) => sampleOf(t, 'propel_inbox_pending_entries', { partition: String(p) }) === 0) ? t : null;
    }, 10_000, 'inbox samples of every partition');
    for (let p = 0; p < partitions; p++) expect(sampleOf(sampled, 'propel_inbox_lag_entries', { partition: String(p) })).toBe(0);
  });

  it('/health answers 200 with the worker up, then 503 naming Redis (and later the stale heartbeat) once Redis stops; /health/live stays 200', async () => {
    const ok = await health(base);
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ status: 'ok', redis: 'up', worker: 'up', details: { worker: { partitions: [0, 1, 2, 3], members: 1 } } });

    await server.stop();
    const down = await waitFor(async () => {
      const h = await health(base);
      return h.status === 503 && h.body.worker === 'down' ? h : null;
    }, 10_000, '/health to report Redis and the worker down');
    expect(down.body).toMatchObject({ status: 'error', redis: 'down', worker: 'down' });
    expect(down.body.error?.redis?.message).toMatch(/not connected to Redis|timeout/);
    expect(down.body.error?.worker?.message).toMatch(/no successful membership heartbeat for \d+ ms \(member TTL 800 ms\)/);
    expect((await health(base, '/health/live')).status).toBe(200);
  });
});

// The gateway in this process in front of an in-process worker with metrics, each on the same dedicated Redis.
describe('gateway /metrics (behind PROPEL_METRICS_TOKEN) and /health; the worker behind it counts its call effects', () => {
  const TOKEN = 'admin-token';
  const METRICS_TOKEN = 'metrics-token';
  let server: TestRedis;
  let activityRedis: RedisClient;
  let worker: RedisStreamsServer | undefined;
  let workerMetrics: PropelMetrics;
  let gateway: Gateway;
  let base: string;

  const call = async (method: string, path: string, body?: unknown, admin = false) => {
    const headers: Record<string, string> = { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(admin ? { authorization: `Bearer ${TOKEN}` } : {}) };
    const res = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as any };
  };

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    server = await startTestRedis();
    const ns = uniqueNamespace('obsg');
    const runtime = fastRuntime(ns);
    activityRedis = createRedis({ url: server.url, tls: false }, 'obs-test-activity');
    workerMetrics = new PropelMetrics({ app: 'worker', defaultMetrics: false });
    worker = await startWorker(server.url, { runtime, actors: [referralActor], components: components(new ActivityComponent(activityRedis, new ActivityKeys(ns))), metrics: workerMetrics });
    gateway = await createGateway({ propel: { redis: { url: server.url }, runtime: { namespace: ns, partitions: runtime.partitions } }, adminToken: TOKEN, metricsToken: METRICS_TOKEN }, false);
    await gateway.app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(gateway.app.getHttpServer().address() as { port: number }).port}`;
  });
  afterAll(async () => {
    await gateway?.close();
    await worker?.close();
    activityRedis?.disconnect();
    await server?.stop();
  });

  it('counts requests by route pattern and status; /metrics needs the metrics token', async () => {
    expect((await call('PUT', '/admin/activities/obs-invite', { timeZone: 'UTC', budget: { total: 10 }, prize: { kind: 'points', amount: 1 } }, true)).status).toBe(200);
    const codes: string[] = [];
    for (const sharer of ['ann', 'ben', 'cat']) codes.push((await call('POST', '/activities/obs-invite/shares', { sharerId: sharer })).body.code);
    expect((await call('POST', `/shares/${codes[0]}/accept`, { inviteeId: 'dan' })).status).toBe(202);
    expect((await call('GET', '/applications/obs-invite:nobody')).status).toBe(404);
    expect((await call('GET', '/applications/obs-invite:nobody')).status).toBe(404);

    const denied = await fetch(`${base}/metrics`);
    expect(denied.status).toBe(401);
    expect(await denied.json()).toEqual({ error: { code: 'HTTP_401', message: expect.stringMatching(/PROPEL_METRICS_TOKEN/) } });
    const text = await scrape(base, { authorization: `Bearer ${METRICS_TOKEN}` });
    const requests = (method: string, route: string, status: number) => sampleOf(text, 'propel_http_requests_total', { method, route, status: String(status), app: 'gateway' });
    expect(requests('PUT', '/admin/activities/:id', 200)).toBe(1);
    expect(requests('POST', '/activities/:activityId/shares', 201)).toBe(3);
    expect(requests('POST', '/shares/:code/accept', 202)).toBe(1);
    expect(requests('GET', '/applications/:id', 404)).toBe(2);
    expect(requests('GET', '/metrics', 401)).toBe(1);
    expect(sampleOf(text, 'propel_http_request_duration_seconds_count', { method: 'POST', route: '/activities/:activityId/shares' })).toBe(3);
  });

  it('the worker counts the referral turns and one relation call; after the task, two reward calls', async () => {
    await waitFor(async () => (await call('GET', '/applications/obs-invite:dan')).body.status === 'RELATION_ESTABLISHED', 10_000, 'the relation');
    await call('POST', '/applications/obs-invite:dan/task-completed', { eventId: 'order-1' });
    await waitFor(async () => (await call('GET', '/applications/obs-invite:dan')).body.status === 'BOTH_REWARDED', 10_000, 'both rewards');
    // Each history entry of the application is one committed turn (the counter moves as the commit call returns).
    const history = (await call('GET', '/applications/obs-invite:dan')).body.history as unknown[];
    const text = await waitFor(async () => {
      const t = await workerMetrics.scrape();
      return sampleOf(t, 'propel_turns_committed_total', { actor: 'referral' }) === history.length ? t : null;
    }, 5_000, `${history.length} referral turns counted`);
    expect(sampleOf(text, 'propel_calls_total', { component: 'activity.applyRelation', outcome: 'ok' })).toBe(1);
    expect(sampleOf(text, 'propel_calls_total', { component: 'activity.apply', outcome: 'ok' })).toBe(2);
  });

  it('/health keeps `{ status: "ok", redis: "up" }` and answers 503 `{ status: "error", redis: "down" }` with the reason when Redis stops', async () => {
    expect(await call('GET', '/health')).toMatchObject({ status: 200, body: { status: 'ok', redis: 'up', details: { redis: { status: 'up' } } } });
    await worker!.close(); // the worker first: with Redis gone its drain could only wait
    worker = undefined;
    await server.stop();
    const down = await waitFor(async () => {
      const h = await call('GET', '/health');
      return h.status === 503 ? h : null;
    }, 10_000, 'the gateway to see Redis down');
    expect(down.body).toMatchObject({ status: 'error', redis: 'down', error: { redis: { status: 'down', message: expect.stringMatching(/not connected to Redis|timeout/) } } });
    expect((await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).status).toBe(200); // metrics need no Redis
  });
});

// A notifier in this process with its metrics served by startObservability, as apps/notifier/main.ts does.
describe('notifier /metrics and /health', () => {
  // Nested, so the notifier stops before the Redis of useTestRedis stops (afterAll hooks run in registration order).
  const env = useTestRedis();
  describe('one notifier in this process', () => notifierEndpoints(env));
});

function notifierEndpoints(env: ReturnType<typeof useTestRedis>): void {
  let redis: RedisClient;
  let notifier: Notifier;
  let observability: Observability;
  let base: string;

  beforeAll(async () => {
    redis = createRedis(compileConfig({ redis: { url: env.url } }).redis, 'obs-notifier');
    const ns = uniqueNamespace('obsn');
    const metrics = new PropelMetrics({ app: 'notifier', defaultMetrics: false });
    notifier = new Notifier({
      redis, namespace: ns, channels: [new LogChannel(() => undefined)], metrics: notifierMetrics(metrics),
      config: compileNotifierConfig({ channels: ['log'], blockMs: 50, claimEveryMs: 50 }),
    });
    observability = await startObservability({ app: 'notifier', defaultPort: 0, metrics, redis, probes: [notifierProbe(notifier)], settings: { port: await freePort(), explicitPort: true } });
    base = `http://127.0.0.1:${observability.port}`;
    await notifier.start();
    const keys = new NotifierKeys(ns);
    for (const id of ['n1', 'n2']) {
      await env.redis.xadd(keys.stream(), '*', 'e', encodeEnvelope({ id: `env-${id}`, pattern: 'notifications', data: { notificationId: id, kind: 'REFERRAL_REWARDED', userId: 'u1' }, ts: Date.now() }));
    }
    await env.redis.xadd(keys.stream(), '*', 'e', Buffer.from('not an envelope'));
  });
  afterAll(async () => {
    await notifier?.stop();
    await observability?.close();
    redis?.disconnect();
  });

  it('counts sends, deliveries and dead letters; /health is up with the notifier reading', async () => {
    const text = await waitFor(async () => {
      const t = await scrape(base);
      return sampleOf(t, 'propel_notifier_delivered_total') === 2 && sampleOf(t, 'propel_notifier_dead_letters_total', { code: 'DECODE_FAILED' }) === 1 ? t : null;
    }, 10_000, 'two deliveries and one dead letter');
    expect(sampleOf(text, 'propel_notifier_sends_total', { channel: 'log', outcome: 'ok', app: 'notifier' })).toBe(2);
    expect(sampleOf(text, 'propel_notifier_in_flight')).toBe(0);
    expect(await health(base)).toMatchObject({ status: 200, body: { status: 'ok', redis: 'up', notifier: 'up' } });
  });
}
