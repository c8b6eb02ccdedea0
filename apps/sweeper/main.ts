import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { Gauge } from 'prom-client';
import { closeQuietly, compileConfig, createRedis, defaultWorkerId, exitOnSignal, optionsFromEnv } from '../../common';
import { METRICS_PORTS, startObservability } from '../../common/observability';
import { parseRoles, Sweeper } from '../../common/sweeper';

/** A delay in an environment variable (tests and chaos only), refused with its name when malformed. */
function envDelay(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 60_000) throw new Error(`${name} must be a whole number of ms from 0 to 60000, not ${JSON.stringify(raw)}`);
  return n;
}

/**
 * The sweeper process: `npm run sweeper`. Runs the roles named in PROPEL_SWEEPER_ROLES (splitter, loader,
 * executor; default all three). Any number may run against one namespace: one leads the splitting, the
 * others stand by for its lease, and loaders and executors share their streams through consumer groups.
 */
async function bootstrap(): Promise<void> {
  const config = compileConfig(optionsFromEnv());
  const roles = parseRoles(process.env.PROPEL_SWEEPER_ROLES);
  const id = process.env.PROPEL_SWEEPER_ID || `sweeper-${config.runtime.workerId ?? defaultWorkerId()}`;
  if (!/^[a-zA-Z0-9_.:-]{1,100}$/.test(id)) throw new Error(`PROPEL_SWEEPER_ID must be 1-100 letters, digits, ".", "_", ":" or "-", not ${JSON.stringify(id)}`);
  const splitStepDelayMs = envDelay('PROPEL_FAULT_SWEEP_SPLIT_DELAY_MS');
  if (splitStepDelayMs) Logger.warn(`fault injection on: the splitter pauses ${splitStepDelayMs} ms after each task`, 'Sweeper');
  const redis = createRedis(config.redis, `propel-sweeper:${id}`);
  const sweeper = new Sweeper({ redis, config, roles, id, splitStepDelayMs });
  await sweeper.start();
  // /metrics and /health on PROPEL_METRICS_PORT (default 9461): Redis PING, and the sweeper's roles running.
  const observability = await startObservability({
    app: 'sweeper',
    defaultPort: METRICS_PORTS.sweeper,
    redis,
    probes: [
      {
        key: 'sweeper',
        check: () => {
          if (!sweeper.running) throw new Error('the sweeper roles are not running');
          return { roles: roles.join(','), leading: sweeper.splitter?.leader ?? false };
        },
      },
    ],
  });
  // What each role did since start (ticks, tasks, stalled actors queued, re-drives, manual, stale refusals...).
  new Gauge({
    name: 'propel_sweeper_counts',
    help: 'Sweeper counts since start per role and stat (splitter ticks/tasks/leading, loader tasks/emitted, executor outcomes)',
    labelNames: ['role', 'stat'],
    registers: [observability.metrics.registry],
    collect() {
      for (const [role, stat, value] of sweeper.counts()) this.set({ role, stat }, value);
    },
  });
  // Graceful shutdown: give the leader lease back, finish and acknowledge the items in hand, exit 0.
  exitOnSignal(
    'Sweeper',
    () => sweeper.stop().then(() => Promise.all([observability.close(), closeQuietly(redis)])),
    () => `stopping (${sweeper.executor?.busy ?? 0} items in hand)`,
  );
  // A line supervisors and tests wait for.
  Logger.log(`ready ${id} (roles ${roles.join(',')}; grace ${config.sweep.graceMs} ms, tick ${config.sweep.tickMs} ms, max retries ${config.sweep.maxRetries})`, 'Sweeper');
}

bootstrap().catch((err) => {
  // Fail fast with the reason (an invalid setting, Redis unreachable) instead of limping on.
  Logger.error(err instanceof Error ? err.message : String(err), undefined, 'Sweeper');
  process.exit(1);
});
