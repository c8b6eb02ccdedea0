import { retryAfterMs, webhookVerdict } from './webhook.step';

describe('webhook step answers', () => {
  it.each([
    [200, 'ok'],
    [204, 'ok'],
    [400, 'terminal'],
    [404, 'terminal'],
    [302, 'terminal'],
    [408, 'retryable'],
    [429, 'retryable'],
    [500, 'retryable'],
    [503, 'retryable'],
  ])('HTTP %i is %s', (status, verdict) => {
    expect(webhookVerdict(status)).toBe(verdict);
  });

  it('reads Retry-After as seconds or an HTTP date, 0 when absent or unreadable', () => {
    const now = Date.parse('2024-06-03T12:00:00Z');
    expect(retryAfterMs('3', now)).toBe(3_000);
    expect(retryAfterMs('Mon, 03 Jun 2024 12:00:10 GMT', now)).toBe(10_000);
    expect(retryAfterMs(null, now)).toBe(0);
    expect(retryAfterMs('soon', now)).toBe(0);
  });
});
