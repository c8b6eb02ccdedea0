import { defineActor, Keys, partitionOf, RedisActorStore, RedisStreamsClient, TerminalError } from '../../common';
import type { CallReply } from '../../common';
import { uniqueNamespace, useTestRedis } from '../harness/redis';
import { fastRuntime, readRecord, startWorker, waitFor } from '../harness/workers';

type PayState = { status: 'idle' | 'paying' | 'paid' | 'failed'; receipt?: unknown; reason?: string; attempts: number };
type PayMessage = { type: 'pay'; amount: number } | CallReply<'bankAnswered'>;

const payer = defineActor<PayState, PayMessage>({
  type: 'payer',
  initial: () => ({ status: 'idle', attempts: 0 }),
  decide(state, m, ctx) {
    switch (m.type) {
      case 'pay':
        if (state.status !== 'idle') return { rejected: { code: 'NOT_IDLE', reason: `already ${state.status}` } };
        return {
          state: { ...state, status: 'paying', attempts: state.attempts + 1 },
          effects: [{ type: 'call', key: `pay:${ctx.self.id}`, component: 'bank', input: { amount: m.amount }, reply: 'bankAnswered' }],
        };
      case 'bankAnswered':
        if (m.ok) return { state: { ...state, status: 'paid', receipt: m.value }, why: 'bank paid' };
        return { state: { ...state, status: 'failed', reason: m.error.code }, why: m.error.message };
    }
  },
});

// Provokes a turn with an external call: the actor lease (lock_time) must be held while it runs.
describe('call effects under the actor lease (lock_time, redlock)', () => {
  const env = useTestRedis();

  it('the actor lease is held while the call runs, released after, and the result comes back as a message', async () => {
    const ns = uniqueNamespace('call');
    const keys = new Keys(ns);
    const runtime = fastRuntime(ns, { actorLeaseMs: 300 });
    const partitions = runtime.partitions as number;
    const observed: Array<{ key: string; lockTtl: number; holder: string | null }> = [];
    const worker = await startWorker(env.url, {
      runtime,
      actors: [payer],
      components: {
        bank: async (input, { idempotencyKey, actor }) => {
          const lock = keys.actorLock(partitionOf(actor, partitions), actor);
          // Outlive the lease once: redlock must extend it while we run.
          await new Promise((r) => setTimeout(r, 450));
          observed.push({ key: idempotencyKey, lockTtl: await env.redis.pttl(lock), holder: await env.redis.get(lock) });
          if ((input as { amount: number }).amount < 0) throw new TerminalError('NEGATIVE', 'amount must be positive');
          return { receiptFor: idempotencyKey };
        },
      },
    });
    const client = new RedisStreamsClient({ redis: { url: env.url }, runtime: { namespace: ns, partitions } });
    try {
      const started = await client.ask(payer, 'alice', { type: 'pay', amount: 10 });
      expect(started.state.status).toBe('paying');
      const p = partitionOf({ type: 'payer', id: 'alice' }, partitions);
      const rec = await waitFor(async () => {
        const r = await readRecord<PayState>(env.redis, keys, p, 'payer', 'alice');
        return r?.state.status === 'paid' ? r : null;
      }, 10_000, 'the payment to complete');
      expect(rec.state.receipt).toEqual({ receiptFor: 'pay:alice' });
      expect(rec.calls).toEqual({}); // no call left pending
      expect(rec.scheduleTime).toBeNull();
      expect(observed[0].key).toBe('pay:alice');
      expect(observed[0].holder).not.toBeNull(); // held, and extended past its 300 ms TTL
      expect(observed[0].lockTtl).toBeGreaterThan(0);
      await waitFor(async () => (await env.redis.exists(keys.actorLock(p, { type: 'payer', id: 'alice' }))) === 0, 2000, 'the lease to be released');

      await client.ask(payer, 'bob', { type: 'pay', amount: -1 });
      const failed = await waitFor(async () => {
        const r = await readRecord<PayState>(env.redis, keys, partitionOf({ type: 'payer', id: 'bob' }, partitions), 'payer', 'bob');
        return r?.state.status === 'failed' ? r : null;
      }, 10_000, 'the failure to come back');
      expect(failed.state.reason).toBe('NEGATIVE');
      const history = await new RedisActorStore(env.redis, keys).history(partitionOf({ type: 'payer', id: 'bob' }, partitions), { type: 'payer', id: 'bob' });
      expect(history.map((h) => h.message)).toEqual(['pay', 'bankAnswered']);
      expect(history.at(-1)?.why).toBe('amount must be positive');
    } finally {
      await client.close();
      await worker.close();
    }
  });

  it('at most maxConcurrentCalls actors call out at once; the rest wait their turn and all finish', async () => {
    const ns = uniqueNamespace('callpool');
    const keys = new Keys(ns);
    const runtime = fastRuntime(ns, { maxConcurrentCalls: 3, maxQueuedCalls: 5 });
    const partitions = runtime.partitions as number;
    let running = 0;
    let peak = 0;
    const worker = await startWorker(env.url, {
      runtime,
      actors: [payer],
      components: {
        bank: async (_input, { idempotencyKey }) => {
          peak = Math.max(peak, ++running);
          await new Promise((r) => setTimeout(r, 20));
          running--;
          return { receiptFor: idempotencyKey };
        },
      },
    });
    const client = new RedisStreamsClient({ redis: { url: env.url }, runtime: { namespace: ns, partitions } });
    try {
      const ids = Array.from({ length: 40 }, (_, i) => `payer-${i}`);
      await Promise.all(ids.map((id) => client.tell(payer, id, { type: 'pay', amount: 1 })));
      for (const id of ids) {
        const p = partitionOf({ type: 'payer', id }, partitions);
        await waitFor(async () => (await readRecord<PayState>(env.redis, keys, p, 'payer', id))?.state.status === 'paid', 15_000, `${id} paid`);
      }
      expect(peak).toBe(3); // the pool filled up, and never went past its size
      expect(worker['host']?.callLoad()).toEqual({ running: 0, queued: 0 });
    } finally {
      await client.close();
      await worker.close();
    }
  });
});
