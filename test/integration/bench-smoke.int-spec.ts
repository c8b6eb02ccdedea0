import { execFile } from 'node:child_process';
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

  it('bench:recovery measures the time from SIGKILL to the partitions answering again', async () => {
    const { stdout } = await bench('recovery.ts', ['--quick', '--runs', '1']);
    expect(stdout).toMatch(/SIGKILL/);
  }, 180_000);
});
