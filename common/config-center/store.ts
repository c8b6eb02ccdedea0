import { assertValidId } from '../ids';
import { Keys } from '../keys';
import type { RedisClient } from '../redis/client';
import { ScriptCode, scripts } from '../redis/scripts';
import { itemBody, KindTable, parseItem, validateValue } from './codec';
import { ConfigVersionConflictError } from './errors';
import type { ConfigItem, ConfigKindSpec, ConfigReader } from './types';

/** Defaults of the configuration center's store. */
export const CONFIG_STORE_DEFAULTS = {
  /** Past versions kept per item (the current one included). */
  historyKept: 50,
  /** Change-stream entries kept (MAXLEN ~): a cache that falls further behind reloads everything instead. */
  changesKept: 10_000,
  /** Largest item accepted, as JSON. */
  maxValueBytes: 1024 * 1024,
} as const;

export interface ConfigStoreOptions {
  historyKept?: number;
  changesKept?: number;
  maxValueBytes?: number;
}

/** Who writes, and (optionally) the version the writer read: the write is refused if the item moved on since. */
export interface ConfigWriteOptions {
  by?: string;
  /** The item's current version as the writer last read it; 0 means "must not be stored yet". */
  expectVersion?: number;
}

function writeOptions(by: string | ConfigWriteOptions | undefined): ConfigWriteOptions {
  return typeof by === 'string' ? { by } : (by ?? {});
}

function positiveInt(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) throw new Error(`ConfigStore ${name} must be a positive integer (got ${value})`);
  return value;
}

/**
 * Reads and writes the configuration center's items in Redis. Every write is validated by its kind's schema
 * first (nothing invalid is stored) and then committed by one script: the item at version previous + 1, its
 * history entry, the global version and a change-stream entry, atomically in the `{<ns>:cfg}` slot. Processes
 * read through a ConfigCache; this class is for writers (ops, the gateway's admin routes) and for reads that
 * must see Redis itself. `redis` must come from createRedis (the scripts are registered there).
 */
export class ConfigStore implements ConfigReader {
  private readonly keys: Keys;
  private readonly kinds: KindTable;
  private readonly historyKept: number;
  private readonly changesKept: number;
  private readonly maxValueBytes: number;

  constructor(
    private readonly redis: RedisClient,
    namespace: string,
    kinds: readonly ConfigKindSpec[],
    options: ConfigStoreOptions = {},
  ) {
    this.keys = new Keys(namespace);
    this.kinds = new KindTable(kinds);
    this.historyKept = positiveInt(options.historyKept ?? CONFIG_STORE_DEFAULTS.historyKept, 'historyKept');
    this.changesKept = positiveInt(options.changesKept ?? CONFIG_STORE_DEFAULTS.changesKept, 'changesKept');
    this.maxValueBytes = positiveInt(options.maxValueBytes ?? CONFIG_STORE_DEFAULTS.maxValueBytes, 'maxValueBytes');
  }

  /** The spec of a kind this store serves (UNKNOWN_CONFIG_KIND otherwise). */
  spec(kind: string): ConfigKindSpec {
    return this.kinds.spec(kind);
  }

  /** Names of the kinds this store serves. */
  kindNames(): string[] {
    return this.kinds.names();
  }

  /**
   * Validates `value` with the kind's schema and stores its output as the item's next version. Throws
   * InvalidConfigError (INVALID_CONFIG, every problem listed) or ConfigVersionConflictError (VERSION_CONFLICT,
   * with `expectVersion`); in both cases nothing is stored.
   */
  async put<T = unknown>(kind: string, id: string, value: unknown, by?: string | ConfigWriteOptions): Promise<ConfigItem<T>> {
    const spec = this.kinds.spec(kind);
    assertValidId(id, `${kind} id`);
    const opts = writeOptions(by);
    if (opts.by !== undefined) assertValidId(opts.by, 'writer (by)');
    const output = validateValue(spec, id, value) as T;
    const body = itemBody(kind, id, output, opts.by, this.maxValueBytes);
    const [code, global, updatedAt] = await scripts(this.redis).putConfig(
      this.keys.configItems(kind), this.keys.configHistory(kind, id), this.keys.configVersion(), this.keys.configChanges(),
      kind, id, body, expectArg(opts.expectVersion), this.historyKept, this.changesKept, opts.by ?? '',
    );
    if (code === ScriptCode.VersionConflict) throw new ConfigVersionConflictError(kind, id, opts.expectVersion!, Number(global));
    // The stored JSON is exactly this item; building it here saves a read.
    const item: ConfigItem<T> = { kind, id, version: Number(code), value: JSON.parse(JSON.stringify(output)) as T, updatedAt: Number(updatedAt) };
    if (opts.by !== undefined) item.by = opts.by;
    return item;
  }

  /**
   * Removes an item (its history stays; a later put continues its versions). Resolves true if it was stored,
   * false if there was nothing to remove; VERSION_CONFLICT when `expectVersion` is not the current version.
   */
  async remove(kind: string, id: string, by?: string | ConfigWriteOptions): Promise<boolean> {
    this.kinds.spec(kind);
    assertValidId(id, `${kind} id`);
    const opts = writeOptions(by);
    if (opts.by !== undefined) assertValidId(opts.by, 'writer (by)');
    const [code, second] = await scripts(this.redis).removeConfig(
      this.keys.configItems(kind), this.keys.configVersion(), this.keys.configChanges(),
      kind, id, expectArg(opts.expectVersion), this.changesKept, opts.by ?? '',
    );
    if (code === ScriptCode.VersionConflict) throw new ConfigVersionConflictError(kind, id, opts.expectVersion!, Number(second));
    return Number(code) > 0;
  }

  /** The current item, or null. The value is what was stored (not re-validated: ops may need to see it). */
  async get<T = unknown>(kind: string, id: string): Promise<ConfigItem<T> | null> {
    this.kinds.spec(kind);
    assertValidId(id, `${kind} id`);
    const json = await this.redis.hget(this.keys.configItems(kind), id);
    return json === null ? null : parseItem<T>(json);
  }

  /** A past version from the item's history (kept after removal), or null if never stored or aged out. */
  async at<T = unknown>(kind: string, id: string, version: number): Promise<ConfigItem<T> | null> {
    this.kinds.spec(kind);
    assertValidId(id, `${kind} id`);
    if (!Number.isInteger(version) || version < 1) return null;
    const [json] = await this.redis.zrangebyscore(this.keys.configHistory(kind, id), version, version);
    return json === undefined ? null : parseItem<T>(json);
  }

  /** The item's stored versions, newest first, at most `limit` (default: all kept). */
  async history<T = unknown>(kind: string, id: string, limit: number = this.historyKept): Promise<ConfigItem<T>[]> {
    this.kinds.spec(kind);
    assertValidId(id, `${kind} id`);
    if (!Number.isInteger(limit) || limit < 1) return [];
    const rows = await this.redis.zrevrange(this.keys.configHistory(kind, id), 0, limit - 1);
    return rows.map((json) => parseItem<T>(json));
  }

  /** Ids of the kind's current items, sorted. */
  async list(kind: string): Promise<string[]> {
    this.kinds.spec(kind);
    return (await this.redis.hkeys(this.keys.configItems(kind))).sort();
  }

  /** The global version: the number of writes (puts and removals) of any item of this namespace so far. */
  async globalVersion(): Promise<number> {
    return Number((await this.redis.get(this.keys.configVersion())) ?? 0);
  }
}

function expectArg(expectVersion: number | undefined): string {
  if (expectVersion === undefined) return '';
  if (!Number.isInteger(expectVersion) || expectVersion < 0) throw new Error(`expectVersion must be a whole number ≥ 0 (got ${expectVersion})`);
  return String(expectVersion);
}
