import { partitionOf } from '../../common';
import { referralActor } from '../../actors';
import type { ReferralState } from '../../actors/referral/referral.types';
import { opsJson, runOps } from '../harness/ops';
import { useTestRedis } from '../harness/redis';
import { useReferralWorker } from '../harness/referral';
import { readRecord, waitFor } from '../harness/workers';

type Any = ReferralState & Record<string, any>;

// Provokes manual intervention with a downstream that fails every activity call (past a retry budget of 1), then
// drives the round trip an operator makes, through the CLI as a child process: list with reasons, inspect, retry
// (each side granted once), terminate (TERMINATED, no grant), retry --all, and the list empty at the end.
describe('ops: the manual-intervention round trip through the CLI', () => {
  // Registered in the outer block, so Redis stops after the inner block's afterAll closed the worker and client.
  const env = useTestRedis();
  describe('one worker hosting the referral actor, downstream failing on demand', () => roundTrip(env));
});

function roundTrip(env: ReturnType<typeof useTestRedis>): void {
  const fleet = useReferralWorker(env, 'opsman', { leaseTtlMs: 3000, memberTtlMs: 3000 });
  const { ns, keys, partitions, faults } = fleet;
  const target = () => ({ url: env.url, ns, partitions });

  const state = async (app: string) => (await readRecord<Any>(env.redis, keys, partitionOf({ type: 'referral', id: app }, partitions), 'referral', app))?.state;
  const until = (app: string, check: (s: Any) => boolean, what: string) => waitFor(async () => {
    const s = await state(app);
    return s && check(s) ? s : null;
  }, 20_000, what);
  /** Drives one application into MANUAL_INTERVENTION in the reward step, with no call left in flight. */
  const stuck = async (invitee: string): Promise<string> => {
    const app = `opsman:${invitee}`;
    faults.failRate = 0;
    await fleet.client.ask(referralActor, app, { type: 'Accept', activityId: 'opsman', sharerId: `sharer-${invitee}`, inviteeId: invitee, settings: { maxRetries: 1, backoffBaseMs: 20, backoffCapMs: 50 } });
    await until(app, (s) => s.status === 'RELATION_ESTABLISHED', `${app} relation`);
    faults.failRate = 1; // downstream down: every reward call fails before granting
    await fleet.client.ask(referralActor, app, { type: 'TaskCompleted', occurredAt: Date.now(), eventId: `order-${invitee}` });
    await until(app, (s) => s.status === 'MANUAL_INTERVENTION' && !s.sharer.inFlight && !s.invitee.inFlight, `${app} in manual intervention, both calls answered`);
    return app;
  };

  it('lists the stuck applications with their reason, retries one (each side granted once), terminates one (no grant), retries the rest with --all', async () => {
    await fleet.activity.define({ id: 'opsman', timeZone: 'Asia/Shanghai', budget: { total: 100 }, prize: { kind: 'points', amount: 10 } });
    const apps = [];
    for (const invitee of ['amy', 'ben', 'cat', 'dan']) apps.push(await stuck(invitee));
    const [amy, ben, cat, dan] = apps;

    // The list shows each with its reason (MAX_RETRIES), detail and stage, oldest first, a page at a time.
    const listed = await runOps(target(), ['manual', 'list']);
    expect(listed.code).toBe(0);
    for (const app of apps) expect(listed.stdout).toMatch(new RegExp(`referral/${app}\\s+\\d+\\s+\\S+ \\(\\d+\\w+ ago\\)\\s+REWARD\\s+MAX_RETRIES\\s+1 retry rounds used \\(max 1\\); last error ACTIVITY_UNAVAILABLE`));
    expect(listed.stdout).toMatch(/4 shown of 4 in manual intervention/);
    const first = await opsJson(target(), ['manual', 'list', '--limit', '3']);
    expect(first.total).toBe(4);
    expect(first.items.map((i: { actor: string }) => i.actor)).toEqual(apps.slice(0, 3).map((a) => `referral/${a}`));
    expect(first.items[0]).toMatchObject({ partition: partitionOf({ type: 'referral', id: amy }, partitions), status: 'MANUAL_INTERVENTION', reason: 'MAX_RETRIES', stage: 'REWARD', detail: expect.stringContaining('ACTIVITY_UNAVAILABLE') });
    const second = await opsJson(target(), ['manual', 'list', '--limit', '3', '--cursor', first.nextCursor]);
    expect(second.items.map((i: { actor: string }) => i.actor)).toEqual([`referral/${dan}`]);
    expect(second.nextCursor).toBeNull();

    // inspect says why: the manual reason, each side's last error, and the transition into manual intervention.
    const inspected = await runOps(target(), ['inspect', 'referral', amy]);
    expect(inspected.code).toBe(0);
    expect(inspected.stdout).toMatch(/why MANUAL_INTERVENTION:\n\s+manual\s+MAX_RETRIES\s+1 retry rounds used/);
    expect(inspected.stdout).toMatch(/sharer\.lastError\s+ACTIVITY_UNAVAILABLE/);
    expect(inspected.stdout).toMatch(/TASK_COMPLETED → MANUAL_INTERVENTION\s+\w+ reward needs a person: MAX_RETRIES/);
    expect(inspected.stdout).toMatch(/in manual intervention since /);
    const json = await opsJson(target(), ['inspect', 'referral', amy]);
    expect(json).toMatchObject({ status: 'MANUAL_INTERVENTION', state: { manual: { reason: 'MAX_RETRIES' } }, why: { codes: expect.arrayContaining([{ where: 'manual', code: 'MAX_RETRIES', detail: expect.any(String) }]) } });
    expect(json.audit.entries.map((e: { message: string }) => e.message)).toEqual(json.history.map((h: { message: string }) => h.message));
    expect(await fleet.activity.budget('opsman')).toEqual({ limit: 100, used: 0 });

    faults.failRate = 0; // downstream is back
    const retried = await runOps(target(), ['manual', 'retry', 'referral', amy]);
    expect(retried).toMatchObject({ code: 0, stdout: expect.stringMatching(new RegExp(`referral/${amy} retried by ops-test: now TASK_COMPLETED`)) });
    expect(await until(amy, (s) => s.status === 'BOTH_REWARDED', `${amy} rewarded`)).toMatchObject({ sharer: { outcome: 'GRANTED', attempts: 3 }, invitee: { outcome: 'GRANTED', attempts: 3 } });
    expect(await fleet.activity.ledger('sharer-amy')).toHaveLength(1);
    expect(await fleet.activity.ledger('amy')).toHaveLength(1);

    const terminated = await runOps(target(), ['manual', 'terminate', 'referral', ben, '--reason', 'duplicate account', '--operator', 'ops-ann']);
    expect(terminated).toMatchObject({ code: 0, stdout: expect.stringMatching(new RegExp(`referral/${ben} terminated by ops-ann: now TERMINATED`)) });
    expect(await state(ben)).toMatchObject({
      status: 'TERMINATED',
      sharer: { outcome: 'REJECTED', reason: 'TERMINATED_BY_OPS' },
      invitee: { outcome: 'REJECTED', reason: 'TERMINATED_BY_OPS' },
      terminated: { operator: 'ops-ann', reason: 'duplicate account', stage: 'REWARD', manual: { reason: 'MAX_RETRIES' } },
    });
    expect(await fleet.activity.ledger('sharer-ben')).toHaveLength(0);
    expect(await fleet.activity.ledger('ben')).toHaveLength(0);

    // Both again: refused by the actor (exit 3, the code on stderr), nothing granted.
    expect(await runOps(target(), ['retry', 'referral', amy])).toMatchObject({ code: 3, stderr: expect.stringMatching(/not retried: ALREADY_TERMINAL/) });
    expect(await runOps(target(), ['manual', 'terminate', 'referral', ben])).toMatchObject({ code: 3, stderr: expect.stringMatching(/not terminated: ALREADY_TERMINAL/) });
    expect(await runOps(target(), ['manual', 'retry', 'referral', 'opsman:nobody'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/no actor referral\/opsman:nobody/) });

    const all = await runOps(target(), ['manual', 'retry', '--all', '--type', 'referral']);
    expect(all).toMatchObject({ code: 0, stdout: expect.stringMatching(/retried 2 of 2 actors in manual intervention \(by ops-test\)/) });
    for (const app of [cat, dan]) await until(app, (s) => s.status === 'BOTH_REWARDED', `${app} rewarded`);

    expect(await runOps(target(), ['manual', 'list'])).toMatchObject({ code: 0, stdout: 'no actor is waiting in manual intervention\n' });
    // Each side granted exactly once over the whole round trip: three applications rewarded, one terminated.
    expect(await fleet.activity.budget('opsman')).toEqual({ limit: 100, used: 6 });
    for (const user of ['amy', 'cat', 'dan', 'sharer-amy', 'sharer-cat', 'sharer-dan']) expect(await fleet.activity.ledger(user)).toHaveLength(1);
  }, 120_000);
}
