import { createServer, Socket } from 'node:net';
import { freePort } from './redis-server';

/** A TCP proxy in front of a server, to take a client's network away for as long as a test needs. */
export interface TcpProxy {
  /** redis:// URL of the proxy's side. */
  url: string;
  port: number;
  /** Drops every connection through the proxy and refuses new ones until `restore`. */
  cut(): void;
  restore(): void;
  /** Connections accepted since the start (reconnects included). */
  readonly accepted: number;
  stop(): Promise<void>;
}

/**
 * Starts a proxy on a free port that pipes each connection to `targetPort`. Unlike CLIENT KILL (after which a
 * client reconnects within milliseconds), `cut` keeps the clients behind the proxy disconnected while the test
 * changes things on the server directly.
 */
export async function startTcpProxy(targetPort: number, host = '127.0.0.1'): Promise<TcpProxy> {
  const port = await freePort();
  const open = new Set<Socket>();
  let down = false;
  let accepted = 0;
  const server = createServer((client) => {
    if (down) {
      client.destroy();
      return;
    }
    accepted++;
    const upstream = new Socket();
    open.add(client);
    open.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    upstream.connect(targetPort, host, () => {
      client.pipe(upstream);
      upstream.pipe(client);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    url: `redis://${host}:${port}`,
    port,
    get accepted() {
      return accepted;
    },
    cut() {
      down = true;
      for (const s of [...open]) s.destroy();
      open.clear();
    },
    restore() {
      down = false;
    },
    async stop() {
      down = true;
      for (const s of [...open]) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
