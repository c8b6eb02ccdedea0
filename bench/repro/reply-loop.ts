/**
 * Reproduction (for the report): two concurrent first calls on a fresh RedisStreamsClient each start a
 * reply loop with its own blocking connection; close() disconnects only the last one, so the other stays
 * open (and keeps the process alive).
 *
 *   node -r ./scripts/register.js bench/repro/reply-loop.ts
 */
import 'reflect-metadata';
import { RedisStreamsClient, RedisStreamsServer } from '../../common';
import { counterActor } from '../../actors';
import { startRedisServer } from '../../test/harness/redis-server';
import { connect } from '../lib/propel';
import { sleep } from '../lib/util';

async function main(): Promise<void> {
  const server = await startRedisServer();
  const admin = connect(server.url, 'repro-admin');
  const config = { redis: { url: server.url }, runtime: { namespace: 'replyloop', partitions: 4 } };
  const worker = new RedisStreamsServer({ config, actors: [counterActor] });
  await new Promise<void>((res, rej) => worker.listen((e) => (e ? rej(e) : res())));
  const client = new RedisStreamsClient(config);
  try {
    await Promise.all([client.ask(counterActor, 'a', { type: 'increment', by: 1 }), client.ask(counterActor, 'b', { type: 'increment', by: 1 })]);
    const before = ((await admin.client('LIST')) as string).split('\n').filter((l) => l.includes('name=propel-client')).length;
    await client.close();
    await sleep(300);
    const after = ((await admin.client('LIST')) as string).split('\n').filter((l) => l.includes('name=propel-client')).length;
    console.log(`client connections: ${before} while in use, ${after} after client.close()`);
    console.log(after > 0 ? 'REPRODUCED: a reply connection outlives close()' : 'not reproduced');
  } finally {
    await worker.close();
    admin.disconnect();
    await server.stop();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
