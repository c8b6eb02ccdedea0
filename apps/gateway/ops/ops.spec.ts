import { LoginThrottle } from './login-throttle';
import { parseCookies, sameOrigin, sessionCookie } from './ops-auth';
import { infoField } from '../../../common/redis/stream-info';
import { ratePerSecond } from './ops-sampler';
import { tokenTag } from './ops-sessions';
import { RingBuffer } from './ring-buffer';

describe('RingBuffer', () => {
  it('keeps the newest `capacity` items, oldest first', () => {
    const ring = new RingBuffer<number>(3);
    expect(ring.toArray()).toEqual([]);
    expect(ring.last()).toBeUndefined();
    for (let i = 1; i <= 5; i++) ring.push(i);
    expect(ring.toArray()).toEqual([3, 4, 5]);
    expect(ring.size).toBe(3);
    expect(ring.last()).toBe(5);
  });

  it('refuses a capacity below 1', () => {
    expect(() => new RingBuffer(0)).toThrow(RangeError);
  });
});

describe('ratePerSecond', () => {
  it('is the change per second between two readings', () => {
    expect(ratePerSecond({ at: 1000, value: 10 }, 3000, 50)).toBe(20);
  });

  it('is null without a previous reading, for unknown counters and for a clock that did not move', () => {
    expect(ratePerSecond(undefined, 1000, 5)).toBeNull();
    expect(ratePerSecond({ at: 1000, value: null }, 2000, 5)).toBeNull();
    expect(ratePerSecond({ at: 1000, value: 5 }, 2000, null)).toBeNull();
    expect(ratePerSecond({ at: 1000, value: 5 }, 1000, 9)).toBeNull();
  });

  it('counts a counter that went down (a stream recreated) as no progress, never negative', () => {
    expect(ratePerSecond({ at: 0, value: 100 }, 1000, 3)).toBe(0);
  });
});

describe('infoField', () => {
  it('reads a field of a flat XINFO reply', () => {
    expect(infoField(['length', 3, 'entries-added', 7], 'entries-added')).toBe(7);
    expect(infoField(['length', 3], 'entries-added')).toBeUndefined();
    expect(infoField(null, 'length')).toBeUndefined();
  });
});

describe('session cookie', () => {
  it('is HttpOnly, SameSite=Strict, scoped to /ops, and Secure over HTTPS', () => {
    expect(sessionCookie('abc', 3_600_000, false)).toBe('propel_ops=abc; Path=/ops; HttpOnly; SameSite=Strict; Max-Age=3600');
    expect(sessionCookie('abc', 3_600_000, true)).toMatch(/; Secure$/);
    expect(sessionCookie('', 0, false)).toContain('Max-Age=0');
  });

  it('is read back from a Cookie header; the first value of a name wins and broken escapes are skipped', () => {
    const cookies = parseCookies('a=1; propel_ops=x%2Dy; propel_ops=second; bad=%E0%A4%A; flag');
    expect(cookies.get('propel_ops')).toBe('x-y');
    expect(cookies.get('a')).toBe('1');
    expect(cookies.has('bad')).toBe(false);
    expect(parseCookies(undefined).size).toBe(0);
  });
});

describe('sameOrigin', () => {
  const req = (headers: Record<string, string>) => ({ method: 'POST', headers });

  it('admits requests without browser origin headers (curl) and those from the page itself', () => {
    expect(sameOrigin(req({ host: 'ops.test:3000' }))).toBe(true);
    expect(sameOrigin(req({ host: 'ops.test:3000', origin: 'http://ops.test:3000', 'sec-fetch-site': 'same-origin' }))).toBe(true);
    // Behind a proxy that rewrites Host: the host the browser asked for is in X-Forwarded-Host.
    expect(sameOrigin(req({ host: 'gateway:3000', 'x-forwarded-host': 'ops.example.com', origin: 'https://ops.example.com' }))).toBe(true);
  });

  it('refuses another site: a foreign Origin, "null", or Sec-Fetch-Site saying so', () => {
    expect(sameOrigin(req({ host: 'ops.test:3000', origin: 'http://evil.test' }))).toBe(false);
    expect(sameOrigin(req({ host: 'ops.test:3000', origin: 'null' }))).toBe(false);
    expect(sameOrigin(req({ host: 'ops.test:3000', 'sec-fetch-site': 'cross-site' }))).toBe(false);
    expect(sameOrigin(req({ host: 'ops.test:3000', 'sec-fetch-site': 'same-site' }))).toBe(false);
  });
});

describe('tokenTag', () => {
  it('tells admin tokens apart without being the token', () => {
    expect(tokenTag('a')).toHaveLength(16);
    expect(tokenTag('a')).toBe(tokenTag('a'));
    expect(tokenTag('a')).not.toBe(tokenTag('b'));
    expect(tokenTag('secret')).not.toContain('secret');
  });
});

describe('LoginThrottle', () => {
  it('refuses an address after maxFailures within the window, until the window ends', () => {
    const throttle = new LoginThrottle(3, 60_000);
    for (let i = 0; i < 3; i++) {
      expect(throttle.retryAfterMs('1.2.3.4', 1000)).toBe(0);
      throttle.fail('1.2.3.4', 1000);
    }
    expect(throttle.retryAfterMs('1.2.3.4', 2000)).toBe(59_000);
    expect(throttle.retryAfterMs('5.6.7.8', 2000)).toBe(0);
    expect(throttle.retryAfterMs('1.2.3.4', 61_000)).toBe(0);
  });

  it('forgets the failures of an address that logs in', () => {
    const throttle = new LoginThrottle(2, 60_000);
    throttle.fail('a', 0);
    throttle.fail('a', 0);
    throttle.succeed('a');
    expect(throttle.retryAfterMs('a', 1)).toBe(0);
  });

  it('tracks a bounded number of addresses', () => {
    const throttle = new LoginThrottle(1, 60_000, 100);
    for (let i = 0; i < 1000; i++) throttle.fail(`10.0.${i >> 8}.${i & 255}`, 0);
    expect(throttle.retryAfterMs('10.0.3.231', 1)).toBeGreaterThan(0); // the newest is still counted
    expect(throttle.retryAfterMs('10.0.0.0', 1)).toBe(0); // the oldest were forgotten
  });
});
