import { ErrorCode, PropelError } from '../errors';

/** Where an app serves /metrics and /health, read from the environment (see docs/observability.md). */
export interface ObservabilitySettings {
  /** 0: no listener. */
  port: number;
  /** True when PROPEL_METRICS_PORT named the port: then a port in use stops the start instead of being skipped. */
  explicitPort: boolean;
  /** Interface to bind (PROPEL_METRICS_HOST), e.g. 127.0.0.1 to keep the endpoints off the network; all by default. */
  host?: string;
  /** PROPEL_METRICS_TOKEN: /metrics then needs `Authorization: Bearer <token>`. */
  token?: string;
}

/**
 * Default ports of the apps' listeners (PROPEL_METRICS_PORT overrides them; 9464 is Prometheus' usual
 * exporter port). The gateway serves /metrics and /health on its own HTTP port instead.
 */
export const METRICS_PORTS = { worker: 9464, notifier: 9460, sweeper: 9461 } as const;

/** Reads PROPEL_METRICS_PORT / _HOST / _TOKEN; a malformed port stops the start with its name. */
export function observabilityFromEnv(defaultPort: number, env: NodeJS.ProcessEnv = process.env): ObservabilitySettings {
  const raw = env.PROPEL_METRICS_PORT;
  const explicitPort = raw !== undefined && raw.trim() !== '';
  const port = explicitPort ? Number(raw) : defaultPort;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new PropelError(ErrorCode.InvalidConfig, `PROPEL_METRICS_PORT must be a port number from 0 (off) to 65535 (got ${JSON.stringify(raw)})`);
  }
  const host = env.PROPEL_METRICS_HOST?.trim() || undefined;
  const token = env.PROPEL_METRICS_TOKEN || undefined;
  return { port, explicitPort, ...(host ? { host } : {}), ...(token ? { token } : {}) };
}
