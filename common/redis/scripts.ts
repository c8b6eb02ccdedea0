import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RedisClient } from './client';

/** Codes the Lua scripts return, mirrored from their headers. */
export enum ScriptCode {
  AckedOnly = 0,
  StaleVersion = -1,
  LeaseLost = -2,
  /** redriveActor: the actor's due score is not the one the sweeper saw (someone moved it first). */
  DueMoved = -3,
  /** redriveActor: the sweeper no longer holds the actor lease. */
  ActorLeaseLost = -4,
  /** putConfig / removeConfig: the item is not at the version the writer expected (optimistic concurrency). */
  VersionConflict = -5,
}

interface ScriptDef {
  name: string;
  file: string;
  /** Fixed key count, or undefined when the caller passes it (variable keys). */
  keys?: number;
}

const SCRIPTS: ScriptDef[] = [
  { name: 'commitTurns', file: 'commitTurns.lua' },
  { name: 'deadLetter', file: 'deadLetter-2.lua', keys: 2 },
  { name: 'replayDead', file: 'replayDead-2.lua', keys: 2 },
  { name: 'acquireLease', file: 'acquireLease-1.lua', keys: 1 },
  { name: 'releaseLease', file: 'releaseLease-1.lua', keys: 1 },
  { name: 'fireTimers', file: 'fireTimers-2.lua', keys: 2 },
  { name: 'applyActivity', file: 'applyActivity-5.lua', keys: 5 },
  { name: 'reserveBudget', file: 'reserveBudget-2.lua', keys: 2 },
  { name: 'releaseBudget', file: 'releaseBudget-2.lua', keys: 2 },
  { name: 'recordRelation', file: 'recordRelation-3.lua', keys: 3 },
  { name: 'redriveActor', file: 'redriveActor-7.lua', keys: 7 },
  { name: 'addSweepTasks', file: 'addSweepTasks-2.lua', keys: 2 },
  { name: 'beginIdempotent', file: 'beginIdempotent-1.lua', keys: 1 },
  { name: 'completeIdempotent', file: 'completeIdempotent-1.lua', keys: 1 },
  { name: 'abandonIdempotent', file: 'abandonIdempotent-1.lua', keys: 1 },
  { name: 'putConfig', file: 'putConfig-4.lua', keys: 4 },
  { name: 'removeConfig', file: 'removeConfig-3.lua', keys: 3 },
  { name: 'defineActivity', file: 'defineActivity-2.lua', keys: 2 },
];

const LUA_DIR = join(__dirname, '..', 'lua');
const bodies = new Map<string, { lua: string; sha: string }>();

function body(def: ScriptDef): { lua: string; sha: string } {
  let b = bodies.get(def.name);
  if (!b) {
    const lua = readFileSync(join(LUA_DIR, def.file), 'utf8');
    b = { lua, sha: createHash('sha1').update(lua).digest('hex') };
    bodies.set(def.name, b);
  }
  return b;
}

function versioned(def: ScriptDef): string {
  return `${def.name}_${body(def).sha.slice(0, 8)}`;
}

/**
 * Registers every script on a connection under a versioned name, `<name>_<sha8>` of its body. Scripts run by
 * EVALSHA of that body, so workers of two builds side by side never run each other's scripts.
 */
export function registerScripts(client: RedisClient): void {
  for (const def of SCRIPTS) {
    const { lua } = body(def);
    const numberOfKeys = def.keys;
    client.defineCommand(versioned(def), numberOfKeys === undefined ? { lua } : { lua, numberOfKeys });
  }
}

/** The versioned name each script is registered under (for ops and logs). */
export function scriptVersions(): Record<string, string> {
  return Object.fromEntries(SCRIPTS.map((d) => [d.name, versioned(d)]));
}

/** Typed views of the registered commands. */
export interface ScriptCommands {
  commitTurns(numKeys: number, ...args: Array<string | Buffer | number>): Promise<number[] | number>;
  deadLetter(...args: Array<string | Buffer | number>): Promise<number>;
  /** The replayed entry's new id, or 0 (no such dead letter), -1 (another source stream), -2 (no original fields). */
  replayDead(dead: string, source: string, id: string): Promise<string | number>;
  acquireLease(key: string, token: string, ttlMs: number): Promise<number>;
  releaseLease(key: string, token: string): Promise<number>;
  fireTimers(due: string, inbox: string, now: number, limit: number, rearmMs: number, version: number): Promise<number>;
  /** 5 keys then 17 arguments; see applyActivity-5.lua. */
  applyActivity(...args: Array<string | number>): Promise<[number, string?, number?]>;
  reserveBudget(bucket: string, record: string, limit: number, perDay: number, dayField: string, ttlS: number): Promise<number>;
  releaseBudget(bucket: string, record: string, ttlS: number): Promise<number>;
  recordRelation(def: string, idem: string, relation: string, record: string, rejection: string, ttlS: number, ver: string): Promise<[number, string?, number?]>;
  /** 7 keys then 11 arguments; see redriveActor-7.lua. */
  redriveActor(...args: Array<string | Buffer | number>): Promise<number>;
  /** 2 keys, token, MAXLEN, tick id, count, then (from, to) per task; see addSweepTasks-2.lua. */
  addSweepTasks(...args: Array<string | number>): Promise<number>;
  /** {1} claimed, {2, fingerprint} in progress, {3, fingerprint, result} done; see beginIdempotent-1.lua. */
  beginIdempotent(record: string, fingerprint: string, ttlMs: number): Promise<[number, string?, string?]>;
  completeIdempotent(record: string, fingerprint: string, result: string, ttlMs: number): Promise<number>;
  abandonIdempotent(record: string, fingerprint: string): Promise<number>;
  /** {version, global, updatedAt} stored, or {-5, current} VERSION_CONFLICT; see putConfig-4.lua. */
  putConfig(items: string, history: string, version: string, changes: string, kind: string, id: string, body: string, expect: string, historyKept: number, changesKept: number, by: string): Promise<[number, number, number?]>;
  /** {removedVersion, global}, {0, 0} no such item, or {-5, current} VERSION_CONFLICT; see removeConfig-3.lua. */
  removeConfig(items: string, version: string, changes: string, kind: string, id: string, expect: string, changesKept: number, by: string): Promise<[number, number]>;
  /** The activity's new version; see defineActivity-2.lua. */
  defineActivity(definition: string, history: string, status: string, json: string, at: number, kept: number): Promise<number>;
}

const views = new WeakMap<RedisClient, ScriptCommands>();

/** The scripts of a connection (registered by createRedis), called by their plain names. */
export function scripts(client: RedisClient): ScriptCommands {
  let view = views.get(client);
  if (!view) {
    const commands = client as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
    if (typeof commands[versioned(SCRIPTS[0])] !== 'function') {
      throw new Error('this Redis connection has no Propel scripts registered: make it with createRedis (common/redis/connection.ts) or call registerScripts on it first');
    }
    view = Object.fromEntries(SCRIPTS.map((d) => [d.name, commands[versioned(d)].bind(client)])) as unknown as ScriptCommands;
    views.set(client, view);
  }
  return view;
}
