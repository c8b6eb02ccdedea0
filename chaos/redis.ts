import { ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { createRedis } from '../common';
import type { RedisClient } from '../common';
import { startTestCluster, TestCluster } from '../test/harness/cluster';
import { freePort, redisServerBinary, waitForPing } from '../test/harness/redis-server';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Durability the chaos run needs: every acknowledged write is on disk before the reply (AOF, fsync always). */
export const AOF_ALWAYS = ['--appendonly', 'yes', '--appendfsync', 'always'];

/** redis-server processes a chaos run started (restarts included), so a crash or Ctrl-C can still kill them by pid. */
const live = new Set<ChildProcess>();
export function killAllRedis(): void {
  for (const child of live) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/**
 * One redis-server on a fixed port and data directory that can be killed, frozen and started again: the same
 * port, the same directory, the same AOF, so a restart loses nothing that was acknowledged (appendfsync always).
 * The first start picks a free port and a fresh directory; `destroy` removes the directory.
 */
export class RestartableRedis {
  private child?: ChildProcess;
  private frozen = false;

  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly args: string[],
    private readonly ownsDir: boolean,
  ) {}

  /** A new server on a free port with `args` (AOF always by default), started and answering PING. */
  static async start(args: string[] = AOF_ALWAYS): Promise<RestartableRedis> {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), `propel-chaos-${port}-`));
    const server = new RestartableRedis(port, dir, args, true);
    await server.start();
    return server;
  }

  /** Adopts a server someone else started (a cluster node): restarts reuse its port, directory and arguments. */
  static adopt(port: number, dir: string, args: string[], child: ChildProcess): RestartableRedis {
    const server = new RestartableRedis(port, dir, args, false);
    server.child = child;
    live.add(child);
    child.once('exit', () => live.delete(child));
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }
  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }
  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts the server (again) on its port and directory; resolves once it answers PING (the AOF is loaded). */
  async start(timeoutMs = 30_000): Promise<void> {
    if (this.running) return;
    const bin = redisServerBinary();
    if (!bin) throw new Error('redis-server is not installed: run `bash scripts/ensure-redis.sh` (installs it with apt-get)');
    const child = spawn(bin, ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--dir', this.dir, '--daemonize', 'no', ...this.args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-2000)));
    this.child = child;
    this.frozen = false;
    live.add(child);
    child.once('exit', () => live.delete(child));
    try {
      await waitForPing(this.port, timeoutMs);
    } catch (e) {
      throw new Error(`${(e as Error).message}${err ? `\n${err}` : ''}`);
    }
  }

  /** SIGKILL (no shutdown, no final fsync: what the AOF holds is what every acknowledged write put there). */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    if (this.frozen) child.kill('SIGCONT');
    child.kill('SIGKILL');
    await exited;
  }

  /** Freezes the process (SIGSTOP): connections stay open, nothing answers. */
  freeze(): void {
    if (!this.running) return;
    this.child!.kill('SIGSTOP');
    this.frozen = true;
  }
  thaw(): void {
    if (!this.running || !this.frozen) return;
    this.child!.kill('SIGCONT');
    this.frozen = false;
  }

  /** Kills the server for good and removes its directory (only the one it created itself). */
  async destroy(): Promise<void> {
    await this.kill();
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Connection errors are expected while Redis is down on purpose: ioredis reconnects; without a listener it prints each one. */
function quiet(client: RedisClient): RedisClient {
  client.on('error', () => undefined);
  return client;
}

/** What a chaos run needs from its Redis, whatever its shape. */
export interface ChaosRedis {
  kind: 'single' | 'cluster';
  /** PROPEL_* variables that point an app at it. */
  env: Record<string, string>;
  /** A command connection with Propel's scripts registered (from createRedis), for the run's own reads and writes. */
  connect(name: string): RedisClient;
  /** Every node's process id now (for the progress lines). */
  describe(): string;
  destroy(): Promise<void>;
}

export class SingleRedis implements ChaosRedis {
  readonly kind = 'single' as const;
  constructor(readonly server: RestartableRedis) {}

  static async start(): Promise<SingleRedis> {
    return new SingleRedis(await RestartableRedis.start());
  }

  get env(): Record<string, string> {
    return { PROPEL_REDIS_URL: this.server.url };
  }
  connect(name: string): RedisClient {
    return quiet(createRedis({ url: this.server.url, tls: false }, name));
  }
  describe(): string {
    return `redis-server ${this.server.address} (pid ${this.server.pid ?? 'down'})`;
  }
  destroy(): Promise<void> {
    return this.server.destroy();
  }
}

/** One node of the chaos cluster as CLUSTER NODES describes it. */
export interface ClusterNodeInfo {
  id: string;
  address: string;
  role: 'master' | 'replica';
  masterId: string | null;
  failed: boolean;
  slots: number;
}

/**
 * A local Redis Cluster of 3 masters with one replica each (AOF always on every node), from the test
 * harness's startTestCluster. Its nodes can be killed and started again in their own directories (a restarted
 * old master rejoins as a replica of the node that replaced it).
 */
export class ChaosCluster implements ChaosRedis {
  readonly kind = 'cluster' as const;
  readonly nodes: RestartableRedis[];

  private constructor(private readonly cluster: TestCluster) {
    this.nodes = cluster.servers.map((s) => RestartableRedis.adopt(s.port, s.dir, cluster.serverArgs, s.process));
  }

  static async start(masters = 3, replicas = 1): Promise<ChaosCluster> {
    return new ChaosCluster(await startTestCluster(masters, AOF_ALWAYS, { replicas, nodeTimeoutMs: 2000 }));
  }

  get seeds(): string[] {
    return this.cluster.nodes;
  }
  get env(): Record<string, string> {
    return { PROPEL_REDIS_CLUSTER: this.seeds.join(',') };
  }
  connect(name: string): RedisClient {
    return quiet(createRedis({ url: '', cluster: this.seeds, tls: false }, name));
  }

  node(address: string): RestartableRedis {
    const n = this.nodes.find((x) => x.address === address);
    if (!n) throw new Error(`no cluster node ${address}`);
    return n;
  }

  /** CLUSTER NODES as seen by the first node that answers. */
  async topology(): Promise<ClusterNodeInfo[]> {
    for (const n of this.nodes) {
      if (!n.running) continue;
      try {
        const { stdout } = await run('redis-cli', ['-p', String(n.port), 'cluster', 'nodes'], { timeout: 5_000 });
        return parseClusterNodes(stdout);
      } catch {
        // frozen or dead: ask the next one
      }
    }
    throw new Error('no cluster node answers CLUSTER NODES');
  }

  /** The masters serving slots now, and a live replica of each. */
  async masters(): Promise<Array<{ master: ClusterNodeInfo; replica?: ClusterNodeInfo }>> {
    const all = await this.topology();
    return all
      .filter((n) => n.role === 'master' && !n.failed && n.slots > 0)
      .map((master) => ({ master, replica: all.find((r) => r.role === 'replica' && r.masterId === master.id && !r.failed) }));
  }

  /** Waits until every node reports cluster_state:ok and every slot is served by a master that is not failed. */
  async waitHealthy(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const ok = await Promise.all(
          this.nodes.filter((n) => n.running).map(async (n) => (await run('redis-cli', ['-p', String(n.port), 'cluster', 'info'], { timeout: 3_000 })).stdout.includes('cluster_state:ok')),
        );
        // Served by a master that is really up: right after a kill the others still list the dead master as serving
        // its slots, until the node timeout has passed and its replica took over.
        const served = (await this.masters()).filter((m) => this.nodes.some((n) => n.running && n.address === m.master.address)).reduce((s, m) => s + m.master.slots, 0);
        if (ok.every(Boolean) && served === 16384) return;
      } catch {
        // a node still starting
      }
      if (Date.now() > deadline) throw new Error(`the cluster did not become healthy within ${timeoutMs} ms`);
      await sleep(200);
    }
  }

  describe(): string {
    return this.nodes.map((n) => `${n.address}${n.running ? '' : ' (down)'}`).join(', ');
  }

  /**
   * Kills every node and removes their directories. Not through the harness's `stop`: it waits for an exit
   * event, and a node this run already SIGKILLed (then restarted) has had it long ago.
   */
  async destroy(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.kill()));
    for (const s of this.cluster.servers) rmSync(s.dir, { recursive: true, force: true });
  }
}

/** Parses CLUSTER NODES output. */
export function parseClusterNodes(text: string): ClusterNodeInfo[] {
  const out: ClusterNodeInfo[] = [];
  for (const line of text.split('\n')) {
    const parts = line.trim().split(' ');
    if (parts.length < 8) continue;
    const [id, addr, flags, master] = parts;
    const flagList = flags!.split(',');
    let slots = 0;
    for (const range of parts.slice(8)) {
      if (range.startsWith('[')) continue; // slots being migrated
      const [a, b] = range.split('-').map(Number);
      slots += b === undefined ? 1 : b - a! + 1;
    }
    out.push({
      id: id!,
      address: addr!.split('@')[0]!,
      role: flagList.includes('master') ? 'master' : 'replica',
      masterId: master === '-' ? null : master!,
      failed: flagList.includes('fail') || flagList.includes('fail?'),
      slots,
    });
  }
  return out;
}

/** The node ids and roles, for logs: `127.0.0.1:7001 master (5461 slots)`. */
export function describeTopology(nodes: ClusterNodeInfo[]): string {
  return nodes
    .map((n) => `${n.address} ${n.role}${n.failed ? ' FAILED' : ''}${n.slots ? ` (${n.slots} slots)` : ''}`)
    .join('; ');
}

/** For reads that must visit every master (SCAN): the master nodes of a Cluster connection, or the single connection. */
export function scanTargets(redis: RedisClient): Array<Redis> {
  return redis instanceof Cluster ? redis.nodes('master') : [redis as Redis];
}

/** Ids of every actor of `type` with a record in namespace `ns` (a SCAN over every master). */
export async function actorIdsIn(redis: RedisClient, ns: string, type: string): Promise<string[]> {
  const marker = `}:a:${type}:`;
  const ids: string[] = [];
  for (const node of scanTargets(redis)) {
    let cursor = '0';
    do {
      const [next, found] = await node.scan(cursor, 'MATCH', `{${ns}:*${marker}*`, 'COUNT', 1000);
      cursor = next;
      for (const key of found) ids.push(key.slice(key.indexOf(marker) + marker.length));
    } while (cursor !== '0');
  }
  return ids;
}

