import { RetryableError, TerminalError } from '../../common';
import type { Notification } from './channel';
import { classifyStatus, retryAfterMs, WebhookChannel } from './webhook.channel';

const notification: Notification = { id: 'app-1:rewarded:sharer', kind: 'REFERRAL_REWARDED', userId: 'u1', data: { kind: 'REFERRAL_REWARDED' }, ts: 1, entryId: '1-0' };

/** A fetch stub answering one status (or throwing), recording what it was sent. */
function stubFetch(answer: number | Error) {
  const calls: Array<{ url: string; init: RequestInit }> = [];
  const fn = (async (url: string, init: RequestInit) => {
    calls.push({ url, init });
    if (answer instanceof Error) throw answer;
    return new Response(answer === 204 ? null : '{}', { status: answer, headers: answer === 429 ? { 'retry-after': '2' } : {} });
  }) as unknown as typeof fetch;
  return { fn, calls };
}

async function outcome(status: number | Error): Promise<unknown> {
  const channel = new WebhookChannel({ url: 'http://hooks.test/n', timeoutMs: 1000, fetch: stubFetch(status).fn });
  return channel.send(notification, { signal: new AbortController().signal }).then(() => 'ok', (err) => err);
}

describe('classifyStatus', () => {
  it.each([200, 201, 204, 299])('%i is delivered', (s) => expect(classifyStatus(s)).toBe('ok'));
  it.each([500, 502, 503, 504, 408, 429])('%i is retryable', (s) => expect(classifyStatus(s)).toBe('retryable'));
  it.each([400, 401, 403, 404, 409, 410, 422, 301, 100])('%i is terminal', (s) => expect(classifyStatus(s)).toBe('terminal'));
});

describe('retryAfterMs', () => {
  it('reads seconds and HTTP dates, and 0 for absent or garbage', () => {
    expect(retryAfterMs('3')).toBe(3000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4000)).toBe(6000);
    expect(retryAfterMs(null)).toBe(0);
    expect(retryAfterMs('soon')).toBe(0);
  });
});

describe('WebhookChannel', () => {
  it('POSTs JSON with the notification id as Idempotency-Key', async () => {
    const stub = stubFetch(204);
    await new WebhookChannel({ url: 'http://hooks.test/n', timeoutMs: 1000, fetch: stub.fn }).send(notification, { signal: new AbortController().signal });
    expect(stub.calls).toHaveLength(1);
    const { url, init } = stub.calls[0];
    expect(url).toBe('http://hooks.test/n');
    expect(init.method).toBe('POST');
    expect((init.headers as Record<string, string>)['idempotency-key']).toBe(notification.id);
    expect(JSON.parse(init.body as string)).toMatchObject({ id: notification.id, kind: 'REFERRAL_REWARDED', userId: 'u1' });
  });

  it('maps 4xx to a TerminalError and 5xx, 408, 429 and network errors to RetryableError', async () => {
    expect(await outcome(400)).toBeInstanceOf(TerminalError);
    expect(await outcome(404)).toMatchObject({ code: 'WEBHOOK_REJECTED' });
    for (const s of [500, 503, 408]) expect(await outcome(s)).toBeInstanceOf(RetryableError);
    expect(await outcome(429)).toMatchObject({ code: 'WEBHOOK_UNAVAILABLE', retryAfterMs: 2000 });
    expect(await outcome(new TypeError('fetch failed'))).toBeInstanceOf(RetryableError);
  });

  it('gives up after its timeout with a RetryableError', async () => {
    const hang = ((_url: string, init: RequestInit) =>
      new Promise((_, reject) => init.signal!.addEventListener('abort', () => reject(init.signal!.reason)))) as unknown as typeof fetch;
    const channel = new WebhookChannel({ url: 'http://hooks.test/n', timeoutMs: 30, fetch: hang });
    const err = await channel.send(notification, { signal: new AbortController().signal }).catch((e) => e);
    expect(err).toBeInstanceOf(RetryableError);
    expect(err.message).toContain('no answer within 30 ms');
  });
});
