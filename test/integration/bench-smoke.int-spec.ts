import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..');
const bench = (script: string, args: string[]) =>
  run(process.execPath, ['-r', './scripts/register.js', `bench/${script}`, ...args], { cwd: ROOT, timeout: 170_000, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, NO_COLOR: '1' } });

// A short run of each benchmark, so CI notices when one breaks; the full runs are `npm run bench`.
describe('benchmarks (CI smoke; full runs via npm run bench)', () => {
  it('bench:runtime runs every phase end to end and its count check matches', async () => {
    const { stdout } = await bench('runtime.ts', ['--quick', '--messages', '4000', '--actors', '400', '--rate', '500', '--seconds', '1']);
    expect(stdout).toMatch(/raw ceiling/);
    expect(stdout).toMatch(/BullMQ/);
    expect(stdout).toMatch(/Propel, 1 worker/);
    expect(stdout).toMatch(/Propel, 2 workers/);
    expect(stdout).toMatch(/p99/);
    expect(stdout).not.toMatch(/MISMATCH/);
  }, 180_000);

  it('bench:runtime --cluster runs the Propel phases on one Redis and on a 3-master cluster, counts matching', async () => {
    const { stdout } = await bench('runtime.ts', ['--cluster', '--quick', '--messages', '2000', '--actors', '200']);
    expect(stdout).not.toMatch(/MISMATCH/);
    const file = /results written to (\S+\.json)/.exec(stdout)?.[1];
    expect(file).toBeDefined();
    const json = JSON.parse(readFileSync(file!, 'utf8'));
    expect(json.failures).toEqual([]);
    expect(json.results.map((r: { workers: number }) => r.workers)).toEqual([1, 2]);
    for (const r of json.results) {
      for (const side of [r.single, r.cluster]) expect(side).toMatchObject({ ok: true, messages: 2000, notes: { counterSum: 2000, actorsMissing: 0 } });
      expect(r.cluster.notes.target).toBe('cluster');
      expect(r.ratio).toBeGreaterThan(0);
    }
  }, 60_000);

  it('bench:referral drives whole referral lifecycles, gateway-free and over HTTP, and every check matches', async () => {
    const sizes = { referrals: 300, rate: 100, seconds: 1, httpReferrals: 100, httpRate: 50, httpSeconds: 1 };
    const { stdout } = await bench('referral.ts', [
      '--quick', '--quiet-wait=false', '--workers', '1', '--warmup', '50', '--concurrency', '16',
      '--referrals', String(sizes.referrals), '--rate', String(sizes.rate), '--seconds', String(sizes.seconds),
      '--http-referrals', String(sizes.httpReferrals), '--http-rate', String(sizes.httpRate), '--http-seconds', String(sizes.httpSeconds),
    ]);
    expect(stdout).toMatch(/referrals\/s/);
    expect(stdout).not.toMatch(/MISMATCH/);
    const file = /results written to (\S+\.json)/.exec(stdout)?.[1];
    expect(file).toBeDefined();
    const json = JSON.parse(readFileSync(file!, 'utf8'));
    expect(json.failures).toEqual([]);
    expect(json.correct).toBe(true);
    // Every phase's applications: all BOTH_REWARDED, two budget units each, one grant per user.
    const expected: Record<string, number> = { warm: 50, sat: sizes.referrals, lat: sizes.rate * sizes.seconds, hsat: sizes.httpReferrals, hlat: sizes.httpRate * sizes.httpSeconds };
    expect(Object.fromEntries(json.checks.map((c: { activityId: string; referrals: number }) => [c.activityId, c.referrals]))).toEqual(expected);
    for (const c of json.checks) {
      expect(c).toMatchObject({ ok: true, statuses: { BOTH_REWARDED: c.referrals }, terminalTurnsSeen: c.referrals, budgetUsed: 2 * c.referrals, usersWithoutOneGrant: 0 });
    }
    const { saturation, latency, http, httpLatency } = json.results;
    for (const s of [saturation, http]) {
      expect(s.lifecycleRate).toBeGreaterThan(0);
      expect(s.acceptPhaseRate).toBeGreaterThan(0);
      expect(s.rewardPhaseRate).toBeGreaterThan(0);
      expect(s.turns).toBeGreaterThanOrEqual(5 * s.referrals); // accept, relation, task, two rewards
    }
    expect(saturation.referrals).toBe(sizes.referrals);
    expect(http.referrals).toBe(sizes.httpReferrals);
    for (const [l, n] of [[latency, expected.lat], [httpLatency, expected.hlat]]) {
      expect(l.toTerminal.n).toBe(n);
      expect(l.toTerminal.p99).toBeGreaterThan(0);
      expect(l.toTerminal.max).toBeGreaterThanOrEqual(l.toTerminal.p99);
    }
    expect(httpLatency.response.n).toBe(expected.hlat);
  }, 180_000);

  it('bench:sweep drives overdue actors to a terminal state with and without the owners firing, and measures SIGKILL recovery; every check matches', async () => {
    const { stdout } = await bench('sweep.ts', ['--quick', '--quiet-wait=false', '--actors', '2000', '--kill-runs', '1']);
    expect(stdout).toMatch(/Overdue actors to a terminal state/);
    expect(stdout).toMatch(/SIGKILL of one of 2 workers/);
    expect(stdout).not.toMatch(/MISMATCH/);
    const file = /results written to (\S+\.json)/.exec(stdout)?.[1];
    const json = JSON.parse(readFileSync(file!, 'utf8'));
    expect(json.failures).toEqual([]);
    expect(json.correct).toBe(true);
    expect(json.overdue.map((r: { phase: string }) => r.phase)).toEqual(['overdue', 'sweepers-only']);
    for (const r of json.overdue) expect(r).toMatchObject({ actors: 2000, correct: true, deadlineTurns: 2000, statuses: { EXPIRED: 2000 } });
    // With the owners' tickers off, every actor moved because a sweeper re-drove it, once.
    expect(json.overdue[1].sweeperRedrives).toBe(2000);
    expect(json.kills[0]).toMatchObject({ correct: true, timers: 2400 });
    expect(json.kills[0].lastPartitionMs).toBeGreaterThan(0);
  }, 180_000);

  it('bench:recovery measures the time from SIGKILL to the partitions answering again', async () => {
    const { stdout } = await bench('recovery.ts', ['--quick', '--runs', '1']);
    expect(stdout).toMatch(/SIGKILL/);
  }, 180_000);
});
