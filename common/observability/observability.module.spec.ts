import { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { sampleOf } from '../../test/harness/metrics';
import { ObservabilityModule, ObservabilityOptions } from './observability.module';
import type { HealthProbe } from './probes';
import { PropelMetrics } from './propel-metrics';
import type { WorkerStatus } from './runtime-metrics';

describe('PropelMetrics: the runtime sink as Prometheus series', () => {
  it('counts turns per actor type and outcome, and labels every series with the app', async () => {
    const m = new PropelMetrics({ app: 'worker', defaultMetrics: false });
    m.turns('counter', 'committed', 5);
    m.turns('counter', 'committed', 2);
    m.turns('counter', 'duplicate', 1);
    m.turns('referral', 'stale', 3);
    m.deadLettered('inbox', 'UNKNOWN_ACTOR');
    m.callFinished('activity', 'ok', 0.02);
    m.callFinished('activity', 'expired');
    const text = await m.scrape();
    expect(sampleOf(text, 'propel_turns_committed_total', { actor: 'counter', app: 'worker' })).toBe(7);
    expect(sampleOf(text, 'propel_turns_duplicate_total', { actor: 'counter' })).toBe(1);
    expect(sampleOf(text, 'propel_stale_version_refusals_total', { actor: 'referral' })).toBe(3);
    expect(sampleOf(text, 'propel_dead_letters_total', { source: 'inbox', code: 'UNKNOWN_ACTOR' })).toBe(1);
    expect(sampleOf(text, 'propel_calls_total', { component: 'activity', outcome: 'ok' })).toBe(1);
    expect(sampleOf(text, 'propel_calls_total', { component: 'activity', outcome: 'expired' })).toBe(1);
    expect(sampleOf(text, 'propel_call_duration_seconds_count', { component: 'activity' })).toBe(1);
    expect(text).not.toContain('process_cpu_seconds_total'); // default metrics were turned off
  });

  it('reports inbox lag only for owned partitions: a released partition drops its series', async () => {
    const m = new PropelMetrics({ app: 'worker', defaultMetrics: false });
    m.inboxSampled(2, 40, 7);
    m.inboxSampled(5, null, 0);
    let text = await m.scrape();
    expect(sampleOf(text, 'propel_inbox_lag_entries', { partition: '2' })).toBe(40);
    expect(sampleOf(text, 'propel_inbox_pending_entries', { partition: '2' })).toBe(7);
    expect(sampleOf(text, 'propel_inbox_lag_entries', { partition: '5' })).toBeNaN(); // Redis could not tell
    m.partitionReleased(2, 'rebalance');
    text = await m.scrape();
    expect(sampleOf(text, 'propel_inbox_lag_entries', { partition: '2' })).toBeUndefined();
    expect(sampleOf(text, 'propel_partitions_released_total', { reason: 'rebalance' })).toBe(1);
  });

  it('reads worker gauges at scrape time from the watched worker', async () => {
    const m = new PropelMetrics({ app: 'worker', defaultMetrics: false });
    const status: WorkerStatus = { workerId: 'w', running: true, ownedPartitions: [1, 2, 3], members: 2, lastHeartbeatAt: Date.now(), memberTtlMs: 3000, calls: { running: 4, queued: 9 } };
    m.watchWorker(() => status);
    const text = await m.scrape();
    expect(sampleOf(text, 'propel_partitions_owned')).toBe(3);
    expect(sampleOf(text, 'propel_members_live')).toBe(2);
    expect(sampleOf(text, 'propel_call_effects_running')).toBe(4);
    expect(sampleOf(text, 'propel_call_effects_queued')).toBe(9);
    expect(sampleOf(text, 'propel_membership_heartbeat_age_seconds')).toBeLessThan(1);
  });

  it('includes Node.js process metrics by default', async () => {
    expect(await new PropelMetrics({ app: 'gateway' }).scrape()).toMatch(/^process_cpu_seconds_total\{app="gateway"\} /m);
  });
});

describe('ObservabilityModule: /metrics and /health over HTTP', () => {
  let app: INestApplication | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  async function serve(options: ObservabilityOptions): Promise<string> {
    app = await NestFactory.create(ObservabilityModule.forRoot(options), { logger: false });
    await app.listen(0, '127.0.0.1');
    return `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
  }

  const up = (key: string, extra: Partial<HealthProbe> = {}): HealthProbe => ({ key, check: () => ({ fine: true }), ...extra });
  const down = (key: string, message: string, extra: Partial<HealthProbe> = {}): HealthProbe => ({ key, check: () => Promise.reject(new Error(message)), ...extra });

  it('/health answers 200 with each probe at the top level, 503 with the failing probe and its reason', async () => {
    let base = await serve({ metrics: new PropelMetrics({ app: 't', defaultMetrics: false }), probes: [up('redis'), up('worker')] });
    let res = await fetch(`${base}/health`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toMatch(/no-store/);
    expect(await res.json()).toMatchObject({ status: 'ok', redis: 'up', worker: 'up', details: { worker: { status: 'up', fine: true } } });
    await app!.close();

    base = await serve({ metrics: new PropelMetrics({ app: 't', defaultMetrics: false }), probes: [down('redis', 'not connected to Redis (connection reconnecting)'), up('worker')] });
    res = await fetch(`${base}/health`);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ status: 'error', redis: 'down', worker: 'up', error: { redis: { status: 'down', message: 'not connected to Redis (connection reconnecting)' } } });
  });

  it('a probe slower than its timeout is down; /health/live checks only the liveness probes', async () => {
    const slow: HealthProbe = { key: 'slow', timeoutMs: 50, check: () => new Promise((r) => setTimeout(r, 1_000)) };
    const base = await serve({ metrics: new PropelMetrics({ app: 't', defaultMetrics: false }), probes: [slow, up('loop', { liveness: true })] });
    const ready = await fetch(`${base}/health`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ slow: 'down', error: { slow: { message: 'timeout of 50ms exceeded' } } });
    const live = await fetch(`${base}/health/live`);
    expect(live.status).toBe(200);
    expect(await live.json()).toEqual(expect.objectContaining({ status: 'ok', loop: 'up' }));
  });

  it('/metrics serves the exposition format, behind the metrics token when one is set', async () => {
    const metrics = new PropelMetrics({ app: 't', defaultMetrics: false });
    metrics.timersFired(3);
    const base = await serve({ metrics, metricsToken: 'm-token' });
    expect((await fetch(`${base}/metrics`)).status).toBe(401);
    expect((await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    const res = await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer m-token' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(sampleOf(await res.text(), 'propel_timers_fired_total')).toBe(3);
    expect((await fetch(`${base}/health`)).status).toBe(200); // health stays open
  });

  it('counts HTTP requests by route pattern, never by raw path', async () => {
    const metrics = new PropelMetrics({ app: 't', defaultMetrics: false });
    const base = await serve({ metrics, httpMetrics: true });
    await fetch(`${base}/health`);
    await fetch(`${base}/health`);
    await fetch(`${base}/no/such/path-1`);
    await fetch(`${base}/no/such/path-2`);
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(sampleOf(text, 'propel_http_requests_total', { method: 'GET', route: '/health', status: '200' })).toBe(2);
    expect(sampleOf(text, 'propel_http_requests_total', { method: 'GET', route: 'unmatched', status: '404' })).toBe(2);
  });

  it('refuses probe keys that would overwrite the answer or each other', () => {
    const metrics = new PropelMetrics({ app: 't', defaultMetrics: false });
    expect(() => ObservabilityModule.forRoot({ metrics, probes: [up('status')] })).toThrow(/reserved or used twice/);
    expect(() => ObservabilityModule.forRoot({ metrics, probes: [up('redis'), up('redis')] })).toThrow(/reserved or used twice/);
  });
});
