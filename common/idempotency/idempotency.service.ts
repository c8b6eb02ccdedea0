import { Injectable, OnModuleDestroy } from '@nestjs/common';
import { assertValidId } from '../ids';
import { type IdempotencyConfigSource, StaticIdempotencyConfig } from './config-source';
import { DuplicateRequestError, IdempotencyCode, IdempotencyInProgressError, IdempotencyKeyReusedError, IdempotencyStoreUnavailableError } from './errors';
import { fingerprint } from './fingerprint';
import type { DuplicateStrategy, IdempotencyMarker, IdempotencyPolicy, IdempotencyStore, IdempotencyStoreName } from './types';

/** How one operation is made idempotent: what `@Idempotent` takes. */
export interface IdempotentOptions<A extends unknown[] = any[]> {
  /** The key expression over the call's arguments (the business's unique request id); namespaced by operation. */
  key: (...args: A) => string;
  /** How long the key is remembered (and how long an unfinished claim blocks duplicates), ms. */
  ttlMs: number;
  /** Preferred store; dynamic configuration overrides it. Default: the module's. */
  store?: IdempotencyStoreName;
  /** Preferred duplicate strategy; dynamic configuration overrides it. Default: the module's. */
  onDuplicate?: DuplicateStrategy;
  /** The part of the arguments that must match for a duplicate (default: all of them). */
  payload?: (...args: A) => unknown;
  /** Operation name for keys and dynamic configuration. Default: `<Class>.<method>`. */
  name?: string;
}

export interface IdempotencyDefaults extends IdempotencyPolicy {
  /** A `first-result` duplicate waits at most this long for a running first call, ms. */
  waitMs: number;
  /** …checking this often, ms. */
  pollMs: number;
}

export const IDEMPOTENCY_DEFAULTS: IdempotencyDefaults = { store: 'redis', onDuplicate: 'first-result', waitMs: 3000, pollMs: 20 };

/**
 * Runs operations at most once per idempotency key. The policy (store, duplicate strategy) is resolved per
 * call: module defaults ← decorator options ← dynamic global override ← dynamic operation override, so an
 * operator's switch reaches running providers without a restart.
 */
@Injectable()
export class IdempotencyService implements OnModuleDestroy {
  private readonly defaults: IdempotencyDefaults;

  constructor(
    private readonly stores: Partial<Record<IdempotencyStoreName, IdempotencyStore & { close?: () => Promise<void> }>>,
    private readonly config: IdempotencyConfigSource = new StaticIdempotencyConfig(),
    defaults: Partial<IdempotencyDefaults> = {},
  ) {
    this.defaults = { ...IDEMPOTENCY_DEFAULTS, ...defaults };
  }

  /** The policy a call of `operation` uses now. */
  async policy(operation: string, preferred: Partial<IdempotencyPolicy> = {}): Promise<IdempotencyPolicy> {
    const { global, operation: own } = await this.config.overrides(operation);
    return {
      store: own.store ?? global.store ?? preferred.store ?? this.defaults.store,
      onDuplicate: own.onDuplicate ?? global.onDuplicate ?? preferred.onDuplicate ?? this.defaults.onDuplicate,
    };
  }

  /**
   * Runs `body` if this call claims the key; otherwise answers the duplicate by the policy's strategy. A payload
   * that differs from the first call's is never answered with its result: IDEMPOTENCY_KEY_REUSED, thrown or,
   * under `code`, as a marker. A failed body abandons the claim so a retry runs again.
   */
  async run<A extends unknown[], T>(operation: string, options: IdempotentOptions<A>, args: A, body: () => Promise<T> | T): Promise<T | IdempotencyMarker> {
    const { store: storeName, onDuplicate } = await this.policy(operation, options);
    const store = this.stores[storeName];
    if (!store) throw new IdempotencyStoreUnavailableError(storeName);
    const key = assertValidId(`${operation}:${options.key(...args)}`, 'idempotency key');
    const fp = fingerprint(options.payload ? options.payload(...args) : args);
    const deadline = Date.now() + this.defaults.waitMs;

    for (;;) {
      const outcome = await store.begin(key, fp, options.ttlMs);
      if (outcome === 'started') return this.runClaimed(store, key, fp, options.ttlMs, body);
      if (outcome.fingerprint !== fp) {
        if (onDuplicate === 'code') return { idempotent: 'KEY_REUSED', code: IdempotencyCode.KeyReused, key, state: outcome.state };
        throw new IdempotencyKeyReusedError(key);
      }
      if (onDuplicate === 'code') return { idempotent: 'DUPLICATE', code: IdempotencyCode.Duplicate, key, state: outcome.state };
      if (onDuplicate === 'throw') throw new DuplicateRequestError(key, outcome.state);
      if (outcome.state === 'done') return outcome.result as T;
      // first-result while the first call runs: wait a bounded time for its result (or for it to be abandoned,
      // when the next begin claims the key and this call runs the operation itself).
      if (Date.now() >= deadline) throw new IdempotencyInProgressError(key, this.defaults.pollMs * 10);
      await sleep(this.defaults.pollMs);
    }
  }

  private async runClaimed<T>(store: IdempotencyStore, key: string, fp: string, ttlMs: number, body: () => Promise<T> | T): Promise<T> {
    let result: T;
    try {
      result = await body();
    } catch (err) {
      // Best effort: if the abandon fails too, the claim still expires after its TTL.
      await store.abandon(key, fp).catch(() => undefined);
      throw err;
    }
    await store.complete(key, fp, result, ttlMs);
    return result;
  }

  async onModuleDestroy(): Promise<void> {
    for (const store of Object.values(this.stores)) await store?.close?.();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
