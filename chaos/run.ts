/**
 * `npm run chaos` / `npm run chaos:smoke`: the chaos run of docs/chaos.md as a command. A thin CLI over
 * runChaos (chaos/chaos.ts): it parses the flags, runs the single-Redis and/or the cluster run, prints each
 * table, writes them to bench/results/chaos-<time>.md (and the summaries as .json), and exits 0 only if every
 * invariant of every run held.
 *
 *   node -r ./scripts/register.js chaos/run.ts [--smoke] [--single | --cluster | --both] [--seed N]
 *        [--referrals N] [--task-users N] [--load-seconds S] [--http-share F] [--drain-seconds S] [--out DIR] [--logs DIR] [--verbose]
 */
import 'reflect-metadata';
import { join } from 'node:path';
import { parseArgs } from '../bench/lib/util';
import { emergencyStop, runChaos } from './chaos';
import { renderText, writeResults } from './report';
import type { ChaosSummary } from './report';

const args = parseArgs(process.argv.slice(2), {
  smoke: false,
  single: false,
  cluster: false,
  both: false,
  seed: 0,
  referrals: 0,
  taskUsers: 0,
  loadSeconds: 0,
  httpShare: '',
  drainSeconds: 0,
  out: join(__dirname, '..', 'bench', 'results'),
  logs: '',
  verbose: false,
});

async function main(): Promise<number> {
  // Without --single/--cluster/--both: the full run on one Redis, then on the cluster; the smoke run on one Redis.
  const picked = args.both || (args.single && args.cluster) ? 'both' : args.single ? 'single' : args.cluster ? 'cluster' : args.smoke ? 'single' : 'both';
  const modes: Array<'single' | 'cluster'> = picked === 'both' ? ['single', 'cluster'] : [picked];
  const summaries: ChaosSummary[] = [];
  for (const mode of modes) {
    const summary = await runChaos({
      mode,
      profile: args.smoke ? 'smoke' : 'full',
      ...(args.seed ? { seed: args.seed } : {}),
      ...(args.referrals ? { referrals: args.referrals } : {}),
      ...(args.taskUsers ? { taskUsers: args.taskUsers } : {}),
      ...(args.loadSeconds ? { loadSeconds: args.loadSeconds } : {}),
      ...(args.httpShare !== '' ? { httpShare: Number(args.httpShare) } : {}),
      ...(args.drainSeconds ? { drainTimeoutMs: args.drainSeconds * 1000 } : {}),
      ...(args.logs ? { logDir: join(args.logs, mode) } : {}),
      verbose: args.verbose,
    });
    summaries.push(summary);
    console.log(`\n${renderText(summary, process.stdout.columns || 160)}\n`);
  }
  const files = writeResults(summaries, args.out);
  console.log(`results written to ${files.markdown} and ${files.json}`);
  const ok = summaries.every((s) => s.ok);
  console.log(ok ? 'every invariant held' : `INVARIANTS BROKEN in: ${summaries.filter((s) => !s.ok).map((s) => `${s.mode} (seed ${s.seed})`).join(', ')}`);
  return ok ? 0 : 1;
}

// An await that can never settle (nothing left to wake it) would let Node exit quietly with 0: say so and fail.
process.once('beforeExit', () => {
  console.error('chaos: the event loop emptied before the run finished (an await that can never settle)');
  emergencyStop();
  process.exit(1);
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    emergencyStop();
    process.exit(130);
  });
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    emergencyStop();
    process.exit(1);
  },
);
