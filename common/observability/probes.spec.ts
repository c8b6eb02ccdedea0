import { judgeWorker, redisProbe } from './probes';
import type { WorkerStatus } from './runtime-metrics';
import type { RedisClient } from '../redis/connection';

const NOW = 1_700_000_000_000;
const healthy: WorkerStatus = { workerId: 'w1', running: true, ownedPartitions: [0, 3], members: 2, lastHeartbeatAt: NOW - 400, memberTtlMs: 3000, calls: { running: 1, queued: 0 } };

describe('judgeWorker: a worker is healthy while it runs and its membership heartbeat is fresh', () => {
  it('is up with its partitions, members and heartbeat age', () => {
    expect(judgeWorker(healthy, NOW)).toEqual({ ok: true, details: { workerId: 'w1', partitions: [0, 3], members: 2, heartbeatAgeMs: 400, callsRunning: 1, callsQueued: 0 } });
  });

  it('is up owning no partition (more workers than partitions): it is in the registry, ready to take some', () => {
    expect(judgeWorker({ ...healthy, ownedPartitions: [] }, NOW).ok).toBe(true);
  });

  it('is down once the heartbeat is older than the member TTL, saying so', () => {
    const verdict = judgeWorker({ ...healthy, lastHeartbeatAt: NOW - 3001 }, NOW);
    expect(verdict).toEqual({ ok: false, reason: expect.stringMatching(/no successful membership heartbeat for 3001 ms \(member TTL 3000 ms\)/) });
  });

  it('is down before the first heartbeat and while not running', () => {
    expect(judgeWorker({ ...healthy, lastHeartbeatAt: undefined }, NOW)).toMatchObject({ ok: false, reason: expect.stringMatching(/not completed a membership heartbeat/) });
    expect(judgeWorker({ ...healthy, running: false }, NOW)).toMatchObject({ ok: false, reason: expect.stringMatching(/not running/) });
  });
});

describe('redisProbe', () => {
  const signal = new AbortController().signal;

  it('fails at once, naming the connection state, while the connection is not ready (commands would queue)', async () => {
    const ping = jest.fn();
    const probe = redisProbe({ status: 'reconnecting', ping } as unknown as RedisClient);
    await expect(probe.check(signal)).rejects.toThrow('not connected to Redis (connection reconnecting)');
    expect(ping).not.toHaveBeenCalled();
  });

  it('passes on PONG, and takes the connection lazily (a worker opens it in listen())', async () => {
    let redis: RedisClient | undefined;
    const probe = redisProbe(() => redis);
    await expect(probe.check(signal)).rejects.toThrow(/no Redis connection yet/);
    redis = { status: 'ready', ping: async () => 'PONG' } as unknown as RedisClient;
    await expect(probe.check(signal)).resolves.toBeUndefined();
  });
});
