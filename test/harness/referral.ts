import { createRedis, Keys, RedisClient, RedisStreamsClient, RedisStreamsServer } from '../../common';
import { referralActor } from '../../actors';
import { ActivityComponent, ActivityFaults, ActivityKeys, components } from '../../apps/worker/components/activity';
import type { useTestRedis } from './redis';
import { uniqueNamespace } from './redis';
import { fastRuntime, startWorker } from './workers';

/** One in-process worker hosting the referral actor and the activity component, a streams client and a fault switch. */
export interface ReferralFleet {
  ns: string;
  keys: Keys;
  partitions: number;
  runtime: Record<string, unknown>;
  /** Read by the worker's activity component on every call: tests flip it to fail or lose replies. */
  faults: ActivityFaults;
  redis: RedisClient;
  activity: ActivityComponent;
  worker: RedisStreamsServer;
  client: RedisStreamsClient;
  /** Closes the worker and starts another one on the same namespace and component. */
  restartWorker(): Promise<void>;
}

/**
 * Registers beforeAll/afterAll that start and close a ReferralFleet on `env`'s Redis (call it inside a describe
 * nested in the one that registered useTestRedis, so Redis stops after the fleet closed). Faults reset after each test.
 */
export function useReferralWorker(env: ReturnType<typeof useTestRedis>, name: string, runtimeExtra: Record<string, unknown> = {}): ReferralFleet {
  const ns = uniqueNamespace(name);
  const runtime = fastRuntime(ns, runtimeExtra);
  const partial: Partial<ReferralFleet> = { ns, keys: new Keys(ns), partitions: runtime.partitions as number, runtime, faults: { failRate: 0, afterCommitRate: 0, rng: () => 0 } };
  const fleet = partial as ReferralFleet; // the connections are filled in by beforeAll
  const start = () => startWorker(env.url, { runtime, actors: [referralActor], components: components(fleet.activity) });
  fleet.restartWorker = async () => {
    await fleet.worker.close();
    fleet.worker = await start();
  };
  beforeAll(async () => {
    fleet.redis = createRedis({ url: env.url, tls: false }, `${name}-activity`);
    fleet.activity = new ActivityComponent(fleet.redis, new ActivityKeys(ns), { faults: fleet.faults });
    fleet.worker = await start();
    fleet.client = new RedisStreamsClient({ redis: { url: env.url }, runtime: { namespace: ns, partitions: fleet.partitions } });
  });
  afterEach(() => {
    Object.assign(fleet.faults, { failRate: 0, afterCommitRate: 0, rng: () => 0 });
  });
  afterAll(async () => {
    await fleet.client?.close();
    await fleet.worker?.close();
    fleet.redis?.disconnect();
  });
  return fleet;
}
