/**
 * The configuration center: versioned items (task definitions, reward flows, activity rules) in Redis, each
 * validated by its kind's schema on write, with a bounded history per item and a change stream every process
 * follows to keep its in-memory view fresh within a second (docs/configuration-center.md).
 */
export { ConfigCache, CONFIG_CACHE_DEFAULTS } from './cache';
export type { ConfigCacheLogger, ConfigCacheOptions, ConfigCacheStatus } from './cache';
export { ConfigStore, CONFIG_STORE_DEFAULTS } from './store';
export type { ConfigStoreOptions, ConfigWriteOptions } from './store';
export { configCenterKind } from './ops-kind';
export { CONFIG_CENTER_ERRORS, ConfigVersionConflictError, InvalidConfigError, UnknownConfigKindError } from './errors';
export type { ConfigProblem } from './errors';
export { parseChangeEntry, problemsOf, validateValue } from './codec';
export type { ChangeEntry } from './codec';
export type { ConfigChange, ConfigItem, ConfigKindSpec, ConfigReader, ConfigView } from './types';
