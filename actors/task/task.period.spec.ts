import { addDays, isoWeekday, localDateOf, localMidnight, periodBounds, periodOf, PeriodRule } from './task.period';

const HOUR = 3_600_000;
const daily = (timeZone: string): PeriodRule => ({ type: 'recurring', period: 'daily', timeZone });
const weekly = (timeZone: string, weekStartsOn: number): PeriodRule => ({ type: 'recurring', period: 'weekly', timeZone, weekStartsOn });
const utc = (s: string) => Date.parse(s);

/**
 * Local days that are not 24 h long, with the UTC instants of their first moment and of the next day's:
 * spring-forward nights (23 h) and fall-back nights (25 h), in both hemispheres and with a 30-minute DST.
 */
const dstDays: Array<[string, string, string, string, number]> = [
  ['Europe/Berlin', '2026-03-29', '2026-03-28T23:00:00Z', '2026-03-29T22:00:00Z', 23],
  ['Europe/Berlin', '2026-10-25', '2026-10-24T22:00:00Z', '2026-10-25T23:00:00Z', 25],
  ['America/New_York', '2026-03-08', '2026-03-08T05:00:00Z', '2026-03-09T04:00:00Z', 23],
  ['America/New_York', '2026-11-01', '2026-11-01T04:00:00Z', '2026-11-02T05:00:00Z', 25],
  ['Australia/Sydney', '2026-04-05', '2026-04-04T13:00:00Z', '2026-04-05T14:00:00Z', 25],
  ['Australia/Sydney', '2026-10-04', '2026-10-03T14:00:00Z', '2026-10-04T13:00:00Z', 23],
  ['Australia/Lord_Howe', '2026-04-05', '2026-04-04T13:00:00Z', '2026-04-05T13:30:00Z', 24.5],
  ['Australia/Lord_Howe', '2026-10-04', '2026-10-03T13:30:00Z', '2026-10-04T13:00:00Z', 23.5],
];

describe('periodOf: daily periods across DST', () => {
  it.each(dstDays)('%s %s: [%s, %s) is %d h; 1 ms either side of each bound falls in the neighbouring day', (tz, date, start, end, hours) => {
    const s = utc(start);
    const e = utc(end);
    expect(periodOf(daily(tz), s)).toEqual({ period: `d${date}`, start: s, end: e });
    expect(periodOf(daily(tz), e - 1)).toEqual({ period: `d${date}`, start: s, end: e });
    expect((e - s) / HOUR).toBe(hours);
    const before = periodOf(daily(tz), s - 1);
    expect(before.end).toBe(s);
    expect(before.period).not.toBe(`d${date}`);
    const after = periodOf(daily(tz), e);
    expect(after.start).toBe(e);
    expect(after.period).not.toBe(`d${date}`);
  });

  it('the instants inside the skipped and the repeated hour belong to that day', () => {
    // Berlin: 02:00–03:00 local does not exist on 2026-03-29; 02:00–03:00 happens twice on 2026-10-25.
    expect(periodOf(daily('Europe/Berlin'), utc('2026-03-29T01:00:00Z')).period).toBe('d2026-03-29');
    expect(periodOf(daily('Europe/Berlin'), utc('2026-10-25T00:30:00Z')).period).toBe('d2026-10-25');
    expect(periodOf(daily('Europe/Berlin'), utc('2026-10-25T01:30:00Z')).period).toBe('d2026-10-25');
  });

  it('a zone without DST (Asia/Shanghai) has 24 h days starting at 16:00 UTC', () => {
    for (const date of ['2026-03-29', '2026-10-25', '2026-12-31']) {
      const p = periodOf(daily('Asia/Shanghai'), utc(`${date}T12:00:00Z`));
      expect(p.end! - p.start!).toBe(24 * HOUR);
      expect(new Date(p.start!).toISOString()).toMatch(/T16:00:00\.000Z$/);
    }
    expect(periodOf(daily('Asia/Shanghai'), utc('2026-03-28T15:59:59.999Z')).period).toBe('d2026-03-28');
    expect(periodOf(daily('Asia/Shanghai'), utc('2026-03-28T16:00:00Z')).period).toBe('d2026-03-29');
  });

  it('a zone whose DST starts at midnight: the day begins at 01:00, when the clocks jump (America/Santiago 2022-09-11)', () => {
    expect(periodOf(daily('America/Santiago'), utc('2022-09-11T12:00:00Z'))).toEqual({ period: 'd2022-09-11', start: utc('2022-09-11T04:00:00Z'), end: utc('2022-09-12T03:00:00Z') });
    expect(periodOf(daily('America/Santiago'), utc('2022-09-11T03:59:59.999Z')).period).toBe('d2022-09-10');
  });

  it('UTC is the default zone; a year boundary rolls over', () => {
    expect(periodOf({ type: 'recurring', period: 'daily' }, utc('2026-12-31T23:59:59.999Z'))).toEqual({ period: 'd2026-12-31', start: utc('2026-12-31T00:00:00Z'), end: utc('2027-01-01T00:00:00Z') });
  });
});

describe('periodOf: weekly periods', () => {
  it.each([
    [1, 'w2026-03-23', '2026-03-22T23:00:00Z', '2026-03-29T22:00:00Z', 7 * 24 - 1],
    [7, 'w2026-03-29', '2026-03-28T23:00:00Z', '2026-04-04T22:00:00Z', 7 * 24 - 1],
    [3, 'w2026-03-25', '2026-03-24T23:00:00Z', '2026-03-31T22:00:00Z', 7 * 24 - 1],
    [5, 'w2026-03-27', '2026-03-26T23:00:00Z', '2026-04-02T22:00:00Z', 7 * 24 - 1],
  ] as const)('Europe/Berlin, the week holding the spring-forward Sunday, weekStartsOn %d: %s', (startsOn, period, start, end, hours) => {
    const rule = weekly('Europe/Berlin', startsOn);
    const s = utc(start);
    const e = utc(end);
    expect(periodOf(rule, utc('2026-03-29T10:00:00Z'))).toEqual({ period, start: s, end: e });
    expect((e - s) / HOUR).toBe(hours);
    expect(periodOf(rule, s).period).toBe(period);
    expect(periodOf(rule, e - 1).period).toBe(period);
    expect(periodOf(rule, s - 1).end).toBe(s);
    expect(periodOf(rule, e).start).toBe(e);
  });

  it('America/New_York, the week holding the fall-back Sunday (Monday start) is 169 h', () => {
    const p = periodOf(weekly('America/New_York', 1), utc('2026-11-01T12:00:00Z'));
    expect(p).toEqual({ period: 'w2026-10-26', start: utc('2026-10-26T04:00:00Z'), end: utc('2026-11-02T05:00:00Z') });
    expect(periodOf(weekly('America/New_York', 1), utc('2026-11-02T04:59:59.999Z')).period).toBe('w2026-10-26');
    expect(periodOf(weekly('America/New_York', 1), utc('2026-11-02T05:00:00Z')).period).toBe('w2026-11-02');
  });

  it('Asia/Shanghai weeks are 168 h and every week start date is the chosen weekday', () => {
    for (let startsOn = 1; startsOn <= 7; startsOn++) {
      for (let day = 0; day < 14; day++) {
        const p = periodOf(weekly('Asia/Shanghai', startsOn), utc('2026-06-01T00:00:00Z') + day * 24 * HOUR);
        expect(p.end! - p.start!).toBe(168 * HOUR);
        const [y, m, d] = p.period.slice(1).split('-').map(Number);
        expect(isoWeekday({ year: y, month: m, day: d })).toBe(startsOn);
      }
    }
  });
});

describe('period helpers', () => {
  it('non-recurring tasks have the single period "once" without bounds', () => {
    expect(periodOf({ type: 'staged', timeZone: 'Europe/Berlin' }, utc('2026-03-29T01:00:00Z'))).toEqual({ period: 'once' });
    expect(periodBounds({ type: 'one-shot' }, 'once')).toBeUndefined();
  });

  it('periodBounds inverts periodOf and refuses ids of another kind or impossible dates', () => {
    const rule = daily('America/New_York');
    const p = periodOf(rule, utc('2026-03-08T12:00:00Z'));
    expect(periodBounds(rule, p.period)).toEqual({ start: p.start, end: p.end });
    expect(periodBounds(weekly('Europe/Berlin', 7), 'w2026-03-29')).toEqual({ start: utc('2026-03-28T23:00:00Z'), end: utc('2026-04-04T22:00:00Z') });
    expect(() => periodBounds(rule, 'w2026-03-08')).toThrow(/daily period is "dYYYY-MM-DD"/);
    expect(() => periodBounds(rule, 'd2026-02-30')).toThrow(/not a real date/);
    expect(() => periodBounds(weekly('UTC', 1), 'w2026-03-29')).toThrow(/ISO weekday 1/);
    expect(() => periodBounds({ type: 'one-shot' }, 'd2026-03-08')).toThrow(/single period "once"/);
  });

  it('localMidnight, localDateOf and addDays agree with each other', () => {
    const d = { year: 2026, month: 10, day: 25 };
    expect(localDateOf(localMidnight(d, 'Europe/Berlin'), 'Europe/Berlin')).toEqual(d);
    expect(localDateOf(localMidnight(d, 'Europe/Berlin') - 1, 'Europe/Berlin')).toEqual(addDays(d, -1));
    expect(addDays({ year: 2024, month: 2, day: 28 }, 1)).toEqual({ year: 2024, month: 2, day: 29 });
    expect(addDays({ year: 2026, month: 12, day: 31 }, 1)).toEqual({ year: 2027, month: 1, day: 1 });
  });

  it('every hour of 2026 in Berlin and New York lies in exactly the period whose bounds hold it, and the periods tile time', () => {
    const problems: string[] = [];
    for (const tz of ['Europe/Berlin', 'America/New_York']) {
      let last: { period: string; end?: number } | undefined;
      let periods = 0;
      for (let t = utc('2026-01-01T00:00:00Z'); t < utc('2027-01-01T00:00:00Z'); t += HOUR) {
        const p = periodOf(daily(tz), t);
        if (!(t >= p.start! && t < p.end!)) problems.push(`${tz} ${t}: ${JSON.stringify(p)}`);
        if (last?.period !== p.period) {
          periods++;
          if (last && p.start !== last.end) problems.push(`${tz}: ${p.period} starts at ${p.start}, ${last.period} ends at ${last.end}`);
        }
        last = p;
      }
      expect(periods).toBe(366); // 365 days of 2026, plus the neighbouring day the UTC year's first or last hours fall on
    }
    expect(problems).toEqual([]);
  });
});
