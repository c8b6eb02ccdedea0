import { sweepBackoff } from './backoff';

const policy = { baseMs: 1000, capMs: 60_000, jitter: 0.2 };

describe('sweepBackoff (pure)', () => {
  it('doubles per re-drive from the base, without jitter exactly', () => {
    const exact = { ...policy, jitter: 0 };
    expect([1, 2, 3, 4, 5].map((n) => sweepBackoff(n, exact))).toEqual([1000, 2000, 4000, 8000, 16_000]);
  });

  it('never passes the cap, however many re-drives (no overflow past 2^52 either)', () => {
    for (const n of [7, 8, 20, 1000]) expect(sweepBackoff(n, policy, () => 0.999)).toBe(60_000);
  });

  it('spreads each delay over ± jitter of itself', () => {
    expect(sweepBackoff(3, policy, () => 0)).toBe(3200); // 4000 − 20%
    expect(sweepBackoff(3, policy, () => 0.5)).toBe(4000);
    expect(sweepBackoff(3, policy, () => 0.99999)).toBe(4800); // just under 4000 + 20%
    const samples = Array.from({ length: 1000 }, () => sweepBackoff(2, policy));
    expect(Math.min(...samples)).toBeGreaterThanOrEqual(1600);
    expect(Math.max(...samples)).toBeLessThanOrEqual(2400);
    expect(new Set(samples).size).toBeGreaterThan(100); // actually spread, not one value
  });

  it('grows with the re-drive count even at the extremes of the jitter', () => {
    for (let n = 1; n < 6; n++) expect(sweepBackoff(n + 1, policy, () => 0)).toBeGreaterThan(sweepBackoff(n, policy, () => 0.99999) - 1);
  });

  it('treats a count below 1 as the first re-drive and never returns less than 1 ms', () => {
    expect(sweepBackoff(0, { ...policy, jitter: 0 })).toBe(1000);
    expect(sweepBackoff(1, { baseMs: 1, capMs: 1, jitter: 1 }, () => 0)).toBe(1);
  });
});
