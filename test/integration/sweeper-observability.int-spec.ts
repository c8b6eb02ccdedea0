import { Keys, partitionOf } from '../../common';
import { sampleOf, scrape } from '../harness/metrics';
import { uniqueNamespace, useTestRedis } from '../harness/redis';
import { freePort } from '../harness/redis-server';
import { spawnSweeper, stickOwner, SweeperProcess, writeOverdueReferrals } from '../harness/sweepers';
import { waitFor } from '../harness/workers';

const P = 4;

// Provokes stalled actors under an owner that never moves them, and reads the sweeper process's /metrics and /health.
describe('sweeper process: /metrics and /health', () => {
  // Nested, so the sweeper process is killed before the Redis of useTestRedis stops (afterAll hooks run in registration order).
  const env = useTestRedis();
  describe('one sweeper process', () => sweeperProcess(env));
});

function sweeperProcess(env: ReturnType<typeof useTestRedis>): void {
  let sweeper: SweeperProcess | undefined;
  afterAll(async () => {
    sweeper?.child.kill('SIGKILL');
    await sweeper?.exited;
  });

  it('counts its ticks and re-drives in propel_sweeper_counts, and reports itself up while its roles run', async () => {
    const ns = uniqueNamespace('swobs');
    const keys = new Keys(ns);
    const ids = ['obs:a', 'obs:b', 'obs:c'];
    // Owners that hold the partitions but never fire timers: only the sweeper moves these actors.
    await stickOwner(env.redis, keys, [...new Set(ids.map((id) => partitionOf({ type: 'referral', id }, P)))]);
    await writeOverdueReferrals(env.url, keys, P, ids, 5_000);
    const port = await freePort();
    sweeper = spawnSweeper(env.url, {
      PROPEL_NAMESPACE: ns,
      PROPEL_PARTITIONS: String(P),
      PROPEL_SWEEPER_ID: 'sw-obs',
      PROPEL_METRICS_PORT: String(port),
      PROPEL_SWEEP_TICK_MS: '100',
      PROPEL_SWEEP_GRACE_MS: '300',
      PROPEL_SWEEP_MAX_RETRIES: '5',
    });
    await sweeper.id;
    const base = `http://127.0.0.1:${port}`;
    const text = await waitFor(async () => {
      const t = await scrape(base);
      return (sampleOf(t, 'propel_sweeper_counts', { role: 'executor', stat: 'driven' }) ?? 0) >= ids.length ? t : null;
    }, 15_000, 'the sweeper to re-drive the stalled actors');
    expect(sampleOf(text, 'propel_sweeper_counts', { role: 'splitter', stat: 'leading' })).toBe(1);
    expect(sampleOf(text, 'propel_sweeper_counts', { role: 'splitter', stat: 'ticks' })).toBeGreaterThan(0);
    expect(sampleOf(text, 'propel_sweeper_counts', { role: 'loader', stat: 'emitted' })).toBeGreaterThanOrEqual(ids.length);
    const health = await fetch(`${base}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', redis: 'up', sweeper: 'up', info: { sweeper: { leading: true } } });
  }, 40_000);
}
