import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Cluster } from 'ioredis';
import { RedisProcess, startRedisServer } from './redis-server';

const run = promisify(execFile);

export interface TestCluster {
  nodes: string[];
  servers: RedisProcess[];
  stop(): Promise<void>;
}

/**
 * A local Redis Cluster of `masters` redis-server processes on free ports, hash slots assigned
 * (redis-cli --cluster create), ready when every node reports cluster_state:ok. `serverArgs` go to every
 * redis-server (the runtime bench passes `--appendonly yes --appendfsync everysec`).
 */
export async function startTestCluster(masters = 3, serverArgs: string[] = []): Promise<TestCluster> {
  const servers: RedisProcess[] = [];
  try {
    for (let i = 0; i < masters; i++) {
      servers.push(await startRedisServer(['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000', ...serverArgs]));
    }
    const nodes = servers.map((s) => `127.0.0.1:${s.port}`);
    await run('redis-cli', ['--cluster', 'create', ...nodes, '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 });
    const deadline = Date.now() + 20_000;
    for (const s of servers) {
      for (;;) {
        const { stdout } = await run('redis-cli', ['-p', String(s.port), 'cluster', 'info']);
        if (stdout.includes('cluster_state:ok')) break;
        if (Date.now() > deadline) throw new Error(`cluster node ${s.port} never reached cluster_state:ok`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    // Every node must agree on the slot map before clients connect, or they chase MOVED replies.
    const probe = new Cluster(nodes.map((hp) => ({ host: '127.0.0.1', port: Number(hp.split(':')[1]) })));
    await probe.set('{probe}:x', '1');
    probe.disconnect();
    return { nodes, servers, stop: async () => void (await Promise.all(servers.map((s) => s.stop()))) };
  } catch (err) {
    await Promise.all(servers.map((s) => s.stop()));
    throw err;
  }
}
