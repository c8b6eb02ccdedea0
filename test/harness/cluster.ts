import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Cluster } from 'ioredis';
import { RedisProcess, startRedisServer } from './redis-server';

const run = promisify(execFile);

export interface TestCluster {
  /** Every node as `host:port` (masters first, then replicas when there are any): the seeds clients get. */
  nodes: string[];
  servers: RedisProcess[];
  stop(): Promise<void>;
  /** The arguments each node's redis-server was started with after startRedisServer's own (to restart one in its dir). */
  serverArgs: string[];
}

/** Options of startTestCluster beyond the master count and the server arguments. */
export interface TestClusterOptions {
  /** Replicas per master (default 0). With replicas, a master that dies is replaced by its replica (failover). */
  replicas?: number;
  /** cluster-node-timeout in ms (default 2000): how long a master may be silent before its replica takes over. */
  nodeTimeoutMs?: number;
}

/** The redis-server arguments of a cluster node: cluster mode on, its config file in its dir, and `serverArgs`. */
export function clusterNodeArgs(serverArgs: string[] = [], nodeTimeoutMs = 2000): string[] {
  return ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', String(nodeTimeoutMs), ...serverArgs];
}

/**
 * A local Redis Cluster of `masters` redis-server processes on free ports, hash slots assigned
 * (redis-cli --cluster create), ready when every node reports cluster_state:ok. `serverArgs` go to every
 * redis-server (the runtime bench passes `--appendonly yes --appendfsync everysec`). With `replicas` > 0,
 * `masters × (1 + replicas)` nodes are started and redis-cli gives each master its replicas; ready once every
 * replica's link to its master is up.
 */
export async function startTestCluster(masters = 3, serverArgs: string[] = [], options: TestClusterOptions = {}): Promise<TestCluster> {
  const replicas = options.replicas ?? 0;
  const args = clusterNodeArgs(serverArgs, options.nodeTimeoutMs ?? 2000);
  const servers: RedisProcess[] = [];
  try {
    for (let i = 0; i < masters * (1 + replicas); i++) servers.push(await startRedisServer(args));
    const nodes = servers.map((s) => `127.0.0.1:${s.port}`);
    await run('redis-cli', ['--cluster', 'create', ...nodes, '--cluster-replicas', String(replicas), '--cluster-yes'], { timeout: 30_000 });
    const deadline = Date.now() + 30_000;
    for (const s of servers) {
      for (;;) {
        const { stdout } = await run('redis-cli', ['-p', String(s.port), 'cluster', 'info']);
        if (stdout.includes('cluster_state:ok')) break;
        if (Date.now() > deadline) throw new Error(`cluster node ${s.port} never reached cluster_state:ok`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    if (replicas > 0) {
      // A replica counts once it has synchronised with its master: before that a failover would lose data.
      for (const s of servers) {
        for (;;) {
          const { stdout } = await run('redis-cli', ['-p', String(s.port), 'info', 'replication']);
          if (stdout.includes('role:master') || stdout.includes('master_link_status:up')) break;
          if (Date.now() > deadline) throw new Error(`cluster replica ${s.port} never linked to its master`);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    }
    // Every node must agree on the slot map before clients connect, or they chase MOVED replies.
    const probe = new Cluster(nodes.map((hp) => ({ host: '127.0.0.1', port: Number(hp.split(':')[1]) })));
    await probe.set('{probe}:x', '1');
    probe.disconnect();
    return { nodes, servers, serverArgs: args, stop: async () => void (await Promise.all(servers.map((s) => s.stop()))) };
  } catch (err) {
    await Promise.all(servers.map((s) => s.stop()));
    throw err;
  }
}
