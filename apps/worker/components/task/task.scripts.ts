import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RedisClient } from '../../../../common';

/**
 * The task center's Lua scripts (./lua, shipped beside this file by the build's --copy-files), run by EVALSHA
 * of their body (EVAL loads a body the server does not have yet), so workers of two builds never run each
 * other's bodies. They are not defined on the connection as the runtime's are (common/redis/scripts.ts): a
 * command defined on a connection already in use is missing from the auto-pipeline in flight, and the task
 * components get a connection other code has been using.
 */
interface ScriptDef {
  name: keyof TaskScripts;
  file: string;
  keys: number;
}

const DEFS: ScriptDef[] = [
  { name: 'grantStep', file: 'grantStep-3.lua', keys: 3 },
  { name: 'reserveCoupon', file: 'reserveCoupon-2.lua', keys: 2 },
  { name: 'emitNotification', file: 'emitNotification-2.lua', keys: 2 },
  { name: 'pruneSubscriptions', file: 'pruneSubscriptions-1.lua', keys: 1 },
];

/** Typed views of the scripts; each file's header lists its keys, arguments and replies. */
export interface TaskScripts {
  /** {reference, replayed}. */
  grantStep(result: string, balances: string, ledger: string, field: string, amount: number, ref: string, entry: string, ttlS: number, ledgerMax: number): Promise<[string, number]>;
  /** {1, code, replayed} or {0} (out of stock). */
  reserveCoupon(issued: string, reservation: string, stock: number, code: string, ttlS: number): Promise<[number, string?, number?]>;
  /** {entryId, replayed}. */
  emitNotification(mark: string, stream: string, envelope: Buffer, ttlS: number): Promise<[string, number]>;
  /** Entries removed. */
  pruneSubscriptions(subs: string, ...fieldValuePairs: string[]): Promise<number>;
}

const LUA_DIR = join(__dirname, 'lua');
const bodies = DEFS.map((def) => {
  const lua = readFileSync(join(LUA_DIR, def.file), 'utf8');
  const sha = createHash('sha1').update(lua).digest('hex');
  return { ...def, lua, sha, versioned: `${def.name}_${sha.slice(0, 8)}` };
});
const views = new WeakMap<RedisClient, TaskScripts>();

function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOSCRIPT');
}

/** The task scripts of a connection, called by their plain names. */
export function taskScripts(client: RedisClient): TaskScripts {
  let view = views.get(client);
  if (!view) {
    const entries = bodies.map((b) => [
      b.name,
      (...args: Array<string | Buffer | number>) =>
        client.evalsha(b.sha, b.keys, ...args).catch((err: unknown) => {
          if (isNoScript(err)) return client.eval(b.lua, b.keys, ...args);
          throw err;
        }),
    ]);
    view = Object.fromEntries(entries) as unknown as TaskScripts;
    views.set(client, view);
  }
  return view;
}

/** The versioned name of each task script, `<name>_<sha8>` of its body (for ops and logs). */
export function taskScriptVersions(): Record<string, string> {
  return Object.fromEntries(bodies.map((b) => [b.name, b.versioned]));
}
