/**
 * Reproduction (for the report, not a benchmark): PartitionConsumer.addPartition marks the partition active
 * before it has claimed and dispatched the entries a previous owner left pending, so the shared reader can
 * read and dispatch *newer* entries of the same key first. For actors that means the older entry is later
 * taken for a duplicate (entry id ≤ record.lastEntry) and acknowledged without being applied.
 *
 *   node -r ./scripts/register.js bench/repro/claim-order.ts   (exit 2 = reproduced, 0 = not)
 */
import 'reflect-metadata';
import { compileConfig, encodeEnvelope, Keys } from '../../common';
import { PartitionConsumer } from '../../common/transport/partition-consumer';
import { startRedisServer } from '../../test/harness/redis-server';
import { connect } from '../lib/propel';
import { sleep } from '../lib/util';

async function main(): Promise<void> {
  const server = await startRedisServer();
  const redis = connect(server.url, 'repro');
  const keys = new Keys('repro');
  const group = 'actors';
  const PENDING = 1000;
  const NEW = 20;
  try {
    const env = (i: number) => encodeEnvelope({ id: `m${i}`, pattern: 'actor:counter', key: 'counter/x', data: { id: 'x', message: { type: 'increment', by: 1 } }, ts: Date.now() });
    await redis.xgroup('CREATE', keys.inbox(0), group, '0', 'MKSTREAM');
    await redis.xgroup('CREATE', keys.inbox(1), group, '0', 'MKSTREAM');
    // A previous owner ("dead") read PENDING entries of partition 0 and died before settling them.
    for (let i = 0; i < PENDING; i++) await redis.xadd(keys.inbox(0), '*', 'e', env(i));
    await redis.xreadgroup('GROUP', group, 'dead', 'COUNT', PENDING, 'STREAMS', keys.inbox(0), '>');
    // Then new entries for the same key arrived.
    for (let i = PENDING; i < PENDING + NEW; i++) await redis.xadd(keys.inbox(0), '*', 'e', env(i));

    const config = compileConfig({ redis: { url: server.url }, runtime: { namespace: 'repro', blockMs: 10 } });
    const handled: string[] = [];
    const consumer = new PartitionConsumer({
      redis: connect(server.url, 'repro-consumer'),
      group,
      consumer: 'survivor',
      config: config.runtime,
      streamOf: (p) => keys.inbox(p),
      deadOf: (p) => keys.dead(p),
      handle: async (_entry, envelope) => {
        handled.push(envelope.id);
      },
      onLeaseLost: () => undefined,
    });
    consumer.start();
    await consumer.addPartition(1); // already owns another partition: the shared reader is running
    await consumer.addPartition(0); // takes partition 0 over
    for (let i = 0; i < 100 && handled.length < PENDING + NEW; i++) await sleep(50);
    const order = handled.map((id) => Number(id.slice(1)));
    const firstNew = order.findIndex((n) => n >= PENDING);
    const claimedAfter = order.slice(firstNew).filter((n) => n < PENDING).length;
    console.log(`handled ${handled.length}/${PENDING + NEW}; first new entry (m${order[firstNew]}) handled at position ${firstNew}; ${claimedAfter} older (claimed) entries handled after it`);
    console.log(claimedAfter > 0 ? 'REPRODUCED: newer entries of the key ran before older pending ones' : 'not reproduced this time');
    await consumer.close();
    process.exitCode = claimedAfter > 0 ? 2 : 0;
  } finally {
    redis.disconnect();
    await server.stop();
  }
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
