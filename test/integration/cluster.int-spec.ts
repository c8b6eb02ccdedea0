import calculateSlot from 'cluster-key-slot';
import { Cluster } from 'ioredis';
import { createRedis, encode, encodeEnvelope, GROUPS, Keys, LeaseLostError, newRecord, partitionOf, RedisActorStore, RedisStreamsClient, RedisStreamsServer } from '../../common';
import { counterActor, CounterState } from '../../actors';
import { startTestCluster, TestCluster } from '../harness/cluster';
import { uniqueNamespace } from '../harness/redis';
import { fastRuntime, waitFor } from '../harness/workers';
import type { ActorRecord } from '../../common';

function record(cluster: Cluster, keys: Keys, p: number, id: string): Promise<ActorRecord<CounterState> | null> {
  return new RedisActorStore(cluster, keys).load<CounterState>(p, { type: 'counter', id });
}

// Provokes the runtime on a 3-master Redis Cluster: partitions spread over slots and nodes.
describe('on a 3-master Redis Cluster (smoke subset)', () => {
  let cluster: TestCluster;
  let redis: Cluster;
  let ns: string;
  let keys: Keys;
  let runtime: Record<string, unknown>;
  let w1: RedisStreamsServer;
  let w2: RedisStreamsServer;
  let client: RedisStreamsClient;
  const partitions = 8;
  beforeAll(async () => {
    cluster = await startTestCluster(3);
    redis = createRedis({ url: '', cluster: cluster.nodes, tls: false }) as Cluster;
    ns = uniqueNamespace('cl');
    keys = new Keys(ns);
    runtime = fastRuntime(ns, { partitions });
    const config = { redis: { cluster: cluster.nodes }, runtime };
    // Fixed ids that split the partitions 6/2 (random ids could give one worker all of them).
    w1 = new RedisStreamsServer({ config: { ...config, runtime: { ...runtime, workerId: 'cluster-a' } }, actors: [counterActor] });
    w2 = new RedisStreamsServer({ config: { ...config, runtime: { ...runtime, workerId: 'cluster-b' } }, actors: [counterActor] });
    await Promise.all([w1, w2].map((w) => new Promise<void>((res, rej) => w.listen((e) => (e ? rej(e) : res())))));
    client = new RedisStreamsClient(config);
  }, 90_000);
  afterAll(async () => {
    await client?.close();
    await Promise.all([w1?.close(), w2?.close()]);
    redis?.disconnect();
    await cluster?.stop();
  });

  it('partition keys spread over all three masters, each partition in one slot', async () => {
    const nodesUsed = new Set<string>();
    for (let p = 0; p < partitions; p++) {
      const slots = new Set([keys.inbox(p), keys.due(p), keys.outbox(p), keys.audit(p), keys.dead(p), keys.lease(p), keys.actor(p, { type: 'counter', id: 'x' })].map((k) => calculateSlot(k)));
      expect(slots.size).toBe(1);
      // ioredis keeps the slot → [master, replicas...] map it learned from CLUSTER SLOTS.
      nodesUsed.add(String((redis as unknown as { slots: string[][] }).slots[[...slots][0]]?.[0]));
    }
    expect(nodesUsed.size).toBe(3);
  });

  it('per-actor order holds and nothing is lost with two workers over the cluster', async () => {
    await waitFor(() => w1.ownedPartitions().length + w2.ownedPartitions().length === partitions && w1.ownedPartitions().length > 0 && w2.ownedPartitions().length > 0, 15_000, 'partitions split over both workers');
    const actors = [...Array(40).keys()].map((i) => `k${i}`);
    let seq = 0;
    for (let round = 0; round < 10; round++) await Promise.all(actors.map((id) => client.tell(counterActor, id, { type: 'increment', by: 1, seq: ++seq })));
    for (const id of actors) {
      const rec = await waitFor(async () => {
        const r = await record(redis, keys, partitionOf({ type: 'counter', id }, partitions), id);
        return r && r.state.count === 10 ? r : null;
      }, 15_000, `counter ${id} to reach 10`);
      expect(rec.state.outOfOrder).toBe(0);
      expect(rec.version).toBe(10);
    }
  });

  it('cross-partition sends go through the outbox relay across slots', async () => {
    const from = 'src1';
    let to = 'dst1';
    for (let i = 2; partitionOf({ type: 'counter', id: to }, partitions) === partitionOf({ type: 'counter', id: from }, partitions); i++) to = `dst${i}`;
    await client.ask(counterActor, from, { type: 'forward', to, by: 9 });
    const rec = await waitFor(async () => record(redis, keys, partitionOf({ type: 'counter', id: to }, partitions), to), 10_000, 'the forwarded increment');
    expect(rec.state.count).toBe(9);
  });

  it('a stale writer is refused by the version check on the cluster too', async () => {
    const store = new RedisActorStore(redis, keys, GROUPS.actors, 100, 10);
    const ref = { type: 'counter', id: 'stale' };
    const p = partitionOf(ref, partitions);
    const holder = (await redis.get(keys.lease(p)))!;
    const turn = (v: number) => ({ ref, entryId: '', expectedVersion: v, record: newRecord({ status: 'active', count: v }, 'active', 1), outbox: [], local: [], audit: [encode({ v })] });
    expect(await store.commit(p, [turn(0)], holder)).toEqual([1]);
    expect(await store.commit(p, [turn(0)], holder)).toEqual([-1]);
    await expect(store.commit(p, [turn(1)], 'not-the-holder')).rejects.toBeInstanceOf(LeaseLostError);
  });

  it('poison entries are dead-lettered on the cluster and the partition keeps flowing', async () => {
    const id = 'poisoned';
    const p = partitionOf({ type: 'counter', id }, partitions);
    await redis.xadd(keys.inbox(p), '*', 'e', Buffer.from([0xc1]));
    await redis.xadd(keys.inbox(p), '*', 'e', encodeEnvelope({ id: 'nh', pattern: 'no.such', data: {}, ts: 1 }));
    const after = await client.ask(counterActor, id, { type: 'increment', by: 1 });
    expect(after.state.count).toBe(1);
    const dead = await waitFor(async () => {
      const d = await redis.xrange(keys.dead(p), '-', '+');
      return d.length >= 2 ? d : null;
    }, 10_000, 'two dead letters');
    expect(dead.map(([, f]) => f[f.indexOf('code') + 1]).sort()).toEqual(['DECODE_FAILED', 'NO_HANDLER']);
  });
});
