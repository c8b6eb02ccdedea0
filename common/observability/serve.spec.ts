import { createServer, Server } from 'node:net';
import { Logger } from '@nestjs/common';
import { freePort } from '../../test/harness/redis-server';
import { startObservability } from './serve';

/** Holds a port the way another process on the host would. */
async function occupy(): Promise<{ port: number; server: Server }> {
  const port = await freePort();
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(port, '0.0.0.0', resolve));
  return { port, server };
}

describe('startObservability: the listener of an app without HTTP of its own', () => {
  beforeAll(() => Logger.overrideLogger(['error']));

  it('serves /metrics and /health on the port, and closes', async () => {
    const port = await freePort();
    const obs = await startObservability({ app: 'sweeper', defaultPort: port, settings: { host: '127.0.0.1' } });
    expect(obs.port).toBe(port);
    expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
    expect(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).toMatch(/^process_cpu_seconds_total\{app="sweeper"\}/m);
    await obs.close();
    await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow();
  });

  it('skips a default port another process holds (the app still starts), but refuses a named one', async () => {
    const { port, server } = await occupy();
    try {
      const skipped = await startObservability({ app: 'worker', defaultPort: port, settings: { port, explicitPort: false } });
      expect(skipped.port).toBeUndefined();
      await skipped.close();
      await expect(startObservability({ app: 'worker', defaultPort: 1, settings: { port, explicitPort: true } })).rejects.toThrow(`cannot serve /metrics and /health on PROPEL_METRICS_PORT ${port}: port ${port} is in use`);
    } finally {
      server.close();
    }
  });

  it('port 0 starts no listener but still gives the app its metrics', async () => {
    const obs = await startObservability({ app: 'worker', defaultPort: 9464, settings: { port: 0 } });
    expect(obs.port).toBeUndefined();
    expect(await obs.metrics.scrape()).toContain('app="worker"');
  });
});
