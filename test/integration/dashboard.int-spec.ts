import { Logger } from '@nestjs/common';
import type { Browser, Page } from 'playwright-core';
import { createRedis, Keys, partitionOf, RedisClient, RedisStreamsClient, RedisStreamsServer } from '../../common';
import { referralActor } from '../../actors';
import type { ReferralState } from '../../actors/referral/referral.types';
import { ActivityComponent, ActivityFaults, ActivityKeys, components } from '../../apps/worker/components/activity';
import { createGateway, Gateway } from '../../apps/gateway/gateway.app';
import { OpsSessionStore } from '../../apps/gateway/ops';
import { launchChromium } from '../harness/browser';
import { uniqueNamespace, useTestRedis } from '../harness/redis';
import { fastRuntime, readRecord, startWorker, waitFor } from '../harness/workers';

type Any = ReferralState & Record<string, any>;

const TOKEN = 'dashboard-admin-token';
const ACTIVITY = 'dash';
/** Where to write a screenshot of the dashboard with data in it (npm run screenshot:dashboard sets it). */
const SCREENSHOT = process.env.PROPEL_DASHBOARD_SCREENSHOT;

// Provokes manual intervention with a downstream that fails every reward call (past a retry budget of 1),
// then drives an operator's round trip through the dashboard in headless Chromium: log in, watch the live
// numbers move, retry the application from the manual-intervention queue.
describe('ops dashboard in headless Chromium: login, live numbers, retry from the manual-intervention queue', () => {
  // Registered in the outer block, so Redis stops after the inner block's afterAll closed the browser, gateway and worker.
  const env = useTestRedis();
  describe('one worker hosting the referral actor, the gateway, one browser', () => dashboard(env));
});

function dashboard(env: ReturnType<typeof useTestRedis>): void {
  const ns = uniqueNamespace('dash');
  const runtime = fastRuntime(ns, { leaseTtlMs: 3000, memberTtlMs: 3000 });
  const partitions = runtime.partitions as number;
  const keys = new Keys(ns);
  const faults: ActivityFaults = { failRate: 0, afterCommitRate: 0, rng: () => 0 };
  const browserProblems: string[] = [];
  let redis: RedisClient;
  let activity: ActivityComponent;
  let worker: RedisStreamsServer;
  let client: RedisStreamsClient;
  let gateway: Gateway;
  let base: string;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    Logger.overrideLogger(['warn', 'error']);
    redis = createRedis({ url: env.url, tls: false }, 'dashboard-activity');
    activity = new ActivityComponent(redis, new ActivityKeys(ns), { faults });
    worker = await startWorker(env.url, { runtime, actors: [referralActor], components: components(activity) });
    client = new RedisStreamsClient({ redis: { url: env.url }, runtime: { namespace: ns, partitions } });
    gateway = await createGateway({ propel: { redis: { url: env.url }, runtime: { namespace: ns, partitions } }, adminToken: TOKEN }, false);
    await gateway.app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(gateway.app.getHttpServer().address() as { port: number }).port}`;
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
    context.setDefaultTimeout(10_000);
    page = await context.newPage();
    // Script errors and CSP violations (a console error) would mean a broken page even when the checks pass.
    page.on('pageerror', (err) => browserProblems.push(`pageerror: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error' && !/status of 401/.test(msg.text())) browserProblems.push(`console: ${msg.text()}`);
    });
    await activity.define({ id: ACTIVITY, timeZone: 'Asia/Shanghai', budget: { total: 1000 }, prize: { kind: 'points', amount: 10 } });
  }, 30_000);
  afterAll(async () => {
    await browser?.close();
    await gateway?.close();
    await client?.close();
    await worker?.close();
    redis?.disconnect();
  });

  const state = async (app: string) => (await readRecord<Any>(env.redis, keys, partitionOf({ type: 'referral', id: app }, partitions), 'referral', app))?.state;
  const until = (app: string, check: (s: Any) => boolean, what: string) =>
    waitFor(async () => {
      const s = await state(app);
      return s && check(s) ? s : null;
    }, 15_000, what);
  /** Accept → relation → task completed; resolves once the application is past the relation step. */
  const referral = async (invitee: string, settings?: Record<string, unknown>): Promise<string> => {
    const app = `${ACTIVITY}:${invitee}`;
    await client.ask(referralActor, app, { type: 'Accept', activityId: ACTIVITY, sharerId: `sharer-${invitee}`, inviteeId: invitee, ...(settings ? { settings } : {}) });
    await until(app, (s) => s.status === 'RELATION_ESTABLISHED', `${app} relation`);
    await client.ask(referralActor, app, { type: 'TaskCompleted', occurredAt: Date.now(), eventId: `order-${invitee}` });
    return app;
  };
  /** Drives one application into MANUAL_INTERVENTION in the reward step, with no call left in flight. */
  const stuck = async (invitee: string): Promise<string> => {
    const app = `${ACTIVITY}:${invitee}`;
    await client.ask(referralActor, app, { type: 'Accept', activityId: ACTIVITY, sharerId: `sharer-${invitee}`, inviteeId: invitee, settings: { maxRetries: 1, backoffBaseMs: 20, backoffCapMs: 50 } });
    await until(app, (s) => s.status === 'RELATION_ESTABLISHED', `${app} relation`);
    faults.failRate = 1; // downstream down: every reward call fails before granting
    await client.ask(referralActor, app, { type: 'TaskCompleted', occurredAt: Date.now(), eventId: `order-${invitee}` });
    await until(app, (s) => s.status === 'MANUAL_INTERVENTION' && !s.sharer.inFlight && !s.invitee.inFlight, `${app} in manual intervention, both calls answered`);
    faults.failRate = 0;
    return app;
  };
  /** The text of the first element matching `selector` (waiting for it to exist). */
  const textOf = async (selector: string): Promise<string> => (await page.locator(selector).first().textContent())?.trim() ?? '';
  const metric = (name: string) => textOf(`[data-metric="${name}"]`);
  /** Polls an element's text until `check` accepts it (the page refreshes itself every second or two). */
  const waitText = (selector: string, check: (text: string) => boolean, what: string) =>
    waitFor(async () => {
      const text = await textOf(selector);
      return check(text) ? text : null;
    }, 10_000, what);
  const numberOf = (text: string) => Number(text.replace(/,/g, ''));
  const fetchAs = (path: string, init: RequestInit = {}) => fetch(`${base}${path}`, { redirect: 'manual', ...init });

  it('refuses the dashboard and its API without a login: the page redirects to the login form, the API answers 401', async () => {
    const pageAnswer = await fetchAs('/ops');
    expect(pageAnswer.status).toBe(302);
    expect(pageAnswer.headers.get('location')).toBe('/ops/login');
    for (const path of ['/ops/api/status', '/ops/api/series', '/ops/api/manual', '/ops/api/dead', '/ops/api/inspect/referral/x']) {
      const res = await fetchAs(path);
      expect([path, res.status]).toEqual([path, 401]);
    }
    expect((await fetchAs('/ops/api/manual/referral/x/retry', { method: 'POST' })).status).toBe(401);
    expect((await fetchAs('/ops/api/status', { headers: { authorization: 'Bearer not-the-token' } })).status).toBe(401);
    expect((await fetchAs('/ops/api/status', { headers: { cookie: 'propel_ops=forged-or-expired-session-id-of-43-chars-xxxxx' } })).status).toBe(401);
    // The admin token itself is accepted as a bearer (scripts and curl).
    const withToken = await fetchAs('/ops/api/status', { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(withToken.status).toBe(200);
    expect(((await withToken.json()) as { status: unknown }).status).toMatchObject({ namespace: ns, partitions });
  });

  it('logs in with the admin token (a wrong token shows the error) and shows the status: members, partitions, owners', async () => {
    await page.goto(`${base}/ops`);
    expect(new URL(page.url()).pathname).toBe('/ops/login');
    await page.fill('#operator', 'ann');
    await page.fill('#token', 'wrong-token');
    await page.click('button[type=submit]');
    expect(await page.locator('#login-error').textContent()).toContain('not the admin token');
    expect(new URL(page.url()).pathname).toBe('/ops/login');

    await page.fill('#token', TOKEN);
    await page.click('button[type=submit]');
    await page.waitForURL(`${base}/ops`);
    const [cookie] = await page.context().cookies();
    expect(cookie).toMatchObject({ name: 'propel_ops', path: '/ops', httpOnly: true, sameSite: 'Strict' });

    // Logged in, the login page moves on to the dashboard by itself.
    await page.goto(`${base}/ops/login`);
    await page.waitForURL(`${base}/ops`);

    await waitText('[data-metric="members"]', (t) => t === '1', 'one member on the page');
    expect(await page.locator('#partition-count').textContent()).toBe(String(partitions));
    expect(await page.locator('#ns').textContent()).toBe(ns);
    expect(await page.locator('#operator').textContent()).toBe('ann');
    expect(await metric('owned')).toBe(String(partitions));
    expect(await metric('unowned')).toBe('0');
    // One row per partition, each naming the worker that owns it.
    await waitFor(async () => (await page.locator('#partitions-table tbody tr').count()) === partitions, 10_000, 'a row per partition');
    const owners = await page.locator('#partitions-table tbody tr td:nth-child(2)').allTextContents();
    expect(new Set(owners)).toEqual(new Set([(await page.locator('#members-table tbody tr td').first().textContent())!]));
    await waitFor(async () => (await page.locator('#live').getAttribute('data-state')) === 'live', 10_000, 'the live indicator');
  });

  it('shows live numbers: the committed count and the throughput move while referrals are processed', async () => {
    const before = numberOf(await waitText('[data-metric="committed"]', (t) => /^\d[\d,]*$/.test(t), 'a committed count'));
    await Promise.all(['amy', 'ben', 'cat'].map((invitee) => referral(invitee)));
    await waitText('[data-metric="committed"]', (t) => numberOf(t) > before, 'the committed count to move');
    // Six turns at least (accept, relation, completion per application) reached the page.
    expect(numberOf(await metric('committed'))).toBeGreaterThanOrEqual(before + 6);
    await page.locator('#chart-throughput canvas').first().waitFor();
    // The series behind the throughput chart saw the burst.
    const series = (await (await fetchAs('/ops/api/series', { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { samples: Array<{ committedPerSec: number | null }> };
    expect(series.samples.some((x) => (x.committedPerSec ?? 0) > 0)).toBe(true);
  });

  it('retries an application from the manual-intervention queue: it leaves the queue and ends BOTH_REWARDED, one grant per side', async () => {
    const zoe = await stuck('zoe');
    const yan = await stuck('yan'); // stays in the queue: the retry must take the right row
    const row = page.locator(`#manual-table tr[data-actor="referral/${zoe}"]`);
    await row.waitFor();
    expect(await row.locator('td').nth(4).textContent()).toBe('MAX_RETRIES');
    expect(await row.locator('td').nth(3).textContent()).toBe('REWARD');
    expect(await row.locator('td').nth(5).textContent()).toContain('ACTIVITY_UNAVAILABLE');
    await waitText('[data-metric="manual"]', (t) => t === '2', 'two applications in manual intervention');

    await row.getByRole('button', { name: 'Retry' }).click();
    await row.waitFor({ state: 'detached' });
    expect(await page.locator('#toast').textContent()).toMatch(new RegExp(`Retried referral/${zoe} as ann`));
    await page.locator(`#manual-table tr[data-actor="referral/${yan}"]`).waitFor();

    const done = await until(zoe, (s) => s.status === 'BOTH_REWARDED', `${zoe} rewarded after the retry`);
    expect(done).toMatchObject({ sharer: { outcome: 'GRANTED' }, invitee: { outcome: 'GRANTED' } });
    for (const [side, user] of [['sharer', 'sharer-zoe'], ['invitee', 'zoe']] as const) {
      const grants = (await activity.ledger(user)).filter((g) => g.key === `${zoe}:${side}`);
      expect(grants).toHaveLength(1);
      expect(grants[0]!.grantId).toBe(done[side].grantId);
    }
    expect(await env.redis.zscore(keys.manual(partitionOf({ type: 'referral', id: zoe }, partitions)), `referral/${zoe}`)).toBeNull();
    await waitText('[data-metric="manual"]', (t) => t === '1', 'one application left in manual intervention');
  });

  it('inspects the retried application: status, state, and the audit timeline naming the operator; dead letters are summed up', async () => {
    await page.fill('#inspect-type', 'referral');
    await page.fill('#inspect-id', `${ACTIVITY}:zoe`);
    await page.click('#inspect-form button[type=submit]');
    await waitText('#inspect-status', (t) => t === 'BOTH_REWARDED', 'the inspector');
    expect(JSON.parse((await page.locator('#inspect-state').textContent())!)).toMatchObject({ status: 'BOTH_REWARDED', inviteeId: 'zoe' });
    const timeline = await page.locator('#audit-timeline').textContent();
    expect(timeline).toContain('MANUAL_INTERVENTION');
    expect(timeline).toContain('retried from ops by ann after MAX_RETRIES');

    // An entry the ingest router cannot route is dead-lettered, with its reason, and shows up in the summary.
    await env.redis.xadd(keys.ingest(), '*', 'note', 'no actor or event named');
    await page.locator('#dead-table tbody tr').first().waitFor({ timeout: 12_000 });
    expect(await page.locator('#dead-table tbody tr').first().textContent()).toContain('ingest');
    expect(await metric('dead')).toBe('1');
  });

  it('keeps sessions in Redis under a hash of their id; idle, absolute expiry and a new admin token each end them', async () => {
    const store = new OpsSessionStore(redis, ns, { idleMs: 300, maxAgeMs: 10_000 });
    const { id } = await store.create('bob', TOKEN);
    expect(await env.redis.exists(store.key(id))).toBe(1);
    expect(await env.redis.keys(`*${id}*`)).toEqual([]); // reading Redis gives no usable cookie
    expect(await store.find(id, TOKEN)).toMatchObject({ operator: 'bob' });
    expect(await store.find(id, 'a-rotated-admin-token')).toBeNull();
    expect(await store.find(id, TOKEN)).toBeNull(); // ended for good, not only refused
    const idle = await store.create('bob', TOKEN);
    await new Promise((r) => setTimeout(r, 450));
    expect(await store.find(idle.id, TOKEN)).toBeNull();
    const old = await store.create('bob', TOKEN, Date.now() - 20_000);
    expect(await store.find(old.id, TOKEN)).toBeNull();
  });

  if (SCREENSHOT) {
    it('takes a screenshot of the dashboard with data in it', async () => {
      // Waves of referrals of changing size, so the charts have a shape.
      const deadline = Date.now() + 14_000;
      for (let wave = 0; Date.now() < deadline; wave++) {
        const size = 4 + Math.round(8 * (1 + Math.sin(wave / 2)));
        await Promise.all(Array.from({ length: size }, (_, i) => referral(`w${wave}-${i}`).catch(() => undefined)));
      }
      await page.fill('#inspect-id', `${ACTIVITY}:yan`);
      await page.click('#inspect-form button[type=submit]');
      await waitText('#inspect-status', (t) => t === 'MANUAL_INTERVENTION', 'the inspector');
      await page.evaluate('window.scrollTo(0, 0)');
      await page.waitForTimeout(1500);
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
    }, 40_000);
  }

  it('terminates the other application from the queue: asks for a reason, ends TERMINATED with the operator and reason, no grant', async () => {
    const yan = `${ACTIVITY}:yan`;
    const row = page.locator(`#manual-table tr[data-actor="referral/${yan}"]`);
    page.once('dialog', (dialog) => void dialog.accept('campaign retired'));
    await row.getByRole('button', { name: 'Terminate' }).click();
    await row.waitFor({ state: 'detached' });
    expect(await page.locator('#toast').textContent()).toMatch(new RegExp(`Terminated referral/${yan} as ann: now TERMINATED`));
    expect(await state(yan)).toMatchObject({ status: 'TERMINATED', terminated: { operator: 'ann', reason: 'campaign retired' } });
    expect((await activity.ledger('yan')).filter((g) => g.key.startsWith(yan))).toEqual([]);
    await page.locator('#manual-empty').waitFor();
  });

  it('logs out: the session ends on the server too, and the page asks for a login again', async () => {
    const [cookie] = await page.context().cookies();
    await page.click('#logout');
    await page.waitForURL(`${base}/ops/login`);
    expect(await page.context().cookies()).toEqual([]);
    // The old cookie, replayed, no longer opens anything.
    expect((await fetchAs('/ops/api/status', { headers: { cookie: `propel_ops=${cookie!.value}` } })).status).toBe(401);
    await page.goto(`${base}/ops`);
    expect(new URL(page.url()).pathname).toBe('/ops/login');
    expect(browserProblems).toEqual([]);
  });
}
