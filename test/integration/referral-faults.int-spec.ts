import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Redis } from 'ioredis';
import { createRedis, decodeEnvelope, Keys, partitionOf, RedisActorStore, RedisStreamsClient, type ActorRecord, type RedisClient, type RedisStreamsServer } from '../../common';
import { referralActor, type ReferralState, type RewardSide } from '../../actors';
import { ActivityComponent, ActivityKeys, components, type Grant } from '../../apps/worker/components/activity';
import { compileNotifierConfig, LogChannel, Notifier, NotifierKeys, WebhookChannel } from '../../apps/notifier';
import { uniqueNamespace, useTestRedis } from '../harness/redis';
import { backlog, fastRuntime, fastWorkerEnv, spawnWorker, startWorker, waitFor, type WorkerProcess } from '../harness/workers';

const PARTITIONS = 8;
/** Short retry rounds so a call cut off by the kill is re-driven quickly (the defaults are 5 s and up). */
const FAST_RETRIES = { backoffBaseMs: 100, backoffCapMs: 1000, maxRetries: 8 };

type App = ActorRecord<ReferralState>;
type Rewarded = ReferralState & { sharer: RewardSide; invitee: RewardSide };

/** Every application's record, read with one pipeline per partition. */
async function loadApps(store: RedisActorStore, ids: string[]): Promise<Map<string, App | null>> {
  const byPartition = new Map<number, string[]>();
  for (const id of ids) {
    const p = partitionOf({ type: 'referral', id }, PARTITIONS);
    byPartition.set(p, [...(byPartition.get(p) ?? []), id]);
  }
  const out = new Map<string, App | null>();
  for (const [p, group] of byPartition) {
    const records = await store.loadMany(p, group.map((id) => ({ type: 'referral', id })));
    group.forEach((id, i) => out.set(id, records[i] as App | null));
  }
  return out;
}

function countStatus(apps: Map<string, App | null>, status: string): number {
  return [...apps.values()].filter((r) => r?.state.status === status).length;
}

/** Notifications the outbox relay appended to `{ns:out:notifications}:stream`, decoded, with their envelope ids. */
async function notifications(redis: Redis, keys: Keys): Promise<Array<{ envelopeId: string; notificationId: string; kind: string; grantId?: string }>> {
  const entries = await redis.xrangeBuffer(keys.named('notifications'), '-', '+');
  return entries.map(([, f]) => {
    const envelope = decodeEnvelope<{ notificationId: string; kind: string; grantId?: string }>(f[1]);
    return { envelopeId: envelope.id, ...envelope.data };
  });
}

/** Sum of the runtime's per-partition dead letters (entries it gave up on). */
async function runtimeDeadLetters(redis: Redis, keys: Keys): Promise<number> {
  let n = 0;
  for (let p = 0; p < PARTITIONS; p++) n += await redis.xlen(keys.dead(p));
  return n;
}

describe('referral faults through the whole system (scenarios 13 and 15)', () => {
  // Nested, so worker processes left by a failed test are killed before the Redis of useTestRedis stops (afterAll hooks run in registration order).
  const env = useTestRedis();
  describe('worker processes, in-process workers and notifiers per test', () => faults(env));
});

function faults(env: ReturnType<typeof useTestRedis>): void {
  let redis: RedisClient;
  const children: WorkerProcess[] = [];
  beforeAll(() => {
    redis = createRedis({ url: env.url, tls: false }, 'referral-faults');
  });
  afterAll(async () => {
    for (const w of children) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    redis.disconnect();
  });

  it('scenario 13: a worker SIGKILLed with reward calls in flight; the lease expires, another worker finishes every application once', async () => {
    const N = 150;
    const ns = uniqueNamespace('faults13');
    const keys = new Keys(ns);
    const store = new RedisActorStore(env.redis, keys);
    const LEASE_TTL_MS = 800;
    const CALL_TIMEOUT_MS = 1500;
    const ACTOR_LEASE_MS = 600;
    const activityId = 'kill-invite';
    const activity = new ActivityComponent(redis, new ActivityKeys(ns));
    // Room for 10 more than needed: a side granted twice would show as used > 2N instead of a budget rejection.
    await activity.define({ id: activityId, timeZone: 'UTC', budget: { total: 2 * N + 10 }, prize: { kind: 'points', amount: 5 } });

    // The victim owns every partition alone, so the kill hits all the work; its activity calls take 40 ms
    // each (PROPEL_FAULT_ACTIVITY_DELAY_MS), so reward calls are in flight when it dies.
    const victim = spawnWorker(env.url, fastWorkerEnv(ns, PARTITIONS, {
      PROPEL_LEASE_TTL_MS: String(LEASE_TTL_MS),
      PROPEL_CLAIM_IDLE_MS: '1000',
      PROPEL_ACTOR_LEASE_MS: String(ACTOR_LEASE_MS),
      PROPEL_CALL_TIMEOUT_MS: String(CALL_TIMEOUT_MS),
      PROPEL_FAULT_ACTIVITY_DELAY_MS: '40',
      PROPEL_WORKER_ID: 'faults-victim',
    }));
    children.push(victim);
    const client = new RedisStreamsClient({ redis: { url: env.url }, runtime: { namespace: ns, partitions: PARTITIONS } });
    let survivor: RedisStreamsServer | undefined;
    let survivorRedis: RedisClient | undefined;
    try {
      const victimId = await victim.workerId;
      expect(victimId).toBe('faults-victim');
      await waitFor(async () => {
        const holders = await Promise.all([...Array(PARTITIONS).keys()].map((p) => env.redis.get(keys.lease(p))));
        return holders.every((h) => h === victimId);
      }, 20_000, 'the victim to hold every partition');

      const apps = [...Array(N).keys()].map((i) => ({ app: `${activityId}:invitee-${i}`, sharerId: `sharer-${i}`, inviteeId: `invitee-${i}` }));
      const ids = apps.map((a) => a.app);
      await Promise.all(apps.map((a) => client.tell(referralActor, a.app, { type: 'Accept', activityId, sharerId: a.sharerId, inviteeId: a.inviteeId, settings: FAST_RETRIES })));
      await waitFor(async () => countStatus(await loadApps(store, ids), 'RELATION_ESTABLISHED') === N, 20_000, 'every relation');

      // Completions arrive in a steady stream (5 every 10 ms); the victim is killed once a quarter of the
      // grants are in, while the stream goes on: some calls are mid-flight, some completions not yet read.
      const produced = (async () => {
        for (let i = 0; i < N; i += 5) {
          await Promise.all(apps.slice(i, i + 5).map((a) => client.tell(referralActor, a.app, { type: 'TaskCompleted', occurredAt: Date.now(), eventId: `order-${a.inviteeId}` })));
          await new Promise((r) => setTimeout(r, 10));
        }
      })();
      const usedAtKill = await waitFor(async () => {
        const { used } = await activity.budget(activityId);
        return used >= N / 2 ? used : 0;
      }, 20_000, 'a quarter of the grants');
      victim.child.kill('SIGKILL');
      const killedAt = Date.now();
      await victim.exited;
      await produced;

      // What the kill left behind (nothing changes these records until another worker owns the partitions).
      const atKill = await loadApps(store, ids);
      const terminalAtKill = countStatus(atKill, 'BOTH_REWARDED');
      const cutOff = [...atKill.values()].filter((r) => r?.state.status === 'TASK_COMPLETED' && ((r.state as Rewarded).sharer.inFlight || (r.state as Rewarded).invitee.inFlight)).length;
      const grantedAtKill = (await activity.budget(activityId)).used;
      // Grants the activity committed whose reply the actor never applied (lost with the worker, or still queued).
      const recordedAtKill = [...atKill.values()].reduce((n, r) => n + (['sharer', 'invitee'] as const).filter((side) => (r?.state as Partial<Rewarded>)[side]?.outcome === 'GRANTED').length, 0);
      expect(usedAtKill).toBeGreaterThan(0);
      expect(terminalAtKill).toBeGreaterThan(0);
      expect(terminalAtKill).toBeLessThan(N);
      expect(cutOff).toBeGreaterThan(0); // the kill really landed mid-turn: calls started and never answered

      // The survivor: another worker, in this process, with its own activity component.
      survivorRedis = createRedis({ url: env.url, tls: false }, 'faults-survivor-activity');
      const survivorActivity = new ActivityComponent(survivorRedis, new ActivityKeys(ns));
      const runtime = fastRuntime(ns, { leaseTtlMs: LEASE_TTL_MS, claimIdleMs: 1000, actorLeaseMs: ACTOR_LEASE_MS, callTimeoutMs: CALL_TIMEOUT_MS, workerId: 'faults-survivor' });
      survivor = await startWorker(env.url, { runtime, actors: [referralActor], components: components(survivorActivity) });

      await waitFor(async () => countStatus(await loadApps(store, ids), 'BOTH_REWARDED') === N, 25_000, 'every application to be rewarded');
      const recoveredMs = Date.now() - killedAt;
      await waitFor(async () => (await backlog(env.redis, keys, PARTITIONS)) === 0, 10_000, 'the inboxes to drain');
      // Nothing stuck: the call deadlines of the dead worker fire (CALL_TIMEOUT) once its lease is gone, and one
      // short retry round re-drives the cut-off sides. Bound: lease TTL + call timeout + a few retry rounds.
      expect(recoveredMs).toBeLessThan(LEASE_TTL_MS + CALL_TIMEOUT_MS + 5000);

      // Exactly one grant per user and side, budget used 2N, and each side's grant in the state is the ledger's.
      const done = await loadApps(store, ids);
      let replayedOrLost = 0;
      for (const a of apps) {
        const rec = done.get(a.app)!;
        expect(rec.state.status).toBe('BOTH_REWARDED');
        const state = rec.state as Rewarded;
        const [sharerLedger, inviteeLedger] = [await activity.ledger(a.sharerId), await activity.ledger(a.inviteeId)];
        expect(sharerLedger).toHaveLength(1);
        expect(inviteeLedger).toHaveLength(1);
        expect(sharerLedger[0]).toMatchObject<Partial<Grant>>({ key: `${a.app}:sharer`, activityId, userId: a.sharerId });
        expect(inviteeLedger[0]).toMatchObject<Partial<Grant>>({ key: `${a.app}:invitee`, activityId, userId: a.inviteeId });
        expect(state.sharer).toMatchObject({ outcome: 'GRANTED', inFlight: false, grantId: sharerLedger[0].grantId });
        expect(state.invitee).toMatchObject({ outcome: 'GRANTED', inFlight: false, grantId: inviteeLedger[0].grantId });
        // No call, timer or retry round left behind on a finished application.
        expect(rec.calls).toEqual({});
        expect(rec.timers).toEqual({});
        expect(rec.scheduleTime).toBeNull();
        if (state.sharer.attempts > 1 || state.invitee.attempts > 1) replayedOrLost++;
        // Finished once: one transition into the terminal state in its history.
        const history = await store.history(partitionOf({ type: 'referral', id: a.app }, PARTITIONS), { type: 'referral', id: a.app });
        expect(history.filter((h) => h.to === 'BOTH_REWARDED' && h.from !== 'BOTH_REWARDED')).toHaveLength(1);
      }
      expect(await activity.budget(activityId)).toEqual({ limit: 2 * N + 10, used: 2 * N });
      // Cut-off calls whose reply never reached the inbox came back through their deadline (CALL_TIMEOUT) and a
      // retry round with the same key (a cut-off call whose reply was already queued needs no second attempt).
      expect(replayedOrLost).toBeGreaterThan(0);

      // One rewarded notification per side (the relay may repeat an entry across a crash, never with another grant).
      const rewarded = (await notifications(env.redis, keys)).filter((n) => n.kind === 'REFERRAL_REWARDED');
      const grantOf = new Map<string, string>();
      for (const a of apps) {
        grantOf.set(`${a.app}:rewarded:sharer`, (await activity.ledger(a.sharerId))[0].grantId);
        grantOf.set(`${a.app}:rewarded:invitee`, (await activity.ledger(a.inviteeId))[0].grantId);
      }
      expect(new Set(rewarded.map((n) => n.notificationId))).toEqual(new Set(grantOf.keys()));
      for (const n of rewarded) expect(n.grantId).toBe(grantOf.get(n.notificationId));
      // A repeated entry is a copy of the same emit (same envelope id), never a second emit of the side.
      const envelopesOf = new Map<string, Set<string>>();
      for (const n of rewarded) envelopesOf.set(n.notificationId, (envelopesOf.get(n.notificationId) ?? new Set()).add(n.envelopeId));
      expect([...envelopesOf.values()].filter((e) => e.size !== 1)).toEqual([]);

      expect(await backlog(env.redis, keys, PARTITIONS)).toBe(0);
      expect(await runtimeDeadLetters(env.redis, keys)).toBe(0);
      for (let p = 0; p < PARTITIONS; p++) expect(await env.redis.zcard(keys.due(p))).toBe(0);
      // eslint-disable-next-line no-console
      console.log(
        `scenario 13: killed at ${usedAtKill}/${2 * N} grants (${grantedAtKill} committed when it died, ${grantedAtKill - recordedAtKill} of them not yet in the actor state), ${terminalAtKill}/${N} applications finished and ` +
          `${cutOff} with calls cut off; all ${N} BOTH_REWARDED ${recoveredMs} ms after the kill; ${replayedOrLost} re-driven; ${rewarded.length} rewarded notifications`,
      );
    } finally {
      if (victim.child.exitCode === null && victim.child.signalCode === null) victim.child.kill('SIGKILL');
      await client.close();
      await survivor?.close();
      survivorRedis?.disconnect();
    }
  });

  describe('scenario 15: the notification channel is down', () => {
    /** A local webhook: `answer(id, nth)` is the HTTP status of the nth request for notification `id`. */
    interface Hook {
      url: string;
      requests: Array<{ key: string; id: string; status: number }>;
      close(): Promise<void>;
    }
    async function startHook(answer: (id: string, nth: number) => number): Promise<Hook> {
      const requests: Hook['requests'] = [];
      const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
        let raw = '';
        req.on('data', (c) => (raw += c));
        req.on('end', () => {
          const { id } = JSON.parse(raw) as { id: string };
          const status = answer(id, requests.filter((r) => r.id === id).length + 1);
          requests.push({ key: String(req.headers['idempotency-key']), id, status });
          res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      return {
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/notify`,
        requests,
        close: async () => {
          server.closeAllConnections();
          await new Promise((r) => server.close(r));
        },
      };
    }

    /**
     * A worker with the activity component and a notifier whose REFERRAL_REWARDED route includes the webhook
     * (other kinds go to the log only); drives one referral to BOTH_REWARDED and hands the pieces to `check`.
     */
    async function withReferral(
      answer: (id: string, nth: number) => number,
      check: (ctx: { app: string; hook: Hook; nkeys: NotifierKeys; activity: ActivityComponent; lines: Array<{ id: string; kind: string }> }) => Promise<void>,
    ): Promise<void> {
      const ns = uniqueNamespace('faults15');
      const keys = new Keys(ns);
      const nkeys = new NotifierKeys(ns);
      const store = new RedisActorStore(env.redis, keys);
      const activity = new ActivityComponent(redis, new ActivityKeys(ns));
      await activity.define({ id: 'notify-invite', timeZone: 'UTC', budget: { total: 10 }, prize: { kind: 'points', amount: 10 } });
      const hook = await startHook(answer);
      const lines: Array<{ id: string; kind: string }> = [];
      const notifierRedis = createRedis({ url: env.url, tls: false }, 'faults-notifier');
      const config = compileNotifierConfig({
        channels: ['log'], routes: { REFERRAL_REWARDED: ['log', 'webhook'] }, webhook: { url: hook.url, timeoutMs: 2000 },
        retryBaseMs: 20, retryMaxMs: 200, blockMs: 50, claimEveryMs: 50,
      });
      const notifier = new Notifier({ redis: notifierRedis, namespace: ns, config, channels: [new LogChannel((l) => lines.push(JSON.parse(l))), new WebhookChannel(config.webhook!)] });
      let worker: RedisStreamsServer | undefined;
      const client = new RedisStreamsClient({ redis: { url: env.url }, runtime: { namespace: ns, partitions: PARTITIONS } });
      try {
        await notifier.start();
        worker = await startWorker(env.url, { runtime: fastRuntime(ns), actors: [referralActor], components: components(activity) });
        const app = 'notify-invite:invitee-15';
        const p = partitionOf({ type: 'referral', id: app }, PARTITIONS);
        const readApp = async () => (await store.load<ReferralState>(p, { type: 'referral', id: app }))!;
        await client.ask(referralActor, app, { type: 'Accept', activityId: 'notify-invite', sharerId: 'sharer-15', inviteeId: 'invitee-15', settings: FAST_RETRIES });
        await waitFor(async () => (await readApp())?.state.status === 'RELATION_ESTABLISHED', 10_000, 'the relation');
        await client.ask(referralActor, app, { type: 'TaskCompleted', occurredAt: Date.now(), eventId: 'order-15' });
        const rewardedRecord = await waitFor(async () => {
          const r = await readApp();
          return r?.state.status === 'BOTH_REWARDED' ? r : null;
        }, 10_000, 'both rewards');
        await check({ app, hook, nkeys, activity, lines });
        // The notifier never touches the application: same version, same state as when it was rewarded.
        const after = await readApp();
        expect(after.version).toBe(rewardedRecord.version);
        expect(after.state).toEqual(rewardedRecord.state);
        expect(after.updatedAt).toBe(rewardedRecord.updatedAt);
        // The grant stands: one per side, the budget used twice, the grant ids the state's.
        const state = after.state as Rewarded;
        const [s, i] = [await activity.ledger('sharer-15'), await activity.ledger('invitee-15')];
        expect(s).toHaveLength(1);
        expect(i).toHaveLength(1);
        expect([state.sharer.grantId, state.invitee.grantId]).toEqual([s[0].grantId, i[0].grantId]);
        expect(await activity.budget('notify-invite')).toEqual({ limit: 10, used: 2 });
        expect(await backlog(env.redis, keys, PARTITIONS)).toBe(0);
        expect(await runtimeDeadLetters(env.redis, keys)).toBe(0);
        expect(((await env.redis.xpending(nkeys.stream(), 'notifier')) as [number])[0]).toBe(0);
      } finally {
        await client.close();
        await worker?.close();
        await notifier.stop();
        notifierRedis.disconnect();
        await hook.close();
      }
    }

    async function deadLetters(nkeys: NotifierKeys): Promise<Array<Record<string, Buffer>>> {
      const entries = await env.redis.xrangeBuffer(nkeys.dead(), '-', '+');
      return entries.map(([, f]) => Object.fromEntries(Array.from({ length: f.length / 2 }, (_, i) => [f[2 * i].toString(), f[2 * i + 1]])));
    }

    it('always 503: both REFERRAL_REWARDED notifications are dead-lettered with reason and channel; the grants and the application stay as they were', async () => {
      await withReferral(() => 503, async ({ app, hook, nkeys, activity, lines }) => {
        const ids = [`${app}:rewarded:sharer`, `${app}:rewarded:invitee`];
        const dead = await waitFor(async () => {
          const d = await deadLetters(nkeys);
          return d.length >= 2 ? d : null;
        }, 10_000, 'two dead letters');
        expect(dead).toHaveLength(2);
        expect(dead.map((d) => d.notificationId.toString()).sort()).toEqual([...ids].sort());
        const grants = { sharer: (await activity.ledger('sharer-15'))[0].grantId, invitee: (await activity.ledger('invitee-15'))[0].grantId };
        for (const d of dead) {
          expect(d.code.toString()).toBe('MAX_DELIVERIES');
          expect(d.cause.toString()).toBe('WEBHOOK_UNAVAILABLE');
          expect(d.channel.toString()).toBe('webhook');
          expect(d.reason.toString()).toMatch(/gave up after 5 attempts: .*HTTP 503/);
          expect(d.deliveries.toString()).toBe('5');
          // The original entry travels with the dead letter: the notification with its grant.
          const original = decodeEnvelope<{ notificationId: string; kind: string; side: 'sharer' | 'invitee'; grantId: string }>(d['f:e']).data;
          expect(original).toMatchObject({ kind: 'REFERRAL_REWARDED', notificationId: d.notificationId.toString() });
          expect(original.grantId).toBe(grants[original.side]);
        }
        // Five attempts each, all with the notification id as the Idempotency-Key; never a success.
        for (const id of ids) expect(hook.requests.filter((r) => r.id === id).map((r) => r.key)).toEqual(Array(5).fill(id));
        expect(hook.requests.every((r) => r.status === 503)).toBe(true);
        expect(hook.requests).toHaveLength(10);
        // The log channel delivered each notification once, the task notice (log only) included, and it was not dead-lettered.
        expect(lines.map((l) => `${l.kind}:${l.id}`).sort()).toEqual([`REFERRAL_REWARDED:${ids[1]}`, `REFERRAL_REWARDED:${ids[0]}`, `REFERRAL_TASK_ASSIGNED:${app}:task-assigned`].sort());
      });
    });

    it('503 twice then 200: each REFERRAL_REWARDED notification is delivered exactly once after its retries; nothing dead-lettered', async () => {
      await withReferral((_id, nth) => (nth <= 2 ? 503 : 200), async ({ app, hook, nkeys, activity, lines }) => {
        const ids = [`${app}:rewarded:sharer`, `${app}:rewarded:invitee`];
        await waitFor(
          async () => ids.every((id) => hook.requests.some((r) => r.id === id && r.status === 200)) && ((await env.redis.xpending(nkeys.stream(), 'notifier')) as [number])[0] === 0,
          10_000,
          'both notifications delivered',
        );
        for (const id of ids) {
          expect(hook.requests.filter((r) => r.id === id).map((r) => r.status)).toEqual([503, 503, 200]);
          expect(hook.requests.filter((r) => r.id === id).every((r) => r.key === id)).toBe(true);
          expect(lines.filter((l) => l.id === id)).toHaveLength(1); // the log line is not repeated by the webhook's retries
        }
        expect(hook.requests).toHaveLength(6);
        expect(await deadLetters(nkeys)).toEqual([]);
        // The delivery records name both channels for each notification.
        for (const id of ids) expect((await env.redis.hkeys(nkeys.delivered(id))).sort()).toEqual(['log', 'webhook']);
        expect(await activity.budget('notify-invite')).toEqual({ limit: 10, used: 2 });
      });
    });
  });
}
