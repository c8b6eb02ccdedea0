import { compileConfig, optionsFromEnv } from '../config';
import { DEFAULTS } from '../constants';
import { parseRoles } from './sweeper';

describe('sweeper settings', () => {
  it('default to common/constants.ts and read PROPEL_SWEEP_* from the environment', () => {
    expect(compileConfig().sweep).toMatchObject({ tickMs: DEFAULTS.sweepTickMs, graceMs: DEFAULTS.sweepGraceMs, maxRetries: DEFAULTS.sweepMaxRetries });
    const cfg = compileConfig(optionsFromEnv({ PROPEL_SWEEP_GRACE_MS: '2500', PROPEL_SWEEP_MAX_RETRIES: '0', PROPEL_SWEEP_JITTER: '0.5' }));
    expect(cfg.sweep).toMatchObject({ graceMs: 2500, maxRetries: 0, jitter: 0.5 });
  });

  it('are refused at start with the setting named', () => {
    expect(() => optionsFromEnv({ PROPEL_SWEEP_TICK_MS: 'soon' })).toThrow(/PROPEL_SWEEP_TICK_MS must be a number/);
    expect(() => compileConfig({ sweep: { tickMs: 1000, leaderTtlMs: 1500 } })).toThrow(/sweep.leaderTtlMs must be more than twice sweep.tickMs/);
    expect(() => compileConfig({ sweep: { backoffBaseMs: 5000, backoffCapMs: 1000 } })).toThrow(/backoffCapMs/);
    expect(() => compileConfig({ sweep: { jitter: 2 } })).toThrow(/sweep.jitter/);
  });

  it('PROPEL_SWEEPER_ROLES names any of the three roles; empty means all; unknown ones are refused', () => {
    expect(parseRoles(undefined)).toEqual(['splitter', 'loader', 'executor']);
    expect(parseRoles(' executor , loader,executor')).toEqual(['executor', 'loader']);
    expect(() => parseRoles('splitter,sweeper')).toThrow(/unknown role\(s\) sweeper/);
  });
});
