import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { compileConfig, createRedis, encodeEnvelope, type RedisClient } from '../../common';
import { LogChannel, Notifier, NotifierKeys, WebhookChannel, compileNotifierConfig, type NotifierOptions } from '../../apps/notifier';
import { uniqueNamespace, useTestRedis } from '../harness/redis';
import { waitFor } from '../harness/workers';

/** A local webhook receiver: `answer` picks the status per request (or 0 to never answer). */
interface Hook {
  url: string;
  requests: Array<{ key: string; body: { id: string; kind: string } }>;
  answer: (id: string, nth: number) => number;
  close(): Promise<void>;
}

async function startHook(answer: Hook['answer']): Promise<Hook> {
  const hook = { requests: [], answer } as unknown as Hook;
  const hanging: ServerResponse[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const body = JSON.parse(raw);
      hook.requests.push({ key: String(req.headers['idempotency-key']), body });
      const status = hook.answer(body.id, hook.requests.filter((r) => r.body.id === body.id).length);
      if (status === 0) return void hanging.push(res);
      res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  hook.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/notify`;
  hook.close = async () => {
    hanging.forEach((res) => res.destroy());
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  };
  return hook;
}

describe('notifier (scenario 15: a notification channel down)', () => {
  const ctx = useTestRedis();
  let ns: string;
  let keys: NotifierKeys;
  let hook: Hook | undefined;
  let lines: Array<{ id: string; kind: string }>;
  const opened: Array<{ notifier: Notifier; redis: RedisClient }> = [];

  beforeEach(() => {
    ns = uniqueNamespace('notify');
    keys = new NotifierKeys(ns);
    lines = [];
  });
  afterEach(async () => {
    for (const { notifier, redis } of opened.splice(0)) {
      await notifier.stop();
      redis.disconnect();
    }
    await hook?.close();
    hook = undefined;
  });

  /** A notifier with a collecting log channel and the webhook (when a hook runs), fast retries. */
  async function startNotifier(options: NotifierOptions = {}, consumer?: string): Promise<Notifier> {
    const redis = createRedis(compileConfig({ redis: { url: ctx.url } }).redis, 'notifier-test');
    const config = compileNotifierConfig({
      channels: hook ? ['log', 'webhook'] : ['log'], webhook: hook ? { url: hook.url, timeoutMs: 2000 } : undefined,
      retryBaseMs: 20, retryMaxMs: 200, blockMs: 50, claimEveryMs: 50, ...options,
    });
    const channels = [new LogChannel((line) => lines.push(JSON.parse(line))), ...(config.webhook ? [new WebhookChannel(config.webhook)] : [])];
    const notifier = new Notifier({ redis, namespace: ns, config, channels, consumer });
    opened.push({ notifier, redis });
    await notifier.start();
    return notifier;
  }

  /** Appends what the outbox relay appends: one `e` field holding the envelope; returns its bytes. */
  async function emit(notificationId: string, kind = 'REFERRAL_REWARDED'): Promise<Buffer> {
    const bytes = encodeEnvelope({ id: `env-${notificationId}`, pattern: 'notifications', data: { notificationId, kind, userId: 'u1', applicationId: 'app-1' }, ts: Date.now() });
    await ctx.redis.xadd(keys.stream(), '*', 'e', bytes);
    return bytes;
  }

  async function deadLetters(): Promise<Array<Record<string, Buffer>>> {
    const entries = await ctx.redis.xrangeBuffer(keys.dead(), '-', '+');
    return entries.map(([, f]) => Object.fromEntries(Array.from({ length: f.length / 2 }, (_, i) => [f[2 * i].toString(), f[2 * i + 1]])));
  }

  const pending = async () => ((await ctx.redis.xpending(keys.stream(), 'notifier')) as [number])[0];
  const delivered = (id: string) => hook!.requests.filter((r) => r.body.id === id);
  const logged = (id: string) => lines.filter((l) => l.id === id).length;

  it('a webhook down for a few attempts delivers once after retries; the log line is written exactly once', async () => {
    hook = await startHook((_id, nth) => (nth <= 3 ? 503 : 200));
    await startNotifier();
    await emit('app-1:rewarded:sharer');
    await waitFor(async () => (await pending()) === 0 && hook!.requests.length === 4, 10_000, 'the fourth webhook attempt to succeed');
    expect(hook.requests.map((r) => r.key)).toEqual(Array(4).fill('app-1:rewarded:sharer'));
    expect(logged('app-1:rewarded:sharer')).toBe(1);
    expect(await deadLetters()).toEqual([]);
  });

  it('a webhook that always fails dead-letters the entry with reason, channel and original bytes; others still flow', async () => {
    hook = await startHook((id) => (id === 'bad' ? 500 : 200));
    await startNotifier({ retryBaseMs: 100, retryMaxMs: 1000 });
    const bytes = await emit('bad');
    await emit('good');
    // 'good' completes while 'bad' is still backing off (100+200+400+800 ms): the read loop is not blocked.
    await waitFor(() => delivered('good').length === 1 && logged('good') === 1, 5000, 'the good notification');
    expect(await deadLetters()).toEqual([]);
    const [dead] = await waitFor(async () => ((await deadLetters()).length === 1 ? deadLetters() : null), 10_000, 'the dead letter');
    expect(dead.code.toString()).toBe('MAX_DELIVERIES');
    expect(dead.cause.toString()).toBe('WEBHOOK_UNAVAILABLE');
    expect(dead.channel.toString()).toBe('webhook');
    expect(dead.reason.toString()).toMatch(/gave up after 5 attempts: .*HTTP 500/);
    expect(dead.notificationId.toString()).toBe('bad');
    expect(Buffer.compare(dead['f:e'], bytes)).toBe(0);
    expect(delivered('bad')).toHaveLength(5);
    expect(logged('bad')).toBe(1);
    expect(await pending()).toBe(0);
  });

  it('a 400 from the webhook is terminal: dead-lettered after one request', async () => {
    hook = await startHook(() => 400);
    await startNotifier();
    await emit('rejected', 'REFERRAL_TASK_ASSIGNED');
    const [dead] = await waitFor(async () => ((await deadLetters()).length === 1 ? deadLetters() : null), 5000, 'the dead letter');
    expect(dead.code.toString()).toBe('WEBHOOK_REJECTED');
    expect(dead.channel.toString()).toBe('webhook');
    expect(dead.reason.toString()).toContain('HTTP 400');
    expect(hook.requests).toHaveLength(1);
    expect(logged('rejected')).toBe(1);
    expect(await pending()).toBe(0);
  });

  it('undecodable entries go to the dead letters at once with their bytes; the next entry is delivered', async () => {
    await startNotifier();
    const garbage = Buffer.from([0xc1, 0xff, 0x00, 0x13]);
    await ctx.redis.xadd(keys.stream(), '*', 'e', garbage);
    await ctx.redis.xadd(keys.stream(), '*', 'other', 'no envelope here');
    await emit('fine');
    await waitFor(async () => (await deadLetters()).length === 2 && logged('fine') === 1, 5000, 'two dead letters and the valid entry');
    const dead = await deadLetters();
    expect(dead.map((d) => d.code.toString())).toEqual(['DECODE_FAILED', 'DECODE_FAILED']);
    expect(Buffer.compare(dead[0]['f:e'], garbage)).toBe(0);
    expect(dead[1]['f:other'].toString()).toBe('no envelope here');
    expect(dead[0].deliveries.toString()).toBe('1');
    expect(await pending()).toBe(0);
  });

  it('a second notifier claims what a stopped first one left pending, without repeating delivered channels', async () => {
    hook = await startHook(() => 0); // the webhook hangs: the first notifier cannot finish
    const first = await startNotifier({ drainTimeoutMs: 100 }, 'notifier-a');
    await emit('n1');
    await emit('n2');
    await waitFor(() => hook!.requests.length === 2, 5000, 'both webhook requests in flight');
    await first.stop();
    const owners = (await ctx.redis.xpending(keys.stream(), 'notifier', '-', '+', 10)) as Array<[string, string, number, number]>;
    expect(owners.map((o) => o[1])).toEqual(['notifier-a', 'notifier-a']);
    expect(logged('n1') + logged('n2')).toBe(2);

    hook.answer = () => 200;
    await startNotifier({ claimIdleMs: 300 }, 'notifier-b');
    await waitFor(async () => (await pending()) === 0, 5000, 'the second notifier to settle both entries');
    expect(hook.requests.filter((r) => r.key === 'n1')).toHaveLength(2); // the hung one, then the delivered one
    expect(hook.requests.every((r) => r.key === r.body.id)).toBe(true);
    expect([logged('n1'), logged('n2')]).toEqual([1, 1]);
    expect(await deadLetters()).toEqual([]);
  });

  it('in-flight entries are bounded: with maxInFlight 1 a hung send holds back the next entry', async () => {
    hook = await startHook(() => 0);
    await startNotifier({ maxInFlight: 1, webhook: { url: hook.url, timeoutMs: 300 } });
    await emit('first');
    await emit('second');
    await waitFor(() => hook!.requests.length === 1, 5000, 'the first request');
    await new Promise((r) => setTimeout(r, 150));
    expect(hook.requests.map((r) => r.key)).toEqual(['first']);
    hook.answer = () => 200;
    await waitFor(async () => (await pending()) === 0 && logged('second') === 1, 5000, 'both entries settled');
    expect(hook.requests.map((r) => r.key)).toEqual(['first', 'first', 'second']);
  });
});
