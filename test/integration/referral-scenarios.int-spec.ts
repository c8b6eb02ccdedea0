import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { decode, encode, encodeEnvelope, ENVELOPE_FIELD, GROUPS, partitionOf, RedisActorStore, runTurn } from '../../common';
import type { AuditRecord, CommitTurn } from '../../common';
import { referralActor } from '../../actors';
import type { ReferralState } from '../../actors/referral/referral.types';
import { ActivityInput, components } from '../../apps/worker/components/activity';
import { useReferralWorker } from '../harness/referral';
import { useTestRedis } from '../harness/redis';
import { readRecord, startWorker, waitFor } from '../harness/workers';

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..');
const TERMINAL = new Set(['REJECTED', 'EXPIRED', 'BOTH_REWARDED', 'SHARER_ONLY', 'INVITEE_ONLY', 'NEITHER']);
type Any = ReferralState & Record<string, any>;

// Scenarios 2–12, 14 and 19 of docs (../shared/design/scenarios.md) through one real worker hosting the referral
// actor and the activity component, on a real Redis. Each test checks the standing invariants at its end.
describe('referral scenarios through the runtime (2–12, 14, 19)', () => {
  // Registered in the outer block, so Redis stops after the inner block's afterAll closed the worker and client.
  const env = useTestRedis();
  describe('one worker, one activity component', () => scenarios(env));
});

function scenarios(env: ReturnType<typeof useTestRedis>): void {
  // The production lease TTL: scenario 10 loads the worker, and this process shares its two cores.
  const fleet = useReferralWorker(env, 'scn', { leaseTtlMs: 3000, memberTtlMs: 3000 });
  const { ns, keys, partitions, faults } = fleet;

  const define = (id: string, extra: Partial<ActivityInput> = {}) =>
    fleet.activity.define({ id, timeZone: 'Asia/Shanghai', budget: { total: 1000 }, prize: { kind: 'points', amount: 10 }, ...extra });
  const partitionOfApp = (app: string) => partitionOf({ type: 'referral', id: app }, partitions);
  const record = (app: string) => readRecord<Any>(env.redis, keys, partitionOfApp(app), 'referral', app);
  const state = async (app: string) => (await record(app))?.state;
  const until = async (app: string, statuses: Set<string> | string, what = `${app} ${String(statuses)}`, ms = 15_000) => {
    const want = typeof statuses === 'string' ? new Set([statuses]) : statuses;
    return waitFor(async () => {
      const s = await state(app);
      return s && want.has(s.status) ? s : null;
    }, ms, what);
  };
  const accept = (act: string, sharerId: string, inviteeId: string, extra: Record<string, unknown> = {}) =>
    fleet.client.ask(referralActor, `${act}:${inviteeId}`, { type: 'Accept', activityId: act, sharerId, inviteeId, ...extra });
  const complete = (app: string, eventId: string, occurredAt = Date.now(), messageId?: string) =>
    fleet.client.ask(referralActor, app, { type: 'TaskCompleted', occurredAt, eventId }, messageId ? { messageId } : {});
  /** Accept, wait for the relation, complete the task, wait for a terminal state. */
  const lifecycle = async (act: string, sharerId: string, inviteeId: string, extra: Record<string, unknown> = {}) => {
    const app = `${act}:${inviteeId}`;
    await accept(act, sharerId, inviteeId, extra);
    const s = await until(app, new Set(['RELATION_ESTABLISHED', ...TERMINAL]));
    if (s.status === 'RELATION_ESTABLISHED') await complete(app, `done-${inviteeId}`);
    return until(app, TERMINAL);
  };

  /** The audit records of one application, in stream order. */
  async function auditOf(app: string): Promise<AuditRecord[]> {
    const entries = await env.redis.xrangeBuffer(keys.audit(partitionOfApp(app)), '-', '+');
    return entries.map(([, f]) => decode<AuditRecord>(f[1]!)).filter((a) => a.actor === `referral/${app}`);
  }

  /**
   * The standing invariants for the applications of one activity: at most one grant per (application, side)
   * and it matches the ledger; budget used = grants ≤ limit; every committed version left its audit records,
   * one per decided message; every side or relation not rewarded carries a reason code.
   */
  async function checkInvariants(act: string, apps: string[]): Promise<void> {
    let granted = 0;
    for (const app of apps) {
      const rec = (await record(app))!;
      const s = rec.state;
      const audits = await auditOf(app);
      // Every committed version left its audit records (one per message the turn decided: a timer tick that
      // times out both reward calls decides two), in order, and no version is missing or repeated out of order.
      const versions = audits.map((a) => a.version);
      expect(versions).toEqual([...versions].sort((x, y) => x - y));
      expect([...new Set(versions)]).toEqual(Array.from({ length: rec.version }, (_, i) => i + 1));
      expect(new Set(audits.map((a) => a.messageId)).size).toBe(audits.length);
      if (s.relation?.outcome === 'REJECTED') expect(s.relation.reason).toEqual(expect.any(String));
      for (const side of ['sharer', 'invitee'] as const) {
        const sideState = s[side];
        if (!sideState) continue;
        const ledger = (await fleet.activity.ledger(side === 'sharer' ? s.sharerId : s.inviteeId)).filter((g) => g.key === `${app}:${side}`);
        if (sideState.outcome === 'GRANTED') {
          granted++;
          expect(ledger).toHaveLength(1);
          expect(ledger[0]!.grantId).toBe(sideState.grantId);
        } else {
          expect(ledger).toHaveLength(0);
          if (sideState.outcome === 'REJECTED') expect(sideState.reason).toEqual(expect.any(String));
        }
      }
    }
    const { used, limit } = await fleet.activity.budget(act);
    expect(used).toBeLessThanOrEqual(limit);
    expect(used).toBe(granted);
  }

  it('scenario 2: the invitee is the sharer — rejected at the relation step with SELF_REFERRAL; no budget touched', async () => {
    await define('s2');
    const s = await lifecycle('s2', 'ann', 'ann');
    expect(s).toMatchObject({ status: 'REJECTED', relation: { outcome: 'REJECTED', reason: 'SELF_REFERRAL' } });
    expect(await fleet.activity.budget('s2')).toEqual({ limit: 1000, used: 0 });
    await checkInvariants('s2', ['s2:ann']);
  });

  it('scenario 3: same device as the sharer — a reject policy rejects with the reason; a flag policy rewards and records the flag', async () => {
    await define('s3-reject', { risk: { sameDevice: 'reject', sameIp: 'off' } });
    await define('s3-flag', { risk: { sameDevice: 'flag', sameIp: 'flag' } });
    const proxy = { device: 'phone-1', ip: '10.0.0.9', sharerDevice: 'phone-1', sharerIp: '10.0.0.9' };
    const rejected = await lifecycle('s3-reject', 'bea', 'bea-alt', proxy);
    expect(rejected).toMatchObject({ status: 'REJECTED', relation: { outcome: 'REJECTED', reason: 'RISK_SAME_DEVICE' } });
    // A different device on the same IP passes the reject-device policy: the IP check is off there.
    expect(await lifecycle('s3-reject', 'bea', 'bea-friend', { ...proxy, device: 'phone-2' })).toMatchObject({ status: 'BOTH_REWARDED' });

    const flagged = await lifecycle('s3-flag', 'bea', 'bea-alt', proxy);
    expect(flagged).toMatchObject({ status: 'BOTH_REWARDED' });
    const [grant] = (await fleet.activity.ledger('bea-alt')).filter((g) => g.activityId === 's3-flag');
    expect(grant?.flags).toEqual(['RISK_SAME_DEVICE', 'RISK_SAME_IP']);
    // Retry rounds are internal (timers only): a producer cannot force one, and the application stays as it is.
    await expect(fleet.client.ask(referralActor, 's3-flag:bea-alt', { type: 'Retry' })).rejects.toMatchObject({ code: 'INVALID_MESSAGE' });
    expect((await state('s3-flag:bea-alt'))?.status).toBe('BOTH_REWARDED');
    await checkInvariants('s3-reject', ['s3-reject:bea-alt', 's3-reject:bea-friend']);
    await checkInvariants('s3-flag', ['s3-flag:bea-alt']);
  });

  it('scenario 4: an invitee outside the audience fails that side with NOT_IN_AUDIENCE and the application still ends (SHARER_ONLY)', async () => {
    await define('s4', { audience: { anyOf: ['member'] } });
    await fleet.activity.setUserTags('cat', ['member']);
    await fleet.activity.setUserTags('cat-friend', ['guest']);
    const s = await lifecycle('s4', 'cat', 'cat-friend');
    expect(s).toMatchObject({ status: 'SHARER_ONLY', sharer: { outcome: 'GRANTED' }, invitee: { outcome: 'REJECTED', reason: 'NOT_IN_AUDIENCE' } });
    // The invitee audience of activity 1 (who may be invited) rejects at the relation step instead.
    await define('s4-new-users', { inviteeAudience: { allOf: ['new-user'] } });
    await fleet.activity.setUserTags('cat-old', ['member']);
    expect(await lifecycle('s4-new-users', 'cat', 'cat-old')).toMatchObject({ status: 'REJECTED', relation: { reason: 'NOT_IN_AUDIENCE' } });
    await checkInvariants('s4', ['s4:cat-friend']);
    await checkInvariants('s4-new-users', ['s4-new-users:cat-old']);
  });

  it('scenario 5: the task is not done in time — the deadline timer expires the application, no grants', async () => {
    await define('s5');
    const app = 's5:dan-friend';
    await accept('s5', 'dan', 'dan-friend', { settings: { taskDeadlineHours: 0.3 / 3600 } }); // 300 ms
    const s = await until(app, 'EXPIRED', 'the deadline to expire the application');
    expect(s.finishedAt).toBeGreaterThanOrEqual(s.taskDeadline);
    // A completion after expiry never reopens it, even one that claims to have occurred in time.
    const late = await complete(app, 'late-1', s.taskDeadline);
    expect(late.rejected?.code).toBe('ALREADY_TERMINAL');
    expect((await state(app))?.status).toBe('EXPIRED');
    expect(await fleet.activity.budget('s5')).toEqual({ limit: 1000, used: 0 });
    await checkInvariants('s5', [app]);
  });

  it('scenario 6: a completion that occurred by the deadline but arrives after it is decided by occurrence time (boundary inclusive)', async () => {
    await define('s6');
    // 1 s window plus 30 s of grace for late arrivals: the expiry timer waits for the grace, completions do not.
    const settings = { taskDeadlineHours: 1 / 3600, completionGraceMs: 30_000 };
    await accept('s6', 'eve', 'eve-1', { settings });
    await accept('s6', 'eve', 'eve-2', { settings });
    const a = await until('s6:eve-1', 'RELATION_ESTABLISHED');
    const b = await until('s6:eve-2', 'RELATION_ESTABLISHED');
    await waitFor(() => Date.now() > Math.max(a.taskDeadline, b.taskDeadline) + 50, 5_000, 'the deadline to pass');
    // Arriving after the deadline: occurred exactly at it (counts), and 1 ms after it (does not).
    expect((await complete('s6:eve-1', 'on-time', a.taskDeadline)).status).toBe('TASK_COMPLETED');
    expect((await complete('s6:eve-2', 'too-late', b.taskDeadline + 1)).rejected?.code).toBe('TASK_LATE');
    expect(await until('s6:eve-1', TERMINAL)).toMatchObject({ status: 'BOTH_REWARDED', completedAt: a.taskDeadline });
    expect((await state('s6:eve-2'))?.status).toBe('RELATION_ESTABLISHED'); // waits for its expiry timer
    // A terminal application never reopens.
    expect((await complete('s6:eve-1', 'another', a.taskDeadline)).rejected?.code).toBe('ALREADY_TERMINAL');
    await checkInvariants('s6', ['s6:eve-1', 's6:eve-2']);
  });

  it('scenario 7: the same completion delivered 2–10 times, and under other event ids — one transition, one grant per side', async () => {
    await define('s7');
    const apps: string[] = [];
    for (let i = 0; i < 9; i++) {
      const app = `s7:fay-${i}`;
      apps.push(app);
      await accept('s7', 'fay', `fay-${i}`);
    }
    for (const app of apps) await until(app, 'RELATION_ESTABLISHED');
    const occurredAt = Date.now();
    // Application i gets its completion i + 2 times concurrently: the same event id, half of them also the same
    // message id (a redelivered entry), plus one more with another event id (the same order reported twice).
    await Promise.all(
      apps.flatMap((app, i) => [
        ...Array.from({ length: i + 2 }, (_, k) => fleet.client.tell(referralActor, app, { type: 'TaskCompleted', occurredAt, eventId: 'order-1' }, k % 2 ? `dup-${app}` : undefined)),
        fleet.client.tell(referralActor, app, { type: 'TaskCompleted', occurredAt, eventId: 'order-1-again' }),
      ]),
    );
    for (const app of apps) {
      const s = await until(app, TERMINAL);
      expect(s.status).toBe('BOTH_REWARDED');
      expect([s.sharer.attempts, s.invitee.attempts]).toEqual([1, 1]);
      const completions = (await auditOf(app)).filter((a) => a.message === 'TaskCompleted');
      expect(completions.filter((a) => a.from !== a.to)).toHaveLength(1); // one transition; the rest rejected
      expect(completions.slice(1).every((a) => ['DUPLICATE_EVENT', 'ALREADY_COMPLETED', 'ALREADY_TERMINAL'].includes(a.rejected?.code ?? ''))).toBe(true);
    }
    expect(await fleet.activity.ledger('fay')).toHaveLength(9);
    await checkInvariants('s7', apps);
  });

  it('scenario 8: the sharer hits the frequency cap, the invitee passes — INVITEE_ONLY, the invitee grant stands, each side has its reason', async () => {
    await define('s8', { caps: { total: 1 } });
    expect(await lifecycle('s8', 'gus', 'gus-1')).toMatchObject({ status: 'BOTH_REWARDED' });
    const s = await lifecycle('s8', 'gus', 'gus-2');
    expect(s).toMatchObject({ status: 'INVITEE_ONLY', sharer: { outcome: 'REJECTED', reason: 'CAP_TOTAL' }, invitee: { outcome: 'GRANTED' } });
    expect(await fleet.activity.ledger('gus')).toHaveLength(1);
    expect(await fleet.activity.ledger('gus-2')).toHaveLength(1);
    await checkInvariants('s8', ['s8:gus-1', 's8:gus-2']);
  });

  it('scenario 9: the activity is paused between the relation and the rewards — NEITHER, no budget used', async () => {
    await define('s9');
    await accept('s9', 'hal', 'hal-1');
    await until('s9:hal-1', 'RELATION_ESTABLISHED');
    await fleet.activity.pause('s9');
    await complete('s9:hal-1', 'order-9');
    const s = await until('s9:hal-1', TERMINAL);
    expect(s).toMatchObject({ status: 'NEITHER', sharer: { reason: 'ACTIVITY_PAUSED' }, invitee: { reason: 'ACTIVITY_PAUSED' } });
    expect(await fleet.activity.budget('s9')).toEqual({ limit: 1000, used: 0 });
    await checkInvariants('s9', ['s9:hal-1']);
  });

  it('scenario 10: 10,000 concurrent completions (20,000 reward applies) for a budget of 1,000 — exactly 1,000 grants, used = 1,000', async () => {
    await define('s10', { budget: { total: 1000 }, budgetBuckets: 4 });
    const n = 10_000;
    const apps = Array.from({ length: n }, (_, i) => `s10:inv-${i}`);
    // Accepts straight into the inboxes (as an upstream producer would), 500 at a time.
    for (let i = 0; i < n; i += 500) {
      await Promise.all(apps.slice(i, i + 500).map((_, k) => fleet.client.tell(referralActor, apps[i + k]!, { type: 'Accept', activityId: 's10', sharerId: `sh-${(i + k) % 50}`, inviteeId: `inv-${i + k}` })));
    }
    // Polls only the applications not yet in the wanted states, so the check stays cheap as they finish.
    const store = new RedisActorStore(env.redis, keys);
    const waitAll = async (want: (s: Any) => boolean, what: string) => {
      const seen = new Map<string, Any>();
      let left = apps;
      await waitFor(async () => {
        const byPartition = new Map<number, string[]>();
        for (const app of left) byPartition.set(partitionOfApp(app), [...(byPartition.get(partitionOfApp(app)) ?? []), app]);
        const next: string[] = [];
        for (const [p, ids] of byPartition) {
          const recs = await store.loadMany(p, ids.map((id) => ({ type: 'referral', id })));
          ids.forEach((app, k) => {
            const s = recs[k]?.state as Any | undefined;
            if (s && want(s)) seen.set(app, s);
            else next.push(app);
          });
        }
        left = next;
        if (left.length > 0) await new Promise((r) => setTimeout(r, 500));
        return left.length === 0;
      }, 120_000, what).catch(async (e: Error) => {
        const sample = await Promise.all(left.slice(0, 200).map((app) => record(app)));
        const counts: Record<string, number> = {};
        for (const r of sample) counts[String(r?.state.status)] = (counts[String(r?.state.status)] ?? 0) + 1;
        throw new Error(`${e.message}: ${left.length} left, of the first 200: ${JSON.stringify(counts)}; e.g. ${JSON.stringify(sample[0])}`);
      });
      return apps.map((app) => seen.get(app)!);
    };
    await waitAll((s) => s.status === 'RELATION_ESTABLISHED', 'all relations');
    const occurredAt = Date.now();
    for (let i = 0; i < n; i += 500) {
      await Promise.all(apps.slice(i, i + 500).map((app) => fleet.client.tell(referralActor, app, { type: 'TaskCompleted', occurredAt, eventId: `order-${app}` })));
    }
    const done = (await waitAll((s) => TERMINAL.has(s.status), 'all applications terminal')).map((s) => ({ s }));
    const sides = done.flatMap((r) => [r.s!.sharer, r.s!.invitee]);
    expect(sides.filter((x) => x.outcome === 'GRANTED')).toHaveLength(1000);
    expect(sides.filter((x) => x.outcome === 'REJECTED' && x.reason === 'BUDGET_TOTAL')).toHaveLength(2 * n - 1000);
    expect(await fleet.activity.budget('s10')).toEqual({ limit: 1000, used: 1000 });
    const ledgerSize = (await Promise.all(Array.from({ length: 50 }, (_, i) => fleet.activity.ledger(`sh-${i}`)))).flat().length;
    const inviteeGrants = sides.filter((x, i) => i % 2 === 1 && x.outcome === 'GRANTED').length;
    expect(ledgerSize + inviteeGrants).toBe(1000);
  }, 240_000);

  it('scenario 11: the reward reply is lost after the grant committed — the retry carries the same key and finds the one grant', async () => {
    await define('s11');
    await accept('s11', 'ida', 'ida-1', { settings: { backoffBaseMs: 50, backoffCapMs: 200 } });
    await until('s11:ida-1', 'RELATION_ESTABLISHED');
    let lost = 0;
    // Lose the reply of the first two grants (both sides, after they committed); later calls answer normally.
    faults.afterCommitRate = 1;
    faults.rng = () => (lost++ < 2 ? 0 : 1);
    await complete('s11:ida-1', 'order-11');
    const s = await until('s11:ida-1', TERMINAL);
    expect(s).toMatchObject({ status: 'BOTH_REWARDED', retryCount: 1, sharer: { attempts: 2 }, invitee: { attempts: 2 } });
    expect(await fleet.activity.ledger('ida')).toHaveLength(1);
    expect(await fleet.activity.ledger('ida-1')).toHaveLength(1);
    expect(await fleet.activity.budget('s11')).toEqual({ limit: 1000, used: 2 });
    await checkInvariants('s11', ['s11:ida-1']);
  });

  it('scenario 12: downstream down past the retry budget — manual intervention visible in ops; a retry from ops grants once', async () => {
    await define('s12');
    const app = 's12:jon-1';
    await accept('s12', 'jon', 'jon-1', { settings: { maxRetries: 2, backoffBaseMs: 20, backoffCapMs: 50 } });
    await until(app, 'RELATION_ESTABLISHED');
    faults.failRate = 1;
    await complete(app, 'order-12');
    const stuck = await until(app, 'MANUAL_INTERVENTION');
    expect(stuck).toMatchObject({ stage: 'REWARD', retryCount: 2, manual: { reason: 'MAX_RETRIES' }, sharer: { attempts: 3, lastError: 'ACTIVITY_UNAVAILABLE' } });
    const opsEnv = { ...process.env, PROPEL_REDIS_URL: env.url, PROPEL_NAMESPACE: ns, PROPEL_PARTITIONS: String(partitions), NO_COLOR: '1' };
    const ops = (...args: string[]) => run(process.execPath, ['-r', join(ROOT, 'scripts', 'register.js'), join(ROOT, 'apps', 'ops', 'main.ts'), ...args], { cwd: ROOT, env: opsEnv });
    const inspected = JSON.parse((await ops('inspect', 'referral', app, '--json')).stdout) as { status: string; state: Any };
    expect(inspected).toMatchObject({ status: 'MANUAL_INTERVENTION', state: { manual: { reason: 'MAX_RETRIES' } } });
    expect(inspected.state.manual.detail).toMatch(/2 retry rounds used .*ACTIVITY_UNAVAILABLE/);
    expect(await fleet.activity.budget('s12')).toEqual({ limit: 1000, used: 0 });
    const manualIndex = keys.manual(partitionOfApp(app));
    expect(Number(await env.redis.zscore(manualIndex, `referral/${app}`))).toBe(stuck.manual.since); // listed for ops

    faults.failRate = 0; // downstream is back
    const retried = await ops('retry', 'referral', app);
    expect(retried.stdout).toMatch(/retried by .*: now TASK_COMPLETED/);
    const s = await until(app, TERMINAL);
    expect(s).toMatchObject({ status: 'BOTH_REWARDED', retryCount: 0 });
    expect(await env.redis.zscore(manualIndex, `referral/${app}`)).toBeNull(); // no longer waiting for a person
    // A second retry from ops (an operator clicking twice) is refused and grants nothing more.
    const again = await ops('retry', 'referral', app).then(() => null, (e: { code: number; stderr: string }) => e);
    expect(again).toMatchObject({ code: 3, stderr: expect.stringMatching(/ALREADY_TERMINAL/) });
    expect(await fleet.activity.budget('s12')).toEqual({ limit: 1000, used: 2 });
    await checkInvariants('s12', [app]);
  }, 60_000);

  it('scenario 14: two executors decide on the same version of one application — one advances it, the other is refused by the version check', async () => {
    await define('s14');
    const app = 's14:kay-1';
    const p = partitionOfApp(app);
    // A transient failure leaves a retry round pending: that round is what two executors race for.
    await accept('s14', 'kay', 'kay-1', { settings: { backoffBaseMs: 1000, backoffCapMs: 1000 } });
    await until(app, 'RELATION_ESTABLISHED');
    faults.failRate = 1;
    await complete(app, 'order-14');
    await waitFor(async () => {
      const s = await state(app);
      return s?.status === 'TASK_COMPLETED' && s.retryCount === 1 && !s.sharer.inFlight && !s.invitee.inFlight;
    }, 10_000, 'a pending retry round');
    // The worker steps aside (its partitions handed back), so only the two executors below write.
    await fleet.worker.close();
    faults.failRate = 0;
    const base = (await record(app))!;
    const due = base.state.scheduleTime!;
    expect(due).toEqual(expect.any(Number));
    await waitFor(() => Date.now() > due, 5_000, 'the retry round to be due');
    await env.redis.set(keys.lease(p), 'executors', 'PX', 10_000);
    // Two executors (overlapping sweeps) both fire the due retry timer on version `base.version`.
    const decide = (messageId: string): CommitTurn => {
      const now = Date.now();
      const r = runTurn(referralActor, base, { id: app, timer: now }, { self: { type: 'referral', id: app }, now, messageId }, { seenLimit: 32, callTimeoutMs: 1000 });
      expect(r.kind).toBe('applied');
      // dueChanged: the call deadlines go into the due index, as a worker's own commit would put them.
      return { ref: { type: 'referral', id: app }, entryId: '', expectedVersion: base.version, record: r.record, dueChanged: true, outbox: [], local: [], audit: r.audit.map((a) => encode(a)) };
    };
    const store = new RedisActorStore(fleet.redis, keys, GROUPS.actors, 1000, 50);
    const results = await Promise.all([store.commit(p, [decide('sweep-a')], 'executors'), store.commit(p, [decide('sweep-b')], 'executors')]);
    expect(results.flat().sort()).toEqual([-1, base.version + 1]);
    const after = (await record(app))!;
    expect(after.version).toBe(base.version + 1);
    expect(after.state).toMatchObject({ scheduleTime: null, sharer: { attempts: 2, inFlight: true }, invitee: { attempts: 2, inFlight: true } });
    expect((await auditOf(app)).filter((a) => a.message === 'Retry')).toHaveLength(1); // the refused executor left no audit record

    // Nobody started the winner's calls (this test is no worker): a worker taking the partition back sees their
    // deadline pass, the timeout schedules the next round, and the application finishes once.
    await env.redis.del(keys.lease(p));
    fleet.worker = await startWorker(env.url, { runtime: fleet.runtime, actors: [referralActor], components: components(fleet.activity) });
    const s = await until(app, TERMINAL, 'the application to finish after the call deadline');
    expect(s).toMatchObject({ status: 'BOTH_REWARDED', sharer: { attempts: 3 }, invitee: { attempts: 3 } });
    await checkInvariants('s14', [app]);
  });

  it('scenario 19: undecodable, unknown-version, malformed, unknown-type and oversized entries are dead-lettered with reason and bytes; the partition keeps flowing', async () => {
    await define('s19');
    const app = 's19:lee-1';
    const p = partitionOfApp(app);
    const entry = (message: Record<string, unknown>) => encodeEnvelope({ id: `m-${JSON.stringify(message).length}-${message.type}`, pattern: 'actor:referral', key: `referral/${app}`, data: { id: app, message }, ts: Date.now() });
    const poison: Array<[code: string, bytes: Buffer]> = [
      ['DECODE_FAILED', Buffer.from([0xc1, 0xff, 0x00, 0x13])],
      ['UNSUPPORTED_VERSION', encode({ v: 42, id: 'v42', pattern: 'actor:referral', data: { id: app, message: { type: 'Accept' } }, ts: 1 })],
      ['INVALID_MESSAGE', entry({ type: 'Explode' })],
      ['INVALID_MESSAGE', entry({ type: 'Accept', activityId: 's19', sharerId: '{evil}', inviteeId: 'lee-1' })],
      ['ENTRY_TOO_LARGE', entry({ type: 'TaskCompleted', occurredAt: 1, eventId: 'x'.repeat(300 * 1024) })],
    ];
    for (const [, bytes] of poison) await env.redis.xadd(keys.inbox(p), '*', ENVELOPE_FIELD, bytes);
    // The partition keeps flowing: a referral behind the bad entries completes.
    expect(await lifecycle('s19', 'lee', 'lee-1')).toMatchObject({ status: 'BOTH_REWARDED' });
    const dead = await waitFor(async () => {
      const all = await env.redis.xrangeBuffer(keys.dead(p), '-', '+');
      return all.length >= poison.length ? all : null;
    }, 10_000, 'the dead letters');
    const letters = dead.map(([, f]) => {
      const fields = new Map<string, Buffer>();
      for (let i = 0; i < f.length; i += 2) fields.set(f[i]!.toString(), f[i + 1]!);
      return fields;
    });
    expect(letters.map((f) => f.get('code')!.toString()).sort()).toEqual(poison.map(([c]) => c).sort());
    for (const [code, bytes] of poison) {
      // Found by its original bytes, untouched, with its code and a sentence a person can act on.
      const fields = letters.find((f) => Buffer.compare(f.get(`f:${ENVELOPE_FIELD}`)!, bytes) === 0);
      expect(fields?.get('code')?.toString()).toBe(code);
      expect(fields!.get('reason')!.toString().length).toBeGreaterThan(10);
    }
    const [pending] = (await env.redis.xpending(keys.inbox(p), GROUPS.actors)) as [number];
    expect(pending).toBe(0);
    await checkInvariants('s19', [app]);
  });
}
