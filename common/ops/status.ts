import { GROUPS } from '../constants';
import { mapLimited, nowOf, OpsContext, Progress } from './context';
import { deadStreamOf } from './dead-letters';
import { GroupInfo, parseGroups } from '../redis/stream-info';

/** A worker in the membership registry. */
export interface MemberStatus {
  id: string;
  /** ms since its last heartbeat (null when it never wrote its info). */
  heartbeatAgeMs: number | null;
  /** ms until the registry counts it as gone unless it heartbeats again. */
  expiresInMs: number;
  host?: string;
  pid?: number;
  draining: boolean;
  /** When and by whom the drain flag was set. */
  drain?: DrainFlag;
  /** Partitions whose lease names it. */
  partitions: number[];
}

export interface DrainFlag {
  at: number;
  by: string;
}

/**
 * What waits in one partition, or in all of them summed: the counters a partition's status, the totals and the
 * dashboard's samples share, so a counter added here reaches all three.
 */
export interface Backlog {
  /** Entries read but not yet acknowledged (in flight, retrying, or left by a worker that died). */
  pending: number;
  /** Actors in the due index (a timer or a call deadline is set). */
  due: number;
  /** Of those, actors due more than `overdueAfterMs` ago: nobody fired them (an unowned partition, a stuck turn). */
  overdue: number;
  /** Outbox entries not yet relayed. */
  outbox: number;
  dead: number;
  manual: number;
}

/** The backlog summed over every partition, with the group lag (a partition whose lag Redis cannot tell counts 0). */
export interface BacklogTotals extends Backlog {
  lag: number;
}

/** One partition: who owns it and what waits in it. */
export interface PartitionStatus extends Backlog {
  partition: number;
  /** The lease holder (a worker id), or null when nobody holds the lease. */
  owner: string | null;
  /** ms left on the lease (null when unowned). */
  leaseTtlMs: number | null;
  /** Entries in the inbox stream (acknowledged ones linger until the owner trims them). */
  inbox: number;
  /** Entries not yet read by the actor group; null when Redis cannot tell. */
  lag: number | null;
}

/** A stream outside the partitions (ingest, notifications): its length, groups and dead letters. */
export interface SideStreamStatus {
  name: 'ingest' | 'notifications';
  length: number;
  groups: GroupInfo[];
  dead: number;
}

/** The system's totals; `dead` counts the partitions' dead letters (see `streams` for ingest and notifications). */
export interface StatusTotals extends BacklogTotals {
  members: number;
  draining: number;
  ownedPartitions: number;
  unownedPartitions: number;
  inbox: number;
}

export interface SystemStatus {
  at: number;
  namespace: string;
  partitions: number;
  members: MemberStatus[];
  /** Drain flags naming workers that are not live (harmless; `undrain` removes them). */
  staleDrains: Array<{ id: string } & DrainFlag>;
  perPartition: PartitionStatus[];
  streams: SideStreamStatus[];
  totals: StatusTotals;
}

export interface StatusOptions {
  /** An actor counts as overdue once it is due this long (ms; default 1000: timers fire every tick). */
  overdueAfterMs?: number;
  /** Partitions read at once (default 16). */
  concurrency?: number;
  onProgress?: Progress;
}

/**
 * The whole system at a glance: live workers (heartbeat age, drain flag, partitions), each partition's owner,
 * backlog (inbox length, group lag and pending), due and overdue actors, outbox, dead letters and actors in
 * manual intervention, the ingest and notification streams, and totals. Read-only; one pipeline per partition
 * (its keys share one hash tag, so this works on a Cluster too).
 */
export async function status(ctx: OpsContext, options: StatusOptions = {}): Promise<SystemStatus> {
  const now = nowOf(ctx);
  const overdueBefore = now - (options.overdueAfterMs ?? 1000);
  const [registry, perPartition, streams] = await Promise.all([
    readRegistry(ctx),
    mapLimited([...Array(ctx.partitions).keys()], options.concurrency ?? 16, (p) => partitionStatus(ctx, p, overdueBefore), options.onProgress),
    Promise.all((['ingest', 'notifications'] as const).map((name) => sideStream(ctx, name))),
  ]);
  const live = registry.members.filter(([, expiry]) => expiry >= now);
  const liveIds = new Set(live.map(([id]) => id));
  const members = live.map(([id, expiry]) => memberStatus(id, expiry, now, registry, perPartition.filter((s) => s.owner === id).map((s) => s.partition)));
  const staleDrains = [...registry.drains].filter(([id]) => !liveIds.has(id)).map(([id, flag]) => ({ id, ...flag }));
  const sum = (f: (s: PartitionStatus) => number) => perPartition.reduce((n, s) => n + f(s), 0);
  const owned = perPartition.filter((s) => s.owner !== null).length;
  return {
    at: now,
    namespace: ctx.keys.ns,
    partitions: ctx.partitions,
    members,
    staleDrains,
    perPartition,
    streams,
    totals: {
      members: members.length,
      draining: members.filter((m) => m.draining).length,
      ownedPartitions: owned,
      unownedPartitions: ctx.partitions - owned,
      inbox: sum((s) => s.inbox),
      lag: sum((s) => s.lag ?? 0),
      pending: sum((s) => s.pending),
      due: sum((s) => s.due),
      overdue: sum((s) => s.overdue),
      outbox: sum((s) => s.outbox),
      dead: sum((s) => s.dead),
      manual: sum((s) => s.manual),
    },
  };
}

/** Live workers and the partitions each holds, and the unowned partitions: a cheap read (health checks use it). */
export async function members(ctx: OpsContext): Promise<{ members: MemberStatus[]; unowned: number[]; staleDrains: Array<{ id: string } & DrainFlag> }> {
  const now = nowOf(ctx);
  const [registry, owners] = await Promise.all([readRegistry(ctx), Promise.all([...Array(ctx.partitions).keys()].map((p) => ctx.redis.get(ctx.keys.lease(p))))]);
  const live = registry.members.filter(([, expiry]) => expiry >= now);
  return {
    members: live.map(([id, expiry]) => memberStatus(id, expiry, now, registry, owners.flatMap((o, p) => (o === id ? [p] : [])))),
    unowned: owners.flatMap((o, p) => (o === null ? [p] : [])),
    staleDrains: [...registry.drains].filter(([id]) => !live.some(([m]) => m === id)).map(([id, flag]) => ({ id, ...flag })),
  };
}

function memberStatus(id: string, expiry: number, now: number, registry: Registry, partitions: number[]): MemberStatus {
  const info = registry.info.get(id);
  const drain = registry.drains.get(id);
  return {
    id,
    heartbeatAgeMs: typeof info?.seen === 'number' ? Math.max(0, now - info.seen) : null,
    expiresInMs: expiry - now,
    ...(typeof info?.host === 'string' ? { host: info.host } : {}),
    ...(typeof info?.pid === 'number' ? { pid: info.pid } : {}),
    draining: drain !== undefined,
    ...(drain ? { drain } : {}),
    partitions,
  };
}

interface Registry {
  members: Array<[id: string, expiry: number]>;
  info: Map<string, { seen?: number; host?: string; pid?: number }>;
  drains: Map<string, DrainFlag>;
}

async function readRegistry(ctx: OpsContext): Promise<Registry> {
  const { keys, redis } = ctx;
  const [flat, info, drains] = await Promise.all([redis.zrangebyscore(keys.members(), '-inf', '+inf', 'WITHSCORES'), redis.hgetall(keys.memberInfo()), redis.hgetall(keys.drains())]);
  const members: Array<[string, number]> = [];
  for (let i = 0; i + 1 < flat.length; i += 2) members.push([flat[i], Number(flat[i + 1])]);
  return { members, info: new Map(Object.entries(info).map(([id, json]) => [id, parseJson(json) ?? {}])), drains: new Map(Object.entries(drains).map(([id, json]) => [id, drainFlag(json)])) };
}

/** A drain flag as stored (`{ at, by }` JSON); tolerant of a hand-written value. */
export function drainFlag(json: string): DrainFlag {
  const v = parseJson(json) as Partial<DrainFlag> | null;
  return { at: typeof v?.at === 'number' ? v.at : 0, by: typeof v?.by === 'string' ? v.by : '?' };
}

function parseJson(text: string): any {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

async function partitionStatus(ctx: OpsContext, p: number, overdueBefore: number): Promise<PartitionStatus> {
  const k = ctx.keys;
  const replies = await ctx.redis
    .pipeline()
    .get(k.lease(p))
    .pttl(k.lease(p))
    .xlen(k.inbox(p))
    .xinfo('GROUPS', k.inbox(p))
    .zcard(k.due(p))
    .zcount(k.due(p), '-inf', overdueBefore)
    .xlen(k.outbox(p))
    .xlen(k.dead(p))
    .zcard(k.manual(p))
    .exec();
  const value = (i: number) => {
    const [err, v] = replies?.[i] ?? [null, null];
    // XINFO answers "no such key" for a partition nobody has written to yet: nothing there.
    if (err) {
      if (i === 3 && /no such key/i.test(err.message)) return [];
      throw err;
    }
    return v;
  };
  const owner = (value(0) as string | null) ?? null;
  const group = parseGroups(value(3)).find((g) => g.name === GROUPS.actors);
  const inbox = Number(value(2));
  let lag: number | null = group ? group.lag : inbox;
  // Redis cannot tell the lag after deletions in the stream: count what follows the last delivered entry.
  if (group && lag === null) lag = await countAfter(ctx, k.inbox(p), group.lastDeliveredId);
  return {
    partition: p,
    owner,
    leaseTtlMs: owner === null ? null : Math.max(0, Number(value(1))),
    inbox,
    lag,
    pending: group?.pending ?? 0,
    due: Number(value(4)),
    overdue: Number(value(5)),
    outbox: Number(value(6)),
    dead: Number(value(7)),
    manual: Number(value(8)),
  };
}

const COUNT_CAP = 100_000;

/** Entries after `id` (capped at 100,000: past that the exact number matters less than that it is large). */
async function countAfter(ctx: OpsContext, stream: string, id: string): Promise<number | null> {
  const entries = await ctx.redis.xrange(stream, `(${id}`, '+', 'COUNT', String(COUNT_CAP));
  return entries.length;
}

async function sideStream(ctx: OpsContext, name: 'ingest' | 'notifications'): Promise<SideStreamStatus> {
  const stream = name === 'ingest' ? ctx.keys.ingest() : ctx.keys.named(name);
  const replies = await ctx.redis.pipeline().xlen(stream).xinfo('GROUPS', stream).xlen(deadStreamOf(ctx.keys, name)).exec();
  const [lenErr, length] = replies?.[0] ?? [null, 0];
  const [groupsErr, groups] = replies?.[1] ?? [null, []];
  const [deadErr, dead] = replies?.[2] ?? [null, 0];
  const err = lenErr ?? deadErr ?? (groupsErr && !/no such key/i.test(groupsErr.message) ? groupsErr : null);
  if (err) throw err;
  return { name, length: Number(length), groups: groupsErr ? [] : parseGroups(groups), dead: Number(dead) };
}
