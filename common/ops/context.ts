import type { ActorDefinition } from '../actor/define-actor';
import { PropelError } from '../errors';
import type { Keys } from '../keys';
import type { RedisClient } from '../redis/connection';
import type { RedisStreamsClient } from '../transport/streams.client';

/**
 * What every ops function works on: a command connection (from `createRedis`, so the scripts are registered),
 * the deployment's keys and partition count, and, for the functions that message actors (retry, terminate), a
 * `RedisStreamsClient` of the same namespace. Nothing here prints: the CLI and the dashboard format the results.
 */
export interface OpsContext {
  redis: RedisClient;
  keys: Keys;
  partitions: number;
  client?: RedisStreamsClient;
  /** The actor definitions the deployment hosts: `auditOf` asks an actor's definition to explain its state. */
  definitions?: ReadonlyArray<ActorDefinition<any, any>>;
  /** The clock (ms); tests pass a fixed one. */
  now?: () => number;
}

/** Called as a long operation advances: `done` of `total` units (partitions, entries, actors). */
export type Progress = (done: number, total: number) => void;

/** Codes of the ops errors; the CLI maps them to exit codes, the dashboard to HTTP statuses. */
export const OPS_ERRORS = {
  notFound: 'NOT_FOUND',
  invalidInput: 'INVALID_INPUT',
  unknownKind: 'UNKNOWN_CONFIG_KIND',
  noClient: 'NO_CLIENT',
  refused: 'REFUSED',
} as const;

/** An ops request that cannot be carried out as asked; `code` is one of OPS_ERRORS (or a component's own code). */
export class OpsError extends PropelError {}

export function nowOf(ctx: OpsContext): number {
  return ctx.now ? ctx.now() : Date.now();
}

export function clientOf(ctx: OpsContext): RedisStreamsClient {
  if (!ctx.client) throw new OpsError(OPS_ERRORS.noClient, 'this operation sends a message to an actor: give the ops context a RedisStreamsClient');
  return ctx.client;
}

/** Runs `work` over `items` with at most `concurrency` at once, reporting progress; results keep the input order. */
export async function mapLimited<T, R>(items: readonly T[], concurrency: number, work: (item: T, index: number) => Promise<R>, onProgress?: Progress): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let done = 0;
  onProgress?.(0, items.length);
  const lane = async () => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      results[i] = await work(items[i], i);
      onProgress?.(++done, items.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, lane));
  return results;
}
