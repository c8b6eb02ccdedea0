import { z } from 'zod';
import type { RedisClient } from '../redis/client';
import { Keys } from '../keys';
import { DUPLICATE_STRATEGIES, type IdempotencyPolicy, STORE_NAMES } from './types';

/** The field of the configuration hash that applies to every operation without a field of its own. */
export const GLOBAL_OPERATION = '*';

const overrideSchema = z
  .object({
    store: z.enum(STORE_NAMES as [string, ...string[]]).optional(),
    onDuplicate: z.enum(DUPLICATE_STRATEGIES as [string, ...string[]]).optional(),
  })
  .strict();

export type PolicyOverride = Partial<IdempotencyPolicy>;

/**
 * Dynamic configuration of idempotent operations: a partial policy per operation name and a global default,
 * read at call time so an operator can switch store or strategy without a restart.
 */
export interface IdempotencyConfigSource {
  /** The global override, then the operation's own (the operation's wins field by field). */
  overrides(operation: string): Promise<{ global: PolicyOverride; operation: PolicyOverride }>;
}

/** A fixed configuration (tests, or a process without dynamic configuration). */
export class StaticIdempotencyConfig implements IdempotencyConfigSource {
  constructor(private readonly table: Record<string, PolicyOverride> = {}) {}
  async overrides(operation: string): Promise<{ global: PolicyOverride; operation: PolicyOverride }> {
    return { global: this.table[GLOBAL_OPERATION] ?? {}, operation: this.table[operation] ?? {} };
  }
}

/**
 * Dynamic configuration in a Redis hash (`{<ns>:idem}:config`): field = operation name or `*`, value = JSON
 * `{ "store"?: "redis"|"mariadb", "onDuplicate"?: "first-result"|"code"|"throw" }`. The whole hash is cached
 * for `cacheMs`, so a change reaches every process within that time. A malformed field is ignored (and
 * reported through `onInvalid`) rather than breaking the operations it names.
 */
export class RedisIdempotencyConfig implements IdempotencyConfigSource {
  private readonly key: string;
  private cache?: { at: number; table: Record<string, PolicyOverride> };
  private loading?: Promise<Record<string, PolicyOverride>>;

  constructor(
    private readonly redis: RedisClient,
    namespace: string,
    private readonly cacheMs = 1000,
    private readonly onInvalid: (field: string, reason: string) => void = () => undefined,
  ) {
    this.key = new Keys(namespace).idempotencyConfig();
  }

  async overrides(operation: string): Promise<{ global: PolicyOverride; operation: PolicyOverride }> {
    const table = await this.table();
    return { global: table[GLOBAL_OPERATION] ?? {}, operation: table[operation] ?? {} };
  }

  /** Writes an operation's override (or the global one with `*`); `null` removes it. */
  async set(operation: string, override: PolicyOverride | null): Promise<void> {
    if (override === null) await this.redis.hdel(this.key, operation);
    else await this.redis.hset(this.key, operation, JSON.stringify(overrideSchema.parse(override)));
    this.cache = undefined;
  }

  private async table(): Promise<Record<string, PolicyOverride>> {
    if (this.cache && Date.now() - this.cache.at < this.cacheMs) return this.cache.table;
    // One read in flight at a time, however many calls arrive while it runs.
    this.loading ??= this.load().finally(() => (this.loading = undefined));
    return this.loading;
  }

  private async load(): Promise<Record<string, PolicyOverride>> {
    const raw = await this.redis.hgetall(this.key);
    const table: Record<string, PolicyOverride> = {};
    for (const [field, text] of Object.entries(raw)) {
      try {
        table[field] = overrideSchema.parse(JSON.parse(text)) as PolicyOverride;
      } catch (err) {
        this.onInvalid(field, err instanceof Error ? err.message : String(err));
      }
    }
    this.cache = { at: Date.now(), table };
    return table;
  }
}
