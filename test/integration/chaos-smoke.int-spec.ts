import { runChaos } from '../../chaos/chaos';
import { renderText } from '../../chaos/report';

/**
 * The smoke version of `npm run chaos` (docs/chaos.md), in CI: one Redis (AOF, appendfsync always), the gateway,
 * 3 workers with downstream faults, 2 sweepers and the notifier as real processes, 500 referrals through the
 * gateway and the ingest stream, and 100 task-center users (an auto-enrolled staged task each, 5 receipts in a
 * shuffled order with duplicates, a few claim-required tasks claimed over HTTP, reward flows whose merchant
 * webhook fails a share of requests), while a seeded schedule SIGKILLs a worker and a sweeper, freezes Redis
 * (SIGSTOP/SIGCONT) and restarts it. Then every invariant is checked against Redis. PROPEL_CHAOS_SEED replays a
 * seed (the failure message prints it).
 */
describe('chaos smoke (npm run chaos:smoke)', () => {
  it('every invariant holds through a worker SIGKILL, a Redis SIGSTOP/SIGCONT and a Redis restart', async () => {
    const lines: string[] = [];
    const seed = process.env.PROPEL_CHAOS_SEED ? Number(process.env.PROPEL_CHAOS_SEED) : undefined;
    const summary = await runChaos({ mode: 'single', profile: 'smoke', ...(seed ? { seed } : {}), log: (line) => lines.push(line) });
    const table = renderText(summary);
    if (!summary.ok) console.log(`${table}\n\nlast progress lines:\n${lines.slice(-40).join('\n')}`);

    expect(summary.failures).toEqual([]);
    // The faults the smoke run promises, each injected (not just planned).
    expect(summary.faults.byKind).toMatchObject({ 'kill-worker': 1, 'kill-sweeper': 1, 'stop-redis': 1, 'restart-redis': 1 });
    expect(summary.faults.events.filter((e) => !e.ok)).toEqual([]);
    // The downstream faults were on: the activity component failed calls and lost replies, the webhook answered 503.
    expect(summary.faults.callFailures.ACTIVITY_UNAVAILABLE ?? 0).toBeGreaterThan(0);
    expect(summary.faults.callFailures.ACTIVITY_REPLY_LOST ?? 0).toBeGreaterThan(0);
    expect(summary.faults.webhook.failed).toBeGreaterThan(0);
    // The load: every accept acknowledged, completions sent, some of them twice.
    expect(summary.load.accepted).toBe(summary.load.planned);
    expect(summary.load.completionsAcked).toBeGreaterThan(summary.load.planned * 0.9);
    expect(summary.load.duplicates.sameEvent).toBeGreaterThan(0);
    // The budget ran out during the run (fewer units than referrals want), and was never overspent.
    expect(summary.budget.used).toBe(summary.budget.limit);
    // The task load: every receipt and claim acknowledged, duplicates sent both ways, both paths used; the
    // merchant's webhook failed reward steps, and every task ended REWARDED (after ops retries where needed).
    const tasks = summary.tasks!;
    expect(tasks.load.users).toBe(100);
    expect(tasks.load.deliveriesAcked).toBe(tasks.load.deliveries);
    expect(tasks.load.claimTasks).toBeGreaterThan(0);
    expect(tasks.load.claimsAcked).toBe(tasks.load.claimTasks);
    expect(tasks.load.viaHttp).toBeGreaterThan(0);
    expect(tasks.load.duplicates.sameEventAgain).toBeGreaterThan(0);
    expect(tasks.load.duplicates.writtenTwice).toBeGreaterThan(0);
    expect(tasks.merchantWebhook.failed).toBeGreaterThan(0);
    expect(tasks.callFailures.WEBHOOK_UNAVAILABLE ?? 0).toBeGreaterThan(0);
    expect(tasks.outcomes).toEqual({ 'orders REWARDED': 100, 'reviews REWARDED': tasks.load.claimTasks });

    // Each invariant, by name, with its evidence in the failure message.
    const byId = Object.fromEntries(summary.invariants.map((i) => [i.id, i]));
    for (const id of ['lost', 'duplicate-grants', 'tasks-lost', 'task-progress', 'task-grants', 'budget', 'stuck', 'audit', 'notifications', 'crash-loops']) {
      expect({ id, seed: summary.seed, ok: byId[id]?.ok, evidence: byId[id]?.evidence, examples: byId[id]?.examples }).toMatchObject({ id, ok: true });
    }
    expect(summary.drain.settled).toBe(true);
    expect(summary.ok).toBe(true);
  }, 300_000);
});
