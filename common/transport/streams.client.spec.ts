import { createServer } from 'node:net';
import { counterActor } from '../../actors';
import { ErrorCode, PropelError } from '../errors';
import { RedisStreamsClient } from './streams.client';

/** A port nothing listens on: connections are refused, so nothing can be written. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('RedisStreamsClient.ask', () => {
  it('a message that never reached the inbox times out as NOT_QUEUED, not as a queued CALL_TIMEOUT', async () => {
    const client = new RedisStreamsClient({ redis: { url: `redis://127.0.0.1:${await closedPort()}` }, runtime: { namespace: 'noq', partitions: 4 } });
    try {
      const err = await client.ask(counterActor, 'alice', { type: 'increment', by: 1 } as never, { timeoutMs: 300 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(PropelError);
      expect((err as PropelError).code).toBe(ErrorCode.NotQueued);
      expect((err as Error).message).toMatch(/send it again/);
    } finally {
      // Closing does not hang on a Redis that is not there.
      const started = Date.now();
      await client.close();
      expect(Date.now() - started).toBeLessThan(5_000);
    }
  });

  it('an append that fails outright (not a Propel error) rejects as NOT_QUEUED with the cause', async () => {
    const client = new RedisStreamsClient({ redis: { url: `redis://127.0.0.1:${await closedPort()}` }, runtime: { namespace: 'noq', partitions: 4 } });
    try {
      // The append fails at once, as it does on a cluster out of redirections.
      jest.spyOn(client, 'append').mockRejectedValue(new Error('Too many Cluster redirections'));
      jest.spyOn(client as unknown as { ensureReplyLoop(): Promise<void> }, 'ensureReplyLoop').mockResolvedValue(undefined);
      const err = await client.ask(counterActor, 'alice', { type: 'increment', by: 1 } as never, { timeoutMs: 5_000 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((err as PropelError).code).toBe(ErrorCode.NotQueued);
      expect((err as Error).message).toMatch(/Too many Cluster redirections/);
      expect((err as Error).cause).toBeInstanceOf(Error);
    } finally {
      await client.close();
    }
  });
});
