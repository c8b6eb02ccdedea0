import { StaticIdempotencyConfig } from './config-source';
import { DuplicateRequestError, IdempotencyInProgressError, IdempotencyKeyReusedError, IdempotencyStoreUnavailableError } from './errors';
import { IdempotencyService } from './idempotency.service';
import type { BeginOutcome, IdempotencyStore } from './types';

/** In-memory store for the service's pure decision logic only; the real stores are tested against real servers. */
class MemoryStore implements IdempotencyStore {
  readonly name = 'redis' as const;
  readonly records = new Map<string, { fp: string; done: boolean; result?: unknown }>();
  async begin(key: string, fp: string): Promise<BeginOutcome> {
    const r = this.records.get(key);
    if (!r) {
      this.records.set(key, { fp, done: false });
      return 'started';
    }
    return r.done ? { state: 'done', fingerprint: r.fp, result: r.result } : { state: 'in-progress', fingerprint: r.fp };
  }
  async complete(key: string, fp: string, result: unknown): Promise<boolean> {
    const r = this.records.get(key);
    if (!r || r.fp !== fp || r.done) return false;
    Object.assign(r, { done: true, result });
    return true;
  }
  async abandon(key: string, fp: string): Promise<boolean> {
    const r = this.records.get(key);
    if (!r || r.fp !== fp || r.done) return false;
    return this.records.delete(key);
  }
}

const opts = { key: (id: string) => id, ttlMs: 1000 };

describe('IdempotencyService (decision logic, in-memory store)', () => {
  function service(onDuplicate: 'first-result' | 'code' | 'throw', store = new MemoryStore()) {
    return { store, svc: new IdempotencyService({ redis: store }, new StaticIdempotencyConfig(), { onDuplicate, waitMs: 100, pollMs: 5 }) };
  }

  it('first-result: a duplicate with the same payload gets the first result and the body runs once', async () => {
    const { svc } = service('first-result');
    let runs = 0;
    const body = async () => ({ n: ++runs });
    expect(await svc.run('op', opts, ['a'], body)).toEqual({ n: 1 });
    expect(await svc.run('op', opts, ['a'], body)).toEqual({ n: 1 });
    expect(runs).toBe(1);
  });

  it('code: a duplicate gets a DUPLICATE marker; a reused key with another payload a KEY_REUSED marker', async () => {
    const { svc } = service('code');
    const o = { key: (id: string) => id, ttlMs: 1000 };
    await svc.run('op', o, ['a', 1] as unknown as [string], async () => 'x');
    expect(await svc.run('op', o, ['a', 1] as unknown as [string], async () => 'y')).toEqual({ idempotent: 'DUPLICATE', code: 'IDEMPOTENCY_DUPLICATE', key: 'op:a', state: 'done' });
    expect(await svc.run('op', o, ['a', 2] as unknown as [string], async () => 'y')).toMatchObject({ idempotent: 'KEY_REUSED', code: 'IDEMPOTENCY_KEY_REUSED' });
  });

  it('throw: a duplicate throws DuplicateRequestError; another payload IdempotencyKeyReusedError', async () => {
    const { svc } = service('throw');
    const o = { key: (id: string) => id, ttlMs: 1000, payload: (_id: string, p?: unknown) => p };
    await svc.run('op', o, ['a', 1] as unknown as [string], async () => 'x');
    await expect(svc.run('op', o, ['a', 1] as unknown as [string], async () => 'y')).rejects.toBeInstanceOf(DuplicateRequestError);
    await expect(svc.run('op', o, ['a', 2] as unknown as [string], async () => 'y')).rejects.toBeInstanceOf(IdempotencyKeyReusedError);
  });

  it('first-result never hands a different payload the first result', async () => {
    const { svc } = service('first-result');
    const o = { key: (id: string) => id, ttlMs: 1000, payload: (_id: string, p?: unknown) => p };
    await svc.run('op', o, ['a', 1] as unknown as [string], async () => 'x');
    await expect(svc.run('op', o, ['a', 2] as unknown as [string], async () => 'y')).rejects.toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
  });

  it('a failed body abandons its claim so a retry runs', async () => {
    const { svc, store } = service('throw');
    await expect(svc.run('op', opts, ['a'], async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(store.records.size).toBe(0);
    expect(await svc.run('op', opts, ['a'], async () => 'ok')).toBe('ok');
  });

  it('first-result waits for a running first call, then gives up with a retryable in-progress error', async () => {
    const { svc } = service('first-result');
    let release!: () => void;
    const first = svc.run('op', opts, ['a'], () => new Promise<string>((r) => (release = () => r('first'))));
    await new Promise((r) => setTimeout(r, 5));
    const waiting = svc.run('op', opts, ['a'], async () => 'second');
    setTimeout(() => release(), 30);
    expect(await waiting).toBe('first');
    expect(await first).toBe('first');

    const stuck = svc.run('op', opts, ['b'], () => new Promise(() => undefined));
    void stuck;
    await expect(svc.run('op', opts, ['b'], async () => 'never')).rejects.toBeInstanceOf(IdempotencyInProgressError);
  });

  it('dynamic overrides win over the decorator: operation over global over preferred', async () => {
    const store = new MemoryStore();
    const svc = new IdempotencyService({ redis: store }, new StaticIdempotencyConfig({ '*': { onDuplicate: 'code' }, special: { onDuplicate: 'throw' } }));
    expect(await svc.policy('plain', { onDuplicate: 'first-result' })).toEqual({ store: 'redis', onDuplicate: 'code' });
    expect(await svc.policy('special', { onDuplicate: 'first-result' })).toEqual({ store: 'redis', onDuplicate: 'throw' });
  });

  it('a store that is not configured fails with a clear error, and keys are validated', async () => {
    const { svc } = service('throw');
    await expect(svc.run('op', { ...opts, store: 'mariadb' }, ['a'], async () => 1)).rejects.toBeInstanceOf(IdempotencyStoreUnavailableError);
    await expect(svc.run('op', opts, ['bad{tag}'], async () => 1)).rejects.toMatchObject({ code: 'INVALID_ID' });
  });
});
