import { observabilityFromEnv } from './observability.config';

describe('observabilityFromEnv: where /metrics and /health listen', () => {
  it('uses the app default when PROPEL_METRICS_PORT is unset or empty, and says it was not chosen', () => {
    expect(observabilityFromEnv(9464, {})).toEqual({ port: 9464, explicitPort: false });
    expect(observabilityFromEnv(9460, { PROPEL_METRICS_PORT: '' })).toEqual({ port: 9460, explicitPort: false });
  });

  it('takes a named port (0 turns the listener off), the bind host and the token', () => {
    expect(observabilityFromEnv(9464, { PROPEL_METRICS_PORT: '9500', PROPEL_METRICS_HOST: '127.0.0.1', PROPEL_METRICS_TOKEN: 's3cret' })).toEqual({ port: 9500, explicitPort: true, host: '127.0.0.1', token: 's3cret' });
    expect(observabilityFromEnv(9464, { PROPEL_METRICS_PORT: '0' })).toMatchObject({ port: 0, explicitPort: true });
  });

  it.each(['abc', '-1', '65536', '94.5'])('refuses PROPEL_METRICS_PORT=%s with the variable named', (raw) => {
    expect(() => observabilityFromEnv(9464, { PROPEL_METRICS_PORT: raw })).toThrow(/PROPEL_METRICS_PORT must be a port number/);
  });
});
