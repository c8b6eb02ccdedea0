import { compileConfig, optionsFromEnv } from './config';
import { DEFAULTS } from './constants';
import { assertValidId } from './ids';

describe('compileConfig', () => {
  it('fills defaults', () => {
    const c = compileConfig();
    expect(c.runtime.partitions).toBe(DEFAULTS.partitions);
    expect(c.redis.url).toBe('redis://127.0.0.1:6379');
  });

  it('is idempotent, so a compiled config can be passed on', () => {
    const c = compileConfig({ runtime: { partitions: 4 } });
    expect(compileConfig(c as never)).toEqual(c);
  });

  it('names every invalid setting in one error', () => {
    expect(() => compileConfig({ runtime: { partitions: 0, namespace: 'bad ns' } })).toThrow(/runtime\.partitions.*runtime\.namespace|runtime\.namespace.*runtime\.partitions/);
  });

  it('refuses a lease that would lapse between renewals', () => {
    expect(() => compileConfig({ runtime: { heartbeatMs: 1000, leaseTtlMs: 1500 } })).toThrow(/leaseTtlMs/);
  });

  it('reads Redis AUTH, TLS and cluster nodes from the environment', () => {
    const o = optionsFromEnv({ PROPEL_REDIS_URL: 'rediss://h:1', PROPEL_REDIS_USERNAME: 'u', PROPEL_REDIS_PASSWORD: 'p', PROPEL_REDIS_TLS: '1', PROPEL_REDIS_CLUSTER: 'a:1, b:2', PROPEL_PARTITIONS: '32' });
    const c = compileConfig(o);
    expect(c.redis).toMatchObject({ url: 'rediss://h:1', username: 'u', password: 'p', tls: true, cluster: ['a:1', 'b:2'] });
    expect(c.runtime.partitions).toBe(32);
  });

  it('reads the audit retention in hours (fractions allowed, 0 = off; a week by default) and refuses a negative one', () => {
    expect(compileConfig().runtime.auditRetentionHours).toBe(168);
    expect(compileConfig(optionsFromEnv({ PROPEL_AUDIT_RETENTION_HOURS: '0.5' })).runtime.auditRetentionHours).toBe(0.5);
    expect(compileConfig(optionsFromEnv({ PROPEL_AUDIT_RETENTION_HOURS: '0' })).runtime.auditRetentionHours).toBe(0);
    expect(() => compileConfig(optionsFromEnv({ PROPEL_AUDIT_RETENTION_HOURS: '-1' }))).toThrow(/runtime\.auditRetentionHours/);
  });

  it('refuses a non-numeric number setting with the variable named', () => {
    expect(() => optionsFromEnv({ PROPEL_PARTITIONS: 'many' })).toThrow(/PROPEL_PARTITIONS/);
  });
});

describe('assertValidId', () => {
  it.each(['', 'a{b', 'a}b', 'a\u0000b', 'a\u007fb', 'x'.repeat(201)])('refuses %j', (id) => {
    expect(() => assertValidId(id)).toThrow(expect.objectContaining({ code: 'INVALID_ID' }));
  });
  it('accepts ordinary ids', () => {
    expect(assertValidId('user:42/app-7')).toBe('user:42/app-7');
  });
});
