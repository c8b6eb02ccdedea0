import { DynamicModule, Global, Module } from '@nestjs/common';
import { DEFAULTS } from '../constants';
import { ErrorCode, PropelError } from '../errors';
import type { RedisClient } from '../redis/client';
import { type IdempotencyConfigSource, RedisIdempotencyConfig } from './config-source';
import { type IdempotencyDefaults, IdempotencyService } from './idempotency.service';
import { MariaDbIdempotencyStore, type MariaDbStoreOptions } from './mariadb-store';
import { RedisIdempotencyStore } from './redis-store';

export interface IdempotencyModuleOptions {
  /** Connection for the Redis store and the default dynamic configuration (owned by the caller). */
  redis: RedisClient;
  /** Key namespace (default `propel`). */
  namespace?: string;
  /** Enables the MariaDB store; its table is created at start if missing. */
  mariadb?: MariaDbStoreOptions;
  defaults?: Partial<IdempotencyDefaults>;
  /** Dynamic configuration: a source of its own, or the Redis hash with this cache time (default 1000 ms). */
  config?: IdempotencyConfigSource | { cacheMs?: number };
}

/** Provides `IdempotencyService` to every module (global), which `@Idempotent` methods use. */
@Global()
@Module({})
export class IdempotencyModule {
  static forRoot(options: IdempotencyModuleOptions): DynamicModule {
    return {
      module: IdempotencyModule,
      providers: [{ provide: IdempotencyService, useFactory: () => createIdempotencyService(options) }],
      exports: [IdempotencyService],
    };
  }
}

/** Builds the service outside Nest too (scripts, tests): stores, the MariaDB migration, dynamic configuration. */
export async function createIdempotencyService(options: IdempotencyModuleOptions): Promise<IdempotencyService> {
  const namespace = options.namespace ?? DEFAULTS.namespace;
  const redisStore = new RedisIdempotencyStore(options.redis, namespace);
  let mariadb: MariaDbIdempotencyStore | undefined;
  if (options.mariadb) {
    mariadb = new MariaDbIdempotencyStore(options.mariadb);
    try {
      await mariadb.init();
    } catch (err) {
      await mariadb.close().catch(() => undefined);
      const where = `${options.mariadb.pool.host ?? 'localhost'}:${options.mariadb.pool.port ?? 3306}`;
      throw new PropelError(ErrorCode.InvalidConfig, `idempotency MariaDB store at ${where} is not usable (${err instanceof Error ? err.message : String(err)}); start MariaDB (scripts/ensure-mariadb.sh) or drop the mariadb option`, { cause: err });
    }
  }
  const config =
    options.config && 'overrides' in options.config ? options.config : new RedisIdempotencyConfig(options.redis, namespace, (options.config as { cacheMs?: number } | undefined)?.cacheMs ?? 1000);
  return new IdempotencyService({ redis: redisStore, ...(mariadb ? { mariadb } : {}) }, config, options.defaults);
}
