import { performance } from 'node:perf_hooks';
import { ChainableCommander, Cluster, Redis } from 'ioredis';
import { decode, encodeEnvelope, GROUPS, Keys, partitionOf, RedisActorStore } from '../../common';
import type { ActorRecord, AuditRecord } from '../../common';
import { sleep } from './util';

export const COUNTER = 'counter';

/** A single Redis or a Redis Cluster: the helpers below work on either. */
export type BenchRedis = Redis | Cluster;

/** A plain bench connection: no auto-pipelining (the bench builds its pipelines itself). */
export function connect(url: string, name: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, connectionName: name, lazyConnect: false });
}

/** The same for a Redis Cluster given as `host:port` seeds (reads and writes on the masters). */
export function connectCluster(nodes: string[], name: string): Cluster {
  const seeds = nodes.map((hp) => ({ host: hp.slice(0, hp.lastIndexOf(':')), port: Number(hp.slice(hp.lastIndexOf(':') + 1)) }));
  return new Cluster(seeds, { redisOptions: { maxRetriesPerRequest: null, connectionName: name }, scaleReads: 'master' });
}

/**
 * Runs commands that each touch one partition's keys: one pipeline on a single Redis; on a Cluster one
 * pipeline per partition (a partition is one hash tag, so one slot), all in flight at once, since a Cluster
 * pipeline must not span slots. Replies come back in the order of `ops`; the first error is thrown.
 */
export async function execByPartition(redis: BenchRedis, ops: Array<{ p: number; add: (pipe: ChainableCommander) => void }>): Promise<Array<[Error | null, unknown]>> {
  const groups = new Map<number, number[]>();
  if (redis instanceof Cluster) {
    ops.forEach((op, i) => {
      const g = groups.get(op.p);
      if (g) g.push(i);
      else groups.set(op.p, [i]);
    });
  } else groups.set(0, ops.map((_, i) => i));
  const out: Array<[Error | null, unknown]> = new Array(ops.length);
  await Promise.all(
    [...groups.values()].map(async (idx) => {
      const pipe = redis.pipeline();
      for (const i of idx) ops[i].add(pipe);
      const res = (await pipe.exec()) ?? [];
      idx.forEach((i, j) => (out[i] = res[j] as [Error | null, unknown]));
    }),
  );
  return out;
}

/** Actor ids c0..c(M-1) with their partitions, computed once. */
export function actorTable(actors: number, partitions: number, prefix = 'c'): { ids: string[]; partition: Int32Array } {
  const ids: string[] = new Array(actors);
  const partition = new Int32Array(actors);
  for (let i = 0; i < actors; i++) {
    ids[i] = `${prefix}${i}`;
    partition[i] = partitionOf({ type: COUNTER, id: ids[i] }, partitions);
  }
  return { ids, partition };
}

export function incrementEnvelope(messageId: string, actorId: string, seq?: number): Buffer {
  return encodeEnvelope({
    id: messageId,
    pattern: `actor:${COUNTER}`,
    key: `${COUNTER}/${actorId}`,
    data: { id: actorId, message: seq === undefined ? { type: 'increment', by: 1 } : { type: 'increment', by: 1, seq } },
    ts: Date.now(),
  });
}

/**
 * Appends `n` increment messages spread round-robin over the actors into the partition inboxes (pipelined
 * XADD, `chunk` per round trip). Message i goes to actor i mod M and has the id `<ns>:m<i>`.
 */
export async function preloadIncrements(redis: BenchRedis, keys: Keys, table: ReturnType<typeof actorTable>, n: number, chunk = 5000): Promise<number> {
  const started = Date.now();
  const m = table.ids.length;
  for (let base = 0; base < n; base += chunk) {
    const ops: Array<{ p: number; add: (pipe: ChainableCommander) => void }> = [];
    const end = Math.min(n, base + chunk);
    for (let i = base; i < end; i++) {
      const a = i % m;
      const p = table.partition[a];
      const env = incrementEnvelope(`${keys.ns}:m${i}`, table.ids[a]);
      ops.push({ p, add: (pipe) => pipe.xadd(keys.inbox(p), '*', 'e', env) });
    }
    const results = await execByPartition(redis, ops);
    const failed = results.find(([err]) => err);
    if (failed) throw failed[0];
  }
  return Date.now() - started;
}

export interface PartitionState {
  partition: number;
  groupExists: boolean;
  /** Entries not yet delivered to the group (null when Redis cannot tell). */
  lag: number | null;
  pending: number;
  entriesRead: number | null;
  length: number;
  drained: boolean;
}

function field(flat: unknown[], name: string): unknown {
  const i = flat.indexOf(name);
  return i >= 0 ? flat[i + 1] : undefined;
}

const asNumber = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** XINFO GROUPS / XINFO STREAM of every inbox: whether group `actors` exists, its lag and pending count. */
export async function inboxStates(redis: BenchRedis, keys: Keys, partitions: number): Promise<PartitionState[]> {
  const ops: Array<{ p: number; add: (pipe: ChainableCommander) => void }> = [];
  for (let p = 0; p < partitions; p++) {
    ops.push({ p, add: (pipe) => pipe.xinfo('GROUPS', keys.inbox(p)) });
    ops.push({ p, add: (pipe) => pipe.xinfo('STREAM', keys.inbox(p)) });
  }
  const results = await execByPartition(redis, ops);
  const states: PartitionState[] = [];
  for (let p = 0; p < partitions; p++) {
    const [gErr, groups] = results[2 * p];
    const [sErr, stream] = results[2 * p + 1];
    const info = sErr ? undefined : (stream as unknown[]);
    const length = info ? Number(field(info, 'length') ?? 0) : 0;
    const lastGenerated = info ? String(field(info, 'last-generated-id')) : '0-0';
    const group = gErr ? undefined : (groups as unknown[][]).find((g) => field(g, 'name') === GROUPS.actors);
    if (!group) {
      states.push({ partition: p, groupExists: false, lag: null, pending: 0, entriesRead: null, length, drained: false });
      continue;
    }
    const pending = Number(field(group, 'pending') ?? 0);
    let lag = asNumber(field(group, 'lag'));
    // lag is NULL when Redis cannot compute it (e.g. after deletions); then compare the ids instead.
    if (lag === null && String(field(group, 'last-delivered-id')) === lastGenerated) lag = 0;
    states.push({ partition: p, groupExists: true, lag, pending, entriesRead: asNumber(field(group, 'entries-read')), length, drained: lag === 0 && pending === 0 });
  }
  return states;
}

/** Messages not yet settled over all partitions (lag + pending; a partition without its group counts its whole length). */
export function backlogOf(states: PartitionState[]): number {
  let total = 0;
  for (const s of states) total += s.groupExists ? (s.lag ?? s.length) + s.pending : s.length;
  return total;
}

/**
 * Polls until every partition's group exists with lag 0 and pending 0. Calls `progress` once a second
 * with the backlog; fails if the backlog does not move for `stallMs`. Returns performance.now() when drained.
 */
export async function waitDrained(
  redis: BenchRedis,
  keys: Keys,
  partitions: number,
  opts: { pollMs?: number; stallMs?: number; progress?: (backlog: number) => void; isAlive?: () => string | undefined } = {},
): Promise<number> {
  const pollMs = opts.pollMs ?? 25;
  const stallMs = opts.stallMs ?? 60_000;
  let lastBacklog = -1;
  let lastChange = Date.now();
  let lastReport = Date.now();
  for (;;) {
    const states = await inboxStates(redis, keys, partitions);
    const now = Date.now();
    if (states.every((s) => s.drained)) return performance.now();
    const backlog = backlogOf(states);
    if (backlog !== lastBacklog) {
      lastBacklog = backlog;
      lastChange = now;
    } else if (now - lastChange > stallMs) {
      const stuck = states.filter((s) => !s.drained).map((s) => `p${s.partition}:${s.groupExists ? `lag=${s.lag},pending=${s.pending}` : 'no group'}`);
      throw new Error(`no progress for ${stallMs} ms; backlog ${backlog} (${stuck.join(' ')})`);
    }
    const dead = opts.isAlive?.();
    if (dead) throw new Error(dead);
    if (opts.progress && now - lastReport >= 1000) {
      lastReport = now;
      opts.progress(backlog);
    }
    await sleep(pollMs);
  }
}

/** Reads the counter record of every actor (pipelined HGET of field `d`) and sums `state.count`. */
export async function sumCounters(redis: BenchRedis, keys: Keys, table: ReturnType<typeof actorTable>, chunk = 2000): Promise<{ sum: number; missing: number; perActor: Map<string, number> }> {
  let sum = 0;
  let missing = 0;
  const perActor = new Map<string, number>();
  for (let base = 0; base < table.ids.length; base += chunk) {
    const ops: Array<{ p: number; add: (pipe: ChainableCommander) => void }> = [];
    const end = Math.min(table.ids.length, base + chunk);
    for (let a = base; a < end; a++) {
      const p = table.partition[a];
      const key = keys.actor(p, { type: COUNTER, id: table.ids[a] });
      ops.push({ p, add: (pipe) => pipe.hgetBuffer(key, 'd') });
    }
    const results = await execByPartition(redis, ops);
    results.forEach(([err, d], j) => {
      if (err) throw err;
      if (!d) {
        missing++;
        return;
      }
      const count = decode<ActorRecord<{ count: number }>>(d as Buffer).state.count;
      perActor.set(table.ids[base + j], count);
      sum += count;
    });
  }
  return { sum, missing, perActor };
}

/**
 * Every audit record of every partition: `{ at, actor, version, message, messageId, from, to, ... }`, with
 * the millisecond part of its stream id (the Redis time at which the turn committed). `fromMs` skips the
 * records committed before that time.
 */
export async function readAudit(redis: BenchRedis, keys: Keys, partitions: number, onRecord: (r: AuditRecord, committedMs: number) => void, fromMs?: number): Promise<number> {
  let n = 0;
  for (let p = 0; p < partitions; p++) {
    let start = fromMs === undefined ? '-' : `${Math.floor(fromMs)}-0`;
    for (;;) {
      const batch = (await redis.xrangeBuffer(keys.audit(p), start, '+', 'COUNT', 5000)) as Array<[Buffer, Buffer[]]>;
      for (const [id, fields] of batch) {
        for (let i = 0; i + 1 < fields.length; i += 2) {
          if (fields[i].toString() === 'e') {
            const s = id.toString();
            onRecord(decode(fields[i + 1]), Number(s.slice(0, s.indexOf('-'))));
            n++;
          }
        }
      }
      if (batch.length < 5000) break;
      start = `(${batch[batch.length - 1][0].toString()}`;
    }
  }
  return n;
}

/** Groups `items` by their partition, in the order given. */
export function groupByPartition<T>(items: Iterable<T>, partitionOf: (item: T) => number): Map<number, T[]> {
  const byPartition = new Map<number, T[]>();
  for (const item of items) {
    const p = partitionOf(item);
    let list = byPartition.get(p);
    if (!list) byPartition.set(p, (list = []));
    list.push(item);
  }
  return byPartition;
}

/**
 * Loads the records of `items` (one pipelined loadMany per partition and `chunk` items): `records[i]` is the
 * record of `items[i]`, or null where there is none.
 */
export async function loadRecords<T, S = unknown>(store: RedisActorStore, items: readonly T[], actorOf: (item: T) => { partition: number; type: string; id: string }, chunk = 1000): Promise<Array<ActorRecord<S> | null>> {
  const records = new Array<ActorRecord<S> | null>(items.length).fill(null);
  const indexes = Array.from({ length: items.length }, (_, i) => i);
  for (const [p, list] of groupByPartition(indexes, (i) => actorOf(items[i]!).partition)) {
    for (let base = 0; base < list.length; base += chunk) {
      const slice = list.slice(base, base + chunk);
      const loaded = await store.loadMany(
        p,
        slice.map((i) => {
          const { type, id } = actorOf(items[i]!);
          return { type, id };
        }),
      );
      loaded.forEach((rec, j) => (records[slice[j]!] = rec as ActorRecord<S> | null));
    }
  }
  return records;
}
