import { Logger } from '@nestjs/common';
import { ErrorCode, PropelError } from '../errors';
import { Keys } from '../keys';
import { closeQuietly, duplicateForBlocking, RedisClient } from '../redis/connection';
import { ChangeEntry, KindTable, parseChangeEntry, parseItem, problemsOf } from './codec';
import type { ConfigChange, ConfigItem, ConfigKindSpec, ConfigView } from './types';
import { settledWithin } from '../shutdown';

/** Defaults of the configuration cache. */
export const CONFIG_CACHE_DEFAULTS = {
  /** How long one XREAD of the change stream blocks; also how late a stop or a due version check can be. */
  blockMs: 500,
  /** How often the stored global version is compared with the cache's own, whatever the stream says. */
  checkIntervalMs: 5_000,
  /** Change entries read per XREAD. */
  batchSize: 500,
} as const;

/** Where the cache reports what it skips or survives (a Nest Logger fits). */
export interface ConfigCacheLogger {
  warn(message: string): void;
  log?(message: string): void;
}

export interface ConfigCacheOptions {
  blockMs?: number;
  checkIntervalMs?: number;
  batchSize?: number;
  logger?: ConfigCacheLogger;
}

/** What the cache knows about its own freshness (for /health, metrics and tests). */
export interface ConfigCacheStatus {
  /** The global version the view reflects. */
  version: number;
  /** The last change-stream entry applied (or the stream's last entry at the latest full load). */
  lastId: string;
  /** Full loads so far, the first one included. */
  loads: number;
  /** Change entries applied from the stream so far. */
  applied: number;
  /** Failed reads so far (each one is followed by a version check). */
  errors: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/**
 * A process's in-memory view of the configuration center, fresh within about a second without a restart.
 * `start()` loads every item of its kinds in one transaction together with the global version and the change
 * stream's last id; one loop then follows the change stream (XREAD BLOCK on a connection of its own) and
 * re-reads each changed item. The loop also re-checks the stored global version after every read error and
 * reconnect and every `checkIntervalMs`: a change it did not see (made while it was disconnected, or trimmed
 * out of the stream) shows as a version difference or a gap in the entries' global versions, and the view is
 * then reloaded whole. Everything that changes the view runs in that one loop, so a reload and a change can
 * never overwrite each other. A stored value the kind's schema refuses now is skipped with a warning (the
 * last good one stays); `get` and `list` answer from memory.
 */
export class ConfigCache implements ConfigView {
  private readonly keys: Keys;
  private readonly kinds: KindTable;
  private readonly blockMs: number;
  private readonly checkIntervalMs: number;
  private readonly batchSize: number;
  private readonly logger: ConfigCacheLogger;
  private readonly items = new Map<string, Map<string, ConfigItem>>();
  private readonly listeners = new Set<(change: ConfigChange) => void>();
  /** `kind/id@version` of stored values already reported as invalid, so a reload does not repeat the warning. */
  private readonly warned = new Set<string>();
  private readonly stats: ConfigCacheStatus = { version: 0, lastId: '0-0', loads: 0, applied: 0, errors: 0 };
  private conn?: RedisClient;
  private running = false;
  private started = false;
  private checkDue = false;
  private timer?: NodeJS.Timeout;
  private loop?: Promise<void>;
  private readonly readyPromise: Promise<void>;
  private settleReady!: { resolve: () => void; reject: (err: Error) => void };

  constructor(
    private readonly redis: RedisClient,
    namespace: string,
    kinds: readonly ConfigKindSpec[],
    options: ConfigCacheOptions = {},
  ) {
    this.keys = new Keys(namespace);
    this.kinds = new KindTable(kinds);
    for (const kind of this.kinds.names()) this.items.set(kind, new Map());
    this.blockMs = options.blockMs ?? CONFIG_CACHE_DEFAULTS.blockMs;
    this.checkIntervalMs = options.checkIntervalMs ?? CONFIG_CACHE_DEFAULTS.checkIntervalMs;
    this.batchSize = options.batchSize ?? CONFIG_CACHE_DEFAULTS.batchSize;
    this.logger = options.logger ?? new Logger('ConfigCache');
    this.readyPromise = new Promise<void>((resolve, reject) => (this.settleReady = { resolve, reject }));
    this.readyPromise.catch(() => undefined); // stop() before the first load rejects it; nobody has to listen
  }

  /** Resolves once the first full load is in memory. */
  get ready(): Promise<void> {
    return this.readyPromise;
  }

  /** The global version the view reflects. */
  get version(): number {
    return this.stats.version;
  }

  status(): ConfigCacheStatus {
    return { ...this.stats };
  }

  /** Loads every item of the cache's kinds, then follows the change stream; resolves when the view is ready. */
  start(): Promise<void> {
    if (this.started) return this.readyPromise;
    this.started = true;
    this.running = true;
    const conn = duplicateForBlocking(this.redis);
    this.conn = conn;
    // After a reconnect the loop compares versions before it trusts the stream again.
    conn.on('ready', () => (this.checkDue = true));
    conn.on('error', () => undefined); // reported by the loop's failed reads; ioredis reconnects by itself
    this.loop = this.run(conn);
    return this.readyPromise;
  }

  /** Stops following: unblocks the read under way by closing its connection, and waits for the loop to end. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await closeQuietly(this.conn);
    // A reload in flight on the shared connection can wait forever while Redis is gone (ioredis queues it
    // offline): the loop checks `running` before it does anything else, so it is not waited for past a second.
    await settledWithin(this.loop, 1_000);
    this.settleReady.reject(new PropelError(ErrorCode.ShuttingDown, 'the configuration cache stopped before its first load'));
  }

  get<T = unknown>(kind: string, id: string): ConfigItem<T> | undefined {
    this.kinds.spec(kind);
    return this.items.get(kind)!.get(id) as ConfigItem<T> | undefined;
  }

  /** The kind's items, sorted by id. */
  list<T = unknown>(kind: string): ConfigItem<T>[] {
    this.kinds.spec(kind);
    return ([...this.items.get(kind)!.values()] as ConfigItem<T>[]).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Changes applied after the first load (from the stream, or found by a reload); returns the unsubscribe. */
  onChange(listener: (change: ConfigChange) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  private async run(conn: RedisClient): Promise<void> {
    let backoffMs = 100;
    while (this.running) {
      try {
        if (this.stats.loads === 0) {
          await this.reload(conn, false);
          if (!this.running) break;
          this.timer = setInterval(() => (this.checkDue = true), this.checkIntervalMs);
          this.timer.unref();
          this.settleReady.resolve();
        }
        if (this.checkDue) {
          this.checkDue = false;
          await this.check(conn);
        }
        const reply = (await conn.xread('COUNT', this.batchSize, 'BLOCK', this.blockMs, 'STREAMS', this.keys.configChanges(), this.stats.lastId)) as StreamReply;
        if (!this.running) break;
        if (reply) await this.apply(conn, entriesOf(reply));
        backoffMs = 100;
      } catch (err) {
        if (!this.running) break;
        this.stats.errors++;
        this.checkDue = true;
        this.logger.warn(`configuration change stream read failed (checking versions when it is back): ${(err as Error).message}`);
        await sleep(backoffMs);
        backoffMs = Math.min(backoffMs * 2, 2_000);
      }
    }
  }

  /**
   * Compares the stored global version with the view's: catches up from the stream when behind, and reloads
   * everything when the stream cannot account for the difference (trimmed entries, a stream or server replaced).
   */
  private async check(conn: RedisClient): Promise<void> {
    const stored = Number((await conn.get(this.keys.configVersion())) ?? 0);
    if (stored === this.stats.version) return;
    if (stored < this.stats.version) return this.reload(conn, true, `the stored global version ${stored} is below this view's ${this.stats.version}`);
    // Every write adds its entry in the script that bumps the version: entries up to `stored` are in the stream now, unless trimmed.
    while (this.stats.version < stored) {
      const reply = (await conn.xread('COUNT', this.batchSize, 'STREAMS', this.keys.configChanges(), this.stats.lastId)) as StreamReply;
      const entries = reply ? entriesOf(reply) : [];
      if (entries.length === 0) return this.reload(conn, true, `the change stream ends before global version ${stored} (this view is at ${this.stats.version})`);
      await this.apply(conn, entries);
    }
  }

  /** Applies change entries in order; an entry that does not follow the view's global version means some were missed. */
  private async apply(conn: RedisClient, raw: Array<[string, string[] | null]>): Promise<void> {
    const entries: ChangeEntry[] = [];
    for (const [streamId, fields] of raw) {
      const entry = parseChangeEntry(streamId, fields);
      if (!entry) {
        this.logger.warn(`skipping change-stream entry ${streamId}: not a configuration change`);
        continue;
      }
      if (entry.global !== this.stats.version + entries.length + 1) {
        // Apply what came before the gap, then reload: the reload's snapshot covers everything after it.
        await this.applyInOrder(conn, entries);
        return this.reload(conn, true, `change entry ${streamId} has global version ${entry.global}, after ${this.stats.version}`);
      }
      entries.push(entry);
    }
    await this.applyInOrder(conn, entries);
    // Past any stray entry too, or the next read would return it again.
    if (raw.length > 0) this.stats.lastId = raw[raw.length - 1][0];
  }

  /** Re-reads the items the entries name (one round trip) and applies what is stored now. */
  private async applyInOrder(conn: RedisClient, entries: ChangeEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const followed = new Map<string, { kind: string; id: string }>();
    for (const e of entries) if (this.kinds.has(e.kind)) followed.set(`${e.kind}\u0000${e.id}`, { kind: e.kind, id: e.id });
    const targets = [...followed.values()];
    if (targets.length > 0) {
      const pipeline = conn.pipeline();
      for (const t of targets) pipeline.hget(this.keys.configItems(t.kind), t.id);
      const replies = (await pipeline.exec()) ?? [];
      targets.forEach((t, i) => {
        const [err, json] = replies[i] ?? [new Error('no reply')];
        if (err) throw err;
        this.place(t.kind, t.id, json === null ? null : this.validItem(t.kind, json as string), true);
      });
    }
    const last = entries[entries.length - 1];
    this.stats.version = last.global;
    this.stats.lastId = last.streamId;
    this.stats.applied += entries.length;
  }

  /**
   * Reads the whole view in one transaction (global version, the stream's last id and every item of every kind),
   * so the view and the point it follows the stream from agree; listeners hear what differs from before.
   */
  private async reload(conn: RedisClient, notify: boolean, why?: string): Promise<void> {
    if (why) this.logger.warn(`reloading the configuration view: ${why}`);
    const kinds = this.kinds.names();
    const multi = conn.multi().get(this.keys.configVersion()).xrevrange(this.keys.configChanges(), '+', '-', 'COUNT', 1);
    for (const kind of kinds) multi.hgetall(this.keys.configItems(kind));
    const replies = await multi.exec();
    if (!replies) throw new Error('the configuration snapshot transaction was discarded');
    for (const [err] of replies) if (err) throw err;
    const global = Number(replies[0][1] ?? 0);
    const newest = replies[1][1] as Array<[string, string[]]>;
    kinds.forEach((kind, i) => {
      const stored = (replies[i + 2][1] ?? {}) as Record<string, string>;
      const before = this.items.get(kind)!;
      for (const id of [...before.keys()]) if (!(id in stored)) this.place(kind, id, null, notify);
      for (const [id, json] of Object.entries(stored)) this.place(kind, id, this.validItem(kind, json), notify);
    });
    this.stats.version = global;
    this.stats.lastId = newest[0]?.[0] ?? '0-0';
    this.stats.loads++;
  }

  /**
   * The stored item with its value as the kind's schema reads it now, or undefined (with one warning) when the
   * schema refuses it or it is not an item.
   */
  private validItem(kind: string, json: string): ConfigItem | undefined {
    let item: ConfigItem;
    try {
      item = parseItem(json);
    } catch (err) {
      this.warnOnce(`${kind}:${json.slice(0, 80)}`, `skipping a stored ${kind} item that is not JSON: ${(err as Error).message}`);
      return undefined;
    }
    const parsed = this.kinds.spec(kind).schema.safeParse(item.value);
    if (!parsed.success) {
      const problems = problemsOf(parsed.error).map((p) => `${p.path}: ${p.message}`).join('; ');
      this.warnOnce(`${kind}/${item.id}@${item.version}`, `skipping ${kind} ${JSON.stringify(item.id)} version ${item.version}: its stored value fails the schema now (${problems}); the last good version, if any, stays in use`);
      return undefined;
    }
    return { ...item, value: parsed.data };
  }

  /**
   * Puts what is stored now into the view: `null` removes; `undefined` (an invalid stored value) leaves the view
   * as it is. Listeners hear real changes only (not a re-read of the version they already have).
   */
  private place(kind: string, id: string, item: ConfigItem | null | undefined, notify: boolean): void {
    if (item === undefined) return;
    const map = this.items.get(kind)!;
    const had = map.get(id);
    if (item === null) {
      if (!had) return;
      map.delete(id);
    } else {
      if (had && had.version === item.version && had.updatedAt === item.updatedAt) return;
      map.set(id, item);
    }
    if (!notify) return;
    const change: ConfigChange = { kind, id, item };
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch (err) {
        this.logger.warn(`a configuration change listener failed on ${kind} ${JSON.stringify(id)}: ${(err as Error).message}`);
      }
    }
  }

  private warnOnce(key: string, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.logger.warn(message);
  }
}

type StreamReply = Array<[string, Array<[string, string[] | null]>]> | null;

function entriesOf(reply: NonNullable<StreamReply>): Array<[string, string[] | null]> {
  return reply.flatMap(([, entries]) => entries);
}
