import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Fleet } from './fleet';
import { ChaosCluster, describeTopology, SingleRedis } from './redis';
import type { ChaosRedis, ClusterNodeInfo } from './redis';
import type { Rng } from './rng';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The faults a chaos run injects on a schedule: SIGKILL of a worker or a sweeper (restarted after a moment),
 * SIGSTOP/SIGCONT of Redis, a Redis restart (SIGKILL, then the same port, directory and AOF), and on a cluster a
 * graceful failover (CLUSTER FAILOVER on a replica) or a master SIGKILLed so its replica takes over.
 */
export type FaultKind = 'kill-worker' | 'kill-sweeper' | 'stop-redis' | 'restart-redis' | 'failover' | 'kill-master';
export const FAULT_KINDS: readonly FaultKind[] = ['kill-worker', 'kill-sweeper', 'stop-redis', 'restart-redis', 'failover', 'kill-master'];
const REDIS_FAULTS: ReadonlySet<FaultKind> = new Set(['stop-redis', 'restart-redis', 'failover', 'kill-master']);

export interface PlannedFault {
  /** ms after the load started. */
  at: number;
  kind: FaultKind;
  /** How long the target stays down or frozen (ms). */
  downMs: number;
}

/** What happened, for the timeline of the report. */
export interface FaultEvent {
  /** ms after the load started. */
  at: number;
  kind: FaultKind;
  target: string;
  detail: string;
  ok: boolean;
}

/**
 * A schedule for `counts` faults of each kind inside a load of `loadMs`: process kills anywhere from 5% to 90%
 * of it, Redis-level faults from 10% to 80%, at least `gapMs` apart (they never overlap), in a seeded order.
 */
export function planFaults(rng: Rng, loadMs: number, counts: Partial<Record<FaultKind, number>>, gapMs = 6_000): PlannedFault[] {
  const plan: PlannedFault[] = [];
  const redisKinds: FaultKind[] = [];
  for (const kind of FAULT_KINDS) {
    const n = counts[kind] ?? 0;
    for (let i = 0; i < n; i++) {
      if (REDIS_FAULTS.has(kind)) redisKinds.push(kind);
      else plan.push({ at: Math.round(loadMs * (0.05 + 0.85 * rng.next())), kind, downMs: rng.int(1_000, 4_000) });
    }
  }
  // Redis faults: one slot each, evenly spread with a seeded jitter, in a seeded order.
  const ordered = rng.shuffle(redisKinds);
  const from = loadMs * 0.1;
  const span = loadMs * 0.7;
  const step = ordered.length ? span / ordered.length : 0;
  ordered.forEach((kind, i) => {
    const downMs = kind === 'stop-redis' ? rng.int(1_000, 3_000) : kind === 'restart-redis' ? rng.int(500, 2_000) : rng.int(2_000, 5_000);
    const jitter = Math.max(0, step - gapMs) * rng.next();
    plan.push({ at: Math.round(from + i * step + jitter), kind, downMs });
  });
  return plan.sort((a, b) => a.at - b.at);
}

/** Runs a fault schedule against a fleet and its Redis; every fault waits for its target to be back before it counts as done. */
export class FaultInjector {
  readonly events: FaultEvent[] = [];
  private redisLock: Promise<void> = Promise.resolve();

  constructor(
    private readonly fleet: Fleet,
    private readonly redis: ChaosRedis,
    private readonly rng: Rng,
    private readonly log: (line: string) => void,
  ) {}

  /** Counts of faults done, by kind. */
  counts(): Record<FaultKind, number> {
    const out = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
    for (const e of this.events) if (e.ok) out[e.kind]++;
    return out;
  }

  /** Runs the schedule from `startedAt` (performance-free wall clock ms); resolves when every fault is over. */
  async run(plan: PlannedFault[], startedAt: number, stopped: () => boolean): Promise<void> {
    const running: Promise<void>[] = [];
    for (const f of plan) {
      const wait = startedAt + f.at - Date.now();
      if (wait > 0) await sleep(wait);
      if (stopped()) break;
      running.push(REDIS_FAULTS.has(f.kind) ? this.serialised(() => this.inject(f, startedAt)) : this.inject(f, startedAt));
    }
    await Promise.all(running);
  }

  private serialised(fn: () => Promise<void>): Promise<void> {
    const next = this.redisLock.then(fn, fn);
    this.redisLock = next.catch(() => undefined);
    return next;
  }

  private async inject(f: PlannedFault, startedAt: number): Promise<void> {
    const at = Date.now() - startedAt;
    let target = '';
    try {
      const detail = await this.execute(f, (t) => (target = t));
      this.events.push({ at, kind: f.kind, target, detail, ok: true });
    } catch (err) {
      this.events.push({ at, kind: f.kind, target, detail: `FAILED: ${(err as Error).message.split('\n')[0]}`, ok: false });
      this.log(`fault ${f.kind} ${target} FAILED: ${(err as Error).message}`);
    }
  }

  private async execute(f: PlannedFault, setTarget: (t: string) => void): Promise<string> {
    switch (f.kind) {
      case 'kill-worker':
      case 'kill-sweeper': {
        const kind = f.kind === 'kill-worker' ? 'worker' : 'sweeper';
        const candidates = this.fleet.names(kind).filter((n) => this.fleet.running(n));
        if (candidates.length === 0) throw new Error(`no ${kind} running to kill`);
        const name = this.rng.pick(candidates);
        setTarget(name);
        this.log(`fault: SIGKILL ${name}; restart in ${(f.downMs / 1000).toFixed(1)} s`);
        await this.fleet.kill(name, 'SIGKILL');
        await sleep(f.downMs);
        const t = Date.now();
        await this.fleet.start(name);
        this.log(`fault: ${name} restarted and ready (${Date.now() - t} ms after its start)`);
        return `SIGKILL, down ${(f.downMs / 1000).toFixed(1)} s, ready again after ${((Date.now() - t) / 1000).toFixed(1)} s`;
      }
      case 'stop-redis': {
        const server = this.redis instanceof SingleRedis ? this.redis.server : undefined;
        if (!server) throw new Error('stop-redis needs a single Redis');
        setTarget(server.address);
        this.log(`fault: SIGSTOP redis-server ${server.address} for ${(f.downMs / 1000).toFixed(1)} s`);
        server.freeze();
        await sleep(f.downMs);
        server.thaw();
        this.log('fault: SIGCONT redis-server');
        return `SIGSTOP for ${(f.downMs / 1000).toFixed(1)} s, then SIGCONT`;
      }
      case 'restart-redis': {
        const server = this.redis instanceof SingleRedis ? this.redis.server : undefined;
        if (!server) throw new Error('restart-redis needs a single Redis');
        setTarget(server.address);
        this.log(`fault: SIGKILL redis-server ${server.address}; start again on the same port and AOF in ${(f.downMs / 1000).toFixed(1)} s`);
        await server.kill();
        await sleep(f.downMs);
        const t = Date.now();
        await server.start();
        this.log(`fault: redis-server back (AOF loaded, PING after ${Date.now() - t} ms)`);
        return `SIGKILL, down ${(f.downMs / 1000).toFixed(1)} s, AOF reloaded in ${((Date.now() - t) / 1000).toFixed(1)} s`;
      }
      case 'failover': {
        const cluster = this.cluster();
        const { master, replica } = await this.pickPair(cluster, setTarget);
        this.log(`fault: CLUSTER FAILOVER on replica ${replica.address} (master ${master.address})`);
        const t = Date.now();
        await run('redis-cli', ['-p', replica.address.split(':')[1]!, 'cluster', 'failover'], { timeout: 10_000 });
        await this.waitPromoted(cluster, replica.address, 20_000);
        await cluster.waitHealthy(30_000);
        this.log(`fault: ${replica.address} is master now (${Date.now() - t} ms); ${describeTopology(await cluster.topology())}`);
        return `graceful failover (the replica caught up first), promoted after ${((Date.now() - t) / 1000).toFixed(1)} s`;
      }
      case 'kill-master': {
        const cluster = this.cluster();
        const { master, replica } = await this.pickPair(cluster, setTarget);
        this.log(`fault: SIGKILL master ${master.address}; its replica ${replica.address} should take over`);
        const t = Date.now();
        await cluster.node(master.address).kill();
        await this.waitPromoted(cluster, replica.address, 30_000);
        await cluster.waitHealthy(30_000);
        const promotedMs = Date.now() - t;
        this.log(`fault: ${replica.address} promoted ${promotedMs} ms after the kill; restarting ${master.address} in ${(f.downMs / 1000).toFixed(1)} s`);
        await sleep(f.downMs);
        await cluster.node(master.address).start();
        await cluster.waitHealthy(30_000);
        this.log(`fault: ${master.address} back as a replica; ${describeTopology(await cluster.topology())}`);
        return `SIGKILL of the master, replica promoted after ${(promotedMs / 1000).toFixed(1)} s, old master back as a replica`;
      }
    }
  }

  private cluster(): ChaosCluster {
    if (!(this.redis instanceof ChaosCluster)) throw new Error('this fault needs a Redis Cluster');
    return this.redis;
  }

  /** A seeded pick among the masters that have a live replica (the target of a failover fault). */
  private async pickPair(cluster: ChaosCluster, setTarget: (t: string) => void): Promise<{ master: ClusterNodeInfo; replica: ClusterNodeInfo }> {
    const pairs = (await cluster.masters()).filter((m): m is { master: ClusterNodeInfo; replica: ClusterNodeInfo } => m.replica !== undefined);
    if (pairs.length === 0) throw new Error('no master with a live replica');
    const pair = this.rng.pick(pairs);
    setTarget(`${pair.master.address} → ${pair.replica.address}`);
    return pair;
  }

  private async waitPromoted(cluster: ChaosCluster, address: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const node = (await cluster.topology().catch(() => [])).find((n) => n.address === address);
      if (node?.role === 'master' && node.slots > 0) return;
      if (Date.now() > deadline) throw new Error(`${address} was not promoted within ${timeoutMs} ms`);
      await sleep(200);
    }
  }
}
