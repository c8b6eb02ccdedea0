import { Redis } from 'ioredis';
import { createRedis, encode, GROUPS, Keys, LeaseLostError, newRecord, RedisActorStore, RedisClient } from '../../common';
import { startTestRedis, TestRedis, uniqueNamespace } from '../harness/redis';
import { readRecord } from '../harness/workers';

// Provokes two writers deciding on the same version of one actor, and a writer whose partition lease is gone.
describe('single writer (invariants 1 and 6)', () => {
  let server: TestRedis;
  let redis: RedisClient;
  let plain: Redis;
  beforeAll(async () => {
    server = await startTestRedis();
    redis = createRedis({ url: server.url, tls: false });
    plain = new Redis(server.url);
  });
  afterAll(async () => {
    redis.disconnect();
    plain.disconnect();
    await server.stop();
  });

  const ref = { type: 'counter', id: 'a' };
  const turn = (expectedVersion: number, count: number, audit = 'x') => ({
    ref,
    entryId: '',
    expectedVersion,
    record: { ...newRecord({ status: 'active', count }, 'active', 1) },
    outbox: [] as Array<[string, Buffer]>,
    local: [] as Buffer[],
    audit: [encode({ audit })],
  });

  it('a stale writer is refused by the version check and writes nothing', async () => {
    const keys = new Keys(uniqueNamespace('stale'));
    await plain.set(keys.lease(0), 'w1');
    const store = new RedisActorStore(redis, keys, GROUPS.actors, 1000, 10);
    // Writer A and writer B both decided on version 0; A commits first.
    expect(await store.commit(0, [turn(0, 1, 'A')], 'w1')).toEqual([1]);
    expect(await store.commit(0, [turn(0, 99, 'B')], 'w1')).toEqual([-1]);
    const rec = await readRecord<{ count: number }>(plain, keys, 0, 'counter', 'a');
    expect(rec?.version).toBe(1);
    expect(rec?.state.count).toBe(1);
    expect(await plain.xlen(keys.audit(0))).toBe(1); // the refused turn left no audit record either
  });

  it('each turn of a batch is checked in order; once one is refused, the actor\'s later turns are refused too', async () => {
    const keys = new Keys(uniqueNamespace('batch'));
    await plain.set(keys.lease(0), 'w1');
    const store = new RedisActorStore(redis, keys, GROUPS.actors, 1000, 10);
    // The 4th turn expects version 2, which the actor is at: but it was decided on the refused 3rd turn.
    expect(await store.commit(0, [turn(0, 1), turn(1, 2), turn(1, 3), turn(2, 4)], 'w1')).toEqual([1, 2, -1, -1]);
    expect((await readRecord<{ count: number }>(plain, keys, 0, 'counter', 'a'))?.state.count).toBe(2);
    // Other actors in the same batch are unaffected.
    const other = { ...turn(0, 9), ref: { type: 'counter', id: 'b' } };
    expect(await store.commit(0, [turn(0, 5), other], 'w1')).toEqual([-1, 1]);
  });

  it('a lease that expired mid-turn cannot corrupt state: the commit is refused whole', async () => {
    const keys = new Keys(uniqueNamespace('lease'));
    const store = new RedisActorStore(redis, keys, GROUPS.actors, 1000, 10);
    await plain.set(keys.lease(0), 'w1', 'PX', 50);
    await new Promise((r) => setTimeout(r, 80)); // the turn ran longer than the lease
    await plain.set(keys.lease(0), 'w2'); // and another worker took the partition
    await expect(store.commit(0, [turn(0, 7)], 'w1')).rejects.toBeInstanceOf(LeaseLostError);
    expect(await plain.exists(keys.actor(0, ref))).toBe(0);
    expect(await plain.xlen(keys.audit(0))).toBe(0);
  });
});
