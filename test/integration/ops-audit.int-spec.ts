import { Logger } from '@nestjs/common';
import { decode, ENVELOPE_FIELD, Keys, partitionOf, RedisStreamsClient, RedisStreamsServer } from '../../common';
import type { AuditRecord } from '../../common';
import { auditOf } from '../../common/ops';
import type { ActorAudit, OpsContext } from '../../common/ops';
import { counterActor, referralActor } from '../../actors';
import { ACTOR_DEFINITIONS } from '../../actors/definitions';
import type { ReferralState } from '../../actors/referral/referral.types';
import { createGateway, Gateway } from '../../apps/gateway/gateway.app';
import { opsJson, runOps } from '../harness/ops';
import { uniqueNamespace, useTestRedis } from '../harness/redis';
import { useReferralWorker } from '../harness/referral';
import { fastRuntime, readRecord, startWorker, waitFor } from '../harness/workers';

type Any = ReferralState & Record<string, any>;

const TOKEN = 'ops-audit-admin-token';
const TERMINAL = new Set(['REJECTED', 'EXPIRED', 'BOTH_REWARDED', 'SHARER_ONLY', 'INVITEE_ONLY', 'NEITHER']);

describe('ops audit: an actor’s timeline and why it was not rewarded; audit retention', () => {
  // Registered in the outer block, so Redis stops after the inner blocks' afterAll closed their workers.
  const env = useTestRedis();
  describe('one worker hosting the referral actor, the CLI and the ops API', () => referrals(env));
  describe('a worker with a 3 s audit retention and a history list of 3', () => retention(env));
});

/** The records of one actor in its partition's audit stream, in stream order. */
async function streamRecords(redis: ReturnType<typeof useTestRedis>['redis'], keys: Keys, partitions: number, type: string, id: string): Promise<AuditRecord[]> {
  const entries = await redis.xrangeBuffer(keys.audit(partitionOf({ type, id }, partitions)), '-', '+');
  return entries.map(([, f]) => decode<AuditRecord>(f[f.findIndex((b) => b.toString() === ENVELOPE_FIELD) + 1]!)).filter((a) => a.actor === `${type}/${id}`);
}

// Provokes a sharer side refused by the activity's frequency cap (caps.total 1: the sharer's second referral is
// over it) next to a fully rewarded referral, then asks the CLI (as a child process) and the ops API why.
function referrals(env: ReturnType<typeof useTestRedis>): void {
  const fleet = useReferralWorker(env, 'opsaud', { leaseTtlMs: 3000, memberTtlMs: 3000 });
  const target = () => ({ url: env.url, ns: fleet.ns, partitions: fleet.partitions });
  const rewarded = 'aud:amy';
  const capped = 'aud:ben';
  let gateway: Gateway;
  let base: string;

  const state = async (app: string) => (await readRecord<Any>(env.redis, fleet.keys, partitionOf({ type: 'referral', id: app }, fleet.partitions), 'referral', app))?.state;
  const until = (app: string, want: (s: Any) => boolean, what: string) =>
    waitFor(async () => {
      const s = await state(app);
      return s && want(s) ? s : null;
    }, 15_000, what);
  /** Accept, the relation, the task completed, and a terminal state. */
  const lifecycle = async (app: string, sharerId: string, inviteeId: string): Promise<Any> => {
    await fleet.client.ask(referralActor, app, { type: 'Accept', activityId: 'aud', sharerId, inviteeId });
    await until(app, (s) => s.status === 'RELATION_ESTABLISHED', `${app} relation`);
    await fleet.client.ask(referralActor, app, { type: 'TaskCompleted', occurredAt: Date.now(), eventId: `order-${inviteeId}` });
    return until(app, (s) => TERMINAL.has(s.status), `${app} terminal`);
  };

  beforeAll(async () => {
    Logger.overrideLogger(['warn', 'error']);
    await fleet.activity.define({ id: 'aud', timeZone: 'Asia/Shanghai', budget: { total: 100 }, prize: { kind: 'points', amount: 10 }, caps: { total: 1 } });
    expect(await lifecycle(rewarded, 'sam', 'amy')).toMatchObject({ status: 'BOTH_REWARDED' });
    expect(await lifecycle(capped, 'sam', 'ben')).toMatchObject({ status: 'INVITEE_ONLY', sharer: { outcome: 'REJECTED', reason: 'CAP_TOTAL' }, invitee: { outcome: 'GRANTED' } });
    gateway = await createGateway({ propel: { redis: { url: env.url }, runtime: { namespace: fleet.ns, partitions: fleet.partitions } }, adminToken: TOKEN }, false);
    await gateway.app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(gateway.app.getHttpServer().address() as { port: number }).port}`;
  }, 60_000);
  afterAll(async () => {
    await gateway?.close();
  });

  it('ops audit --json: the timeline in version order, as the audit stream has it, and a reason chain naming the sharer side and its code', async () => {
    const a = await opsJson<ActorAudit>(target(), ['audit', 'referral', capped]);
    expect(a).toMatchObject({ actor: `referral/${capped}`, status: 'INVITEE_ONLY', rewarded: false, explained: true, truncated: false });
    const versions = a.timeline.map((h) => h.version);
    expect(versions).toEqual([...versions].sort((x, y) => x - y));
    expect([versions[0], versions[versions.length - 1]]).toEqual([1, a.version]);
    expect(a.timeline[0]).toMatchObject({ message: 'Accept', from: 'NEW', to: 'INIT' });
    expect(a.timeline[a.timeline.length - 1].to).toBe('INVITEE_ONLY');
    expect(a.timeline.map((h) => h.message)).toEqual(expect.arrayContaining(['Accept', 'RelationResult', 'TaskCompleted', 'SharerRewardResult', 'InviteeRewardResult']));
    // The history list and the partition's audit stream tell the same story, record for record.
    const stream = await streamRecords(env.redis, fleet.keys, fleet.partitions, 'referral', capped);
    expect(a.timeline.map((h) => [h.version, h.messageId, h.message])).toEqual(stream.map((h) => [h.version, h.messageId, h.message]));
    expect(a.reasons).toEqual([{ code: 'CAP_TOTAL', detail: expect.stringMatching(/^sharer reward not granted: refused by the activity with CAP_TOTAL \(1 attempt\)/) }]);

    const limited = await opsJson<ActorAudit>(target(), ['audit', 'referral', capped, '--limit', '2']);
    expect(limited.timeline.map((h) => h.version)).toEqual(versions.slice(-2));
    expect(limited.truncated).toBe(true);
  }, 60_000);

  it('ops audit (human): a timeline table and a "Why not rewarded" section; a fully rewarded referral has no reasons', async () => {
    const human = await runOps(target(), ['audit', 'referral', capped]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(new RegExp(`^referral/${capped} {2}partition \\d+ {2}version \\d+ {2}status INVITEE_ONLY {2}not rewarded\\n`));
    expect(human.stdout).toMatch(/timeline \(\d+ records, oldest first\):\n {2}TIME +V +MESSAGE +FROM → TO +WHY\n {2}\S+ +1 +Accept +NEW → INIT/);
    expect(human.stdout).toMatch(/Why not rewarded:\n {2}1\. CAP_TOTAL {2}sharer reward not granted/);

    const ok = await opsJson<ActorAudit>(target(), ['audit', 'referral', rewarded]);
    expect(ok).toMatchObject({ status: 'BOTH_REWARDED', rewarded: true, reasons: [], explained: true });
    const okHuman = await runOps(target(), ['audit', 'referral', rewarded]);
    expect(okHuman.stdout).toMatch(/Rewarded: nothing is missing\./);
    expect(okHuman.stdout).not.toMatch(/Why not rewarded/);

    expect(await runOps(target(), ['audit', 'referral', 'aud:nobody'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/no actor referral\/aud:nobody/) });
  }, 60_000);

  it('GET /ops/api/audit/:type/:id: 401 without the admin token or a session, the same answer as the CLI with it, 404 for no actor', async () => {
    const path = `/ops/api/audit/referral/${encodeURIComponent(capped)}`;
    expect((await fetch(`${base}${path}`)).status).toBe(401);
    expect((await fetch(`${base}${path}`, { headers: { authorization: 'Bearer not-the-token' } })).status).toBe(401);
    const auth = { headers: { authorization: `Bearer ${TOKEN}` } };
    const res = await fetch(`${base}${path}`, auth);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(await opsJson(target(), ['audit', 'referral', capped]));
    const limited = (await (await fetch(`${base}${path}?limit=1`, auth)).json()) as ActorAudit;
    expect([limited.timeline.length, limited.truncated]).toEqual([1, true]);
    expect((await fetch(`${base}${path}?limit=0`, auth)).status).toBe(400);
    const missing = await fetch(`${base}/ops/api/audit/referral/aud:nobody`, auth);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: 'NOT_FOUND' } });
  }, 60_000);
}

// Provokes the time-based audit retention with a retention of 3 s trimmed every 100 ms by the partitions' owner,
// and a history list of 3 records so that the audit query finds older records in the stream before the trim.
function retention(env: ReturnType<typeof useTestRedis>): void {
  const RETENTION_MS = 3_000;
  const ns = uniqueNamespace('audret');
  const runtime = fastRuntime(ns, { historyLimit: 3, auditRetentionHours: RETENTION_MS / 3_600_000, auditTrimEveryMs: 100 });
  const partitions = runtime.partitions as number;
  const keys = new Keys(ns);
  let worker: RedisStreamsServer;
  let client: RedisStreamsClient;
  const ctx = (): OpsContext => ({ redis: env.redis, keys, partitions, definitions: ACTOR_DEFINITIONS });
  const records = (id: string) => streamRecords(env.redis, keys, partitions, 'counter', id);

  beforeAll(async () => {
    worker = await startWorker(env.url, { runtime, actors: [counterActor] });
    client = new RedisStreamsClient({ redis: { url: env.url }, runtime: { namespace: ns, partitions } });
  });
  afterAll(async () => {
    await client?.close();
    await worker?.close();
  });

  it('audit records older than the retention are trimmed from the audit stream, newer ones kept; the history list outlives them', async () => {
    for (let i = 0; i < 8; i++) await client.ask(counterActor, 'old', { type: 'increment', by: 1 });
    const lastWrite = Date.now();
    // Within the retention the stream keeps all 8 while the history list holds the last few: older ones to read.
    expect((await records('old')).map((r) => r.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const early = await auditOf(ctx(), { type: 'counter', id: 'old' });
    expect(early.timeline.length).toBeLessThanOrEqual(4);
    expect(early.timeline[early.timeline.length - 1].version).toBe(8);
    expect(early.timeline[0].version).toBeGreaterThan(1);
    expect(early).toMatchObject({ truncated: true, version: 8, reasons: [], explained: false, rewarded: false });
    expect(early.scanned).toBeGreaterThan(0);

    // Past the retention the owner trims them, and not before.
    await waitFor(async () => (await records('old')).length === 0, RETENTION_MS + 10_000, 'the old audit records trimmed');
    expect(Date.now() - lastWrite).toBeGreaterThanOrEqual(RETENTION_MS - 50);

    for (let i = 0; i < 3; i++) await client.ask(counterActor, 'new', { type: 'increment', by: 1 });
    expect((await records('new')).map((r) => r.version)).toEqual([1, 2, 3]);
    const cutoff = Date.now() - RETENTION_MS;
    for (let p = 0; p < partitions; p++) {
      for (const [id] of await env.redis.xrange(keys.audit(p), '-', '+')) expect(Number(id.split('-')[0])).toBeGreaterThanOrEqual(cutoff);
    }

    // The history list is not the stream: the actor's last records stay, and nothing older is left to read.
    const late = await auditOf(ctx(), { type: 'counter', id: 'old' });
    expect(late.timeline).toEqual(early.timeline);
    expect(late.truncated).toBe(false);
    const human = await runOps({ url: env.url, ns, partitions }, ['audit', 'counter', 'old'], { env: { PROPEL_AUDIT_RETENTION_HOURS: '0' } });
    expect(human.stdout).toMatch(/the history starts at version \d+: older records are no longer kept/);
    expect(human.stdout).toMatch(/no explanation: ops knows no counter definition with explain/);
  }, 60_000);
}
