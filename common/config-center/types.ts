import type { z } from 'zod';

/**
 * The configuration center's contract: versioned items (task definitions, reward flows, ...) in Redis, each
 * validated by its kind's schema on write, with a history per item and a change stream every process
 * follows to refresh its in-memory cache within a second, without a restart.
 */

/** A kind of configuration: its name (part of keys), a line for help texts, and the schema every write passes. */
export interface ConfigKindSpec<T = unknown> {
  readonly kind: string;
  readonly description: string;
  readonly schema: z.ZodType<T, any, any>;
  /**
   * A field of the value that names the item (e.g. a task definition's `id`): filled in with the item's id when
   * the value leaves it out, and a write whose value names another id is refused (INVALID_CONFIG).
   */
  readonly idField?: string;
}

/** One stored version of an item. `version` starts at 1 and goes up by one on every write of the item. */
export interface ConfigItem<T = unknown> {
  kind: string;
  id: string;
  version: number;
  value: T;
  /** ms since the epoch of the write, and who wrote it (an operator or merchant id), when known. */
  updatedAt: number;
  by?: string;
}

/** What a change-stream listener hears: the item's new version, or its removal. */
export type ConfigChange<T = unknown> = { kind: string; id: string; item: ConfigItem<T> | null };

/** Reads and writes the stored items (every read goes to Redis). */
export interface ConfigReader {
  get<T = unknown>(kind: string, id: string): Promise<ConfigItem<T> | null>;
  /** A past version of an item (from its history), or null if it was never stored or has aged out. */
  at<T = unknown>(kind: string, id: string, version: number): Promise<ConfigItem<T> | null>;
  list(kind: string): Promise<string[]>;
}

/** A process's in-memory view of the configuration, kept fresh by the change stream. Reads are synchronous. */
export interface ConfigView {
  get<T = unknown>(kind: string, id: string): ConfigItem<T> | undefined;
  list<T = unknown>(kind: string): ConfigItem<T>[];
  /** Subscribes to changes applied to this view; returns the unsubscribe function. */
  onChange(listener: (change: ConfigChange) => void): () => void;
}
