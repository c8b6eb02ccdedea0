import 'reflect-metadata';
import { Injectable, Module, type DynamicModule, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { createConnection } from 'mysql2/promise';
import { Redis } from 'ioredis';
import {
  DuplicateRequestError,
  Idempotent,
  IdempotencyKeyReusedError,
  IdempotencyModule,
  RedisIdempotencyConfig,
  type DuplicateStrategy,
  type IdempotencyMarker,
  type IdempotencyStoreName,
} from '../../common/idempotency';
import { Keys } from '../../common/keys';
import { assertMariaDbReachable, dropTables, testMariaDbUri, uniqueTableName } from '../harness/mariadb';
import { uniqueNamespace, useTestRedis } from '../harness/redis';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Claim {
  claimId: string;
  amount: number;
}

/** The task center's claim, made idempotent per (user, task); the body counts its runs so duplicates show. */
@Injectable()
class TaskClaims {
  runs = 0;
  failNext = false;

  @Idempotent({ key: (userId: string, taskId: string) => `${userId}:${taskId}`, ttlMs: 5000, name: 'task.claim' })
  async claim(userId: string, taskId: string, payload: { amount: number }): Promise<Claim | IdempotencyMarker> {
    this.runs++;
    await sleep(40); // long enough that a second call arrives while the first still runs
    if (this.failNext) {
      this.failNext = false;
      throw new Error('reward service down');
    }
    return { claimId: `${userId}/${taskId}#${this.runs}`, amount: payload.amount };
  }

  @Idempotent({ key: (userId: string) => userId, ttlMs: 300, name: 'task.shortlived' })
  async shortLived(userId: string): Promise<number> {
    return ++this.runs;
  }
}

function appModule(redis: Redis, namespace: string, table: string): DynamicModule {
  @Module({ providers: [TaskClaims] })
  class ClaimsModule {}
  return {
    module: class AppModule {},
    imports: [IdempotencyModule.forRoot({ redis, namespace, mariadb: { pool: { uri: testMariaDbUri() }, table }, config: { cacheMs: 50 } }), ClaimsModule],
  };
}

describe('idempotency component (real Redis, real MariaDB)', () => {
  // Nested, so the application context closes before the Redis of useTestRedis stops (afterAll hooks run in registration order).
  const ctx = useTestRedis();
  describe('one Nest application context on both stores', () => idempotency(ctx));
});

function idempotency(ctx: ReturnType<typeof useTestRedis>): void {
  const namespace = uniqueNamespace('idem');
  const table = uniqueTableName('idem');
  let app: INestApplicationContext;
  let claims: TaskClaims;
  let operator: RedisIdempotencyConfig;
  let appRedis: Redis;
  let seq = 0;
  const user = () => `user-${++seq}`;

  beforeAll(async () => {
    await assertMariaDbReachable();
    appRedis = new Redis(ctx.url);
    app = await NestFactory.createApplicationContext(appModule(appRedis, namespace, table), { logger: false });
    claims = app.get(TaskClaims);
    // The operator's view of the dynamic configuration: another client, as from the ops CLI.
    operator = new RedisIdempotencyConfig(ctx.redis, namespace, 0);
  });

  afterAll(async () => {
    await app?.close();
    appRedis?.disconnect();
    await dropTables([table]);
  });

  /** Switches the claim operation and waits out the application's configuration cache. */
  async function configure(store: IdempotencyStoreName, onDuplicate: DuplicateStrategy, operation = 'task.claim') {
    await operator.set(operation, { store, onDuplicate });
    await sleep(80);
  }

  async function mariaRow(key: string): Promise<{ state: string } | undefined> {
    const conn = await createConnection({ uri: testMariaDbUri() });
    try {
      const [rows] = await conn.query(`SELECT state FROM \`${table}\` WHERE k = ?`, [key]);
      return (rows as Array<{ state: string }>)[0];
    } finally {
      await conn.end();
    }
  }

  const keys = () => new Keys(namespace);

  describe.each<IdempotencyStoreName>(['redis', 'mariadb'])('store %s', (store) => {
    it('scenario 16, first-result: the same claim twice within milliseconds → one claim; both get the first result; another payload → IDEMPOTENCY_KEY_REUSED', async () => {
      await configure(store, 'first-result');
      const u = user();
      const before = claims.runs;
      const [a, b] = await Promise.all([claims.claim(u, 'task-1', { amount: 10 }), claims.claim(u, 'task-1', { amount: 10 })]);
      expect(claims.runs - before).toBe(1);
      expect(a).toEqual(b);
      expect(a).toMatchObject({ amount: 10 });
      expect(await claims.claim(u, 'task-1', { amount: 10 })).toEqual(a);
      await expect(claims.claim(u, 'task-1', { amount: 99 })).rejects.toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
      await expect(claims.claim(u, 'task-1', { amount: 99 })).rejects.toBeInstanceOf(IdempotencyKeyReusedError);
      expect(claims.runs - before).toBe(1);
    });

    it('scenario 16, code: a concurrent duplicate gets a DUPLICATE marker (in-progress), a later one (done); another payload a KEY_REUSED marker', async () => {
      await configure(store, 'code');
      const u = user();
      const before = claims.runs;
      const results = await Promise.all([claims.claim(u, 'task-1', { amount: 10 }), claims.claim(u, 'task-1', { amount: 10 })]);
      expect(claims.runs - before).toBe(1);
      const markers = results.filter((r): r is IdempotencyMarker => 'idempotent' in r);
      expect(markers).toEqual([{ idempotent: 'DUPLICATE', code: 'IDEMPOTENCY_DUPLICATE', key: `task.claim:${u}:task-1`, state: 'in-progress' }]);
      expect(await claims.claim(u, 'task-1', { amount: 10 })).toEqual({ idempotent: 'DUPLICATE', code: 'IDEMPOTENCY_DUPLICATE', key: `task.claim:${u}:task-1`, state: 'done' });
      expect(await claims.claim(u, 'task-1', { amount: 11 })).toEqual({ idempotent: 'KEY_REUSED', code: 'IDEMPOTENCY_KEY_REUSED', key: `task.claim:${u}:task-1`, state: 'done' });
      expect(claims.runs - before).toBe(1);
    });

    it('scenario 16, throw: a duplicate throws DUPLICATE (in progress or done); another payload IDEMPOTENCY_KEY_REUSED', async () => {
      await configure(store, 'throw');
      const u = user();
      const before = claims.runs;
      const settled = await Promise.allSettled([claims.claim(u, 'task-1', { amount: 10 }), claims.claim(u, 'task-1', { amount: 10 })]);
      expect(claims.runs - before).toBe(1);
      expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(1);
      const rejected = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      expect(rejected?.reason).toBeInstanceOf(DuplicateRequestError);
      expect(rejected?.reason).toMatchObject({ code: 'IDEMPOTENCY_DUPLICATE', state: 'in-progress' });
      await expect(claims.claim(u, 'task-1', { amount: 10 })).rejects.toMatchObject({ code: 'IDEMPOTENCY_DUPLICATE', state: 'done' });
      await expect(claims.claim(u, 'task-1', { amount: 12 })).rejects.toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
      expect(claims.runs - before).toBe(1);
    });

    it('a burst of 20 identical claims at once runs the body exactly once', async () => {
      await configure(store, 'first-result');
      const u = user();
      const before = claims.runs;
      const results = await Promise.all(Array.from({ length: 20 }, () => claims.claim(u, 'task-burst', { amount: 5 })));
      expect(claims.runs - before).toBe(1);
      expect(new Set(results.map((r) => JSON.stringify(r))).size).toBe(1);
    });

    it('a failed first call is abandoned, so a retry with the same key runs and its result sticks', async () => {
      await configure(store, 'throw');
      const u = user();
      claims.failNext = true;
      await expect(claims.claim(u, 'task-1', { amount: 10 })).rejects.toThrow('reward service down');
      const retried = await claims.claim(u, 'task-1', { amount: 10 });
      expect(retried).toMatchObject({ amount: 10 });
      await expect(claims.claim(u, 'task-1', { amount: 10 })).rejects.toBeInstanceOf(DuplicateRequestError);
    });

    it('after the TTL the key is forgotten and the operation runs again', async () => {
      await configure(store, 'first-result', 'task.shortlived');
      const u = user();
      const first = await claims.shortLived(u);
      expect(await claims.shortLived(u)).toBe(first);
      await sleep(400);
      expect(await claims.shortLived(u)).toBeGreaterThan(first);
    });
  });

  it('records land in the configured store: Redis hash or MariaDB row', async () => {
    await configure('redis', 'first-result');
    const u1 = user();
    await claims.claim(u1, 'task-1', { amount: 1 });
    expect(await ctx.redis.hget(keys().idempotency(`task.claim:${u1}:task-1`), 's')).toBe('d');
    expect(await mariaRow(`task.claim:${u1}:task-1`)).toBeUndefined();

    await configure('mariadb', 'first-result');
    const u2 = user();
    await claims.claim(u2, 'task-1', { amount: 1 });
    expect(await mariaRow(`task.claim:${u2}:task-1`)).toEqual({ state: 'd' });
    expect(await ctx.redis.exists(keys().idempotency(`task.claim:${u2}:task-1`))).toBe(0);
  });

  it('a dynamic-configuration switch of store and strategy reaches the running provider with no restart', async () => {
    await operator.set('task.claim', null);
    await operator.set('*', { store: 'redis', onDuplicate: 'first-result' });
    await sleep(80);
    const u = user();
    const first = await claims.claim(u, 'task-1', { amount: 3 });
    expect(await claims.claim(u, 'task-1', { amount: 3 })).toEqual(first);

    // The operator switches only this operation to MariaDB and `throw`; the global default stays.
    await operator.set('task.claim', { store: 'mariadb', onDuplicate: 'throw' });
    await sleep(80);
    const v = user();
    await claims.claim(v, 'task-1', { amount: 3 });
    expect(await mariaRow(`task.claim:${v}:task-1`)).toEqual({ state: 'd' });
    await expect(claims.claim(v, 'task-1', { amount: 3 })).rejects.toMatchObject({ code: 'IDEMPOTENCY_DUPLICATE' });

    // And back to the global default (Redis, first-result) by removing the override: the Redis record is still there.
    await operator.set('task.claim', null);
    await sleep(80);
    expect(await claims.claim(u, 'task-1', { amount: 3 })).toEqual(first);
    await operator.set('*', null);
  });
}
