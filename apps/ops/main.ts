import { userInfo } from 'node:os';
import type { ActorDefinition } from '../../common';
import { compileConfig, createRedis, Keys, optionsFromEnv, partitionOf, RedisActorStore, RedisStreamsClient } from '../../common';

const USAGE = `usage: ops <command>
  inspect <type> <id> [--json]   an actor's record: version, status, schedule_time, state and history
  members [--json]               live workers and the partitions each holds
  retry <type> <id> [--json]     re-drive an actor in MANUAL_INTERVENTION (sends RetryFromOps; at most once per grant)`;

/** A first operator tool over Redis (the full CLI comes with the sweepers issue). */
async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const args = argv.filter((a) => a !== '--json');
  const config = compileConfig(optionsFromEnv());
  const keys = new Keys(config.runtime.namespace);
  const redis = createRedis(config.redis, 'propel-ops');
  try {
    switch (args[0]) {
      case 'inspect': {
        const [, type, id] = args;
        if (!type || !id) throw new Error(USAGE);
        const p = partitionOf({ type, id }, config.runtime.partitions);
        const store = new RedisActorStore(redis, keys);
        const [record, history] = await Promise.all([store.load(p, { type, id }), store.history(p, { type, id })]);
        if (!record) {
          console.error(`no actor ${type}/${id} (partition ${p}, namespace ${config.runtime.namespace})`);
          return 2;
        }
        if (json) console.log(JSON.stringify({ partition: p, ...record, history }));
        else {
          console.log(`${type}/${id}  partition ${p}  version ${record.version}  status ${record.status}  schedule_time ${record.scheduleTime ?? '-'}`);
          console.log(`state: ${JSON.stringify(record.state)}`);
          for (const h of history) {
            const why = h.rejected ? `rejected ${h.rejected.code}: ${h.rejected.reason}` : (h.why ?? '');
            console.log(`  ${new Date(h.at).toISOString()}  ${h.message.padEnd(16)} ${h.from} → ${h.to}  ${why}`);
          }
        }
        return 0;
      }
      case 'members': {
        const now = Date.now();
        const live = await redis.zrangebyscore(keys.members(), now, '+inf');
        const holders = await Promise.all([...Array(config.runtime.partitions).keys()].map((p) => redis.get(keys.lease(p))));
        const rows = live.map((m) => ({ member: m, partitions: holders.flatMap((h, p) => (h === m ? [p] : [])) }));
        const orphans = holders.flatMap((h, p) => (h === null ? [p] : []));
        if (json) console.log(JSON.stringify({ members: rows, unowned: orphans }));
        else {
          for (const r of rows) console.log(`${r.member.padEnd(40)} ${r.partitions.length} partitions: ${r.partitions.join(' ')}`);
          console.log(`unowned partitions: ${orphans.length ? orphans.join(' ') : 'none'}`);
        }
        return 0;
      }
      case 'retry': {
        const [, type, id] = args;
        if (!type || !id) throw new Error(USAGE);
        const operator = process.env.PROPEL_OPERATOR ?? userInfo().username;
        const client = new RedisStreamsClient({ redis: config.redis, runtime: { namespace: config.runtime.namespace, partitions: config.runtime.partitions } });
        try {
          // ops hosts no actor definitions: the client only reads the type name to route the message.
          const actor = { type } as ActorDefinition<unknown, { type: 'RetryFromOps'; operator: string }>;
          const turn = await client.ask(actor, id, { type: 'RetryFromOps', operator }, { timeoutMs: 10_000 });
          if (json) console.log(JSON.stringify(turn));
          else if (turn.rejected) console.error(`${type}/${id} not retried: ${turn.rejected.code}: ${turn.rejected.reason}`);
          else console.log(`${type}/${id} retried by ${operator}: now ${turn.status} (version ${turn.version})`);
          return turn.rejected ? 3 : 0;
        } finally {
          await client.close();
        }
      }
      default:
        console.error(USAGE);
        return 2;
    }
  } finally {
    redis.disconnect();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error((err as Error).message);
    process.exit(1);
  },
);
