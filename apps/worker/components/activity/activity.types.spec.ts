import { TerminalError } from '../../../../common';
import { parseActivity, REJECTION_CODES, REJECTION_REASONS } from './activity.types';

const base = { id: 'a1', timeZone: 'Asia/Shanghai', budget: { total: 10 }, prize: { kind: 'coupon', amount: 20 } };

describe('activity definition validation', () => {
  it('fills defaults: ACTIVE, everyone in the audience, device and IP rejected, one budget bucket', () => {
    const a = parseActivity(base);
    expect(a.status).toBe('ACTIVE');
    expect(a.audience).toEqual({});
    expect(a.risk).toEqual({ selfReferral: 'reject', sameDevice: 'reject', sameIp: 'reject' });
    expect(a.caps).toEqual({});
    expect(a.budgetBuckets).toBe(1);
  });

  it('names every problem with its path in one TerminalError', () => {
    let err: unknown;
    try {
      parseActivity({ ...base, id: 'bad{id}', timeZone: 'Mars/Olympus', budget: { total: 0 }, prize: { kind: 'cash', amount: 1 }, extra: 1 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TerminalError);
    const { code, message } = err as TerminalError;
    expect(code).toBe('INVALID_ACTIVITY');
    for (const path of ['id:', 'timeZone:', 'budget.total:', 'prize.kind:', '(root):']) expect(message).toContain(path);
    expect(message).toContain('IANA time zone');
  });

  it('refuses caps and velocity that are not positive integers, and more than 64 buckets', () => {
    expect(() => parseActivity({ ...base, caps: { perDay: 1.5 } })).toThrow(/caps.perDay/);
    expect(() => parseActivity({ ...base, risk: { velocityPerHour: 0 } })).toThrow(/risk.velocityPerHour/);
    expect(() => parseActivity({ ...base, budgetBuckets: 65 })).toThrow(/budgetBuckets/);
  });

  it('has a sentence for every rejection code', () => {
    for (const code of REJECTION_CODES) expect(REJECTION_REASONS[code].length).toBeGreaterThan(5);
  });
});
