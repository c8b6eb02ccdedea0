import type { TaskDefinition } from './task.definition';
import { ONCE_PERIOD } from './task.types';

/**
 * Periods of recurring tasks in the merchant's time zone, with the runtime's Intl only (no time zone library).
 * A local day is [its first instant, the next day's first instant): 23 h on a spring-forward night, 25 h on a
 * fall-back night, 23.5 h / 24.5 h where DST moves clocks by 30 minutes. Pure: instants go in, nothing reads a clock.
 */

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

/** A calendar date in some time zone (month 1–12). */
export interface LocalDate {
  year: number;
  month: number;
  day: number;
}

/** What a period depends on; a TaskDefinition of any type fits (non-recurring ones have no `period`). */
export interface PeriodRule {
  type: TaskDefinition['type'];
  timeZone?: string;
  period?: 'daily' | 'weekly';
  /** First day of a weekly period, 1 = Monday … 7 = Sunday (ISO). */
  weekStartsOn?: number;
}

/** A period's id (`once`, `d<YYYY-MM-DD>` or `w<YYYY-MM-DD>`) and, when recurring, its bounds [start, end) in ms. */
export interface Period {
  period: string;
  start?: number;
  end?: number;
}

// Formatting is the expensive part of Intl; one formatter per zone serves every call.
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      era: 'short',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** The local wall clock at `instant` in `timeZone`, written as if it were UTC (ms). */
function wallClock(instant: number, timeZone: string): number {
  const parts: Record<string, string> = {};
  for (const p of formatter(timeZone).formatToParts(instant)) parts[p.type] = p.value;
  const year = parts.era === 'BC' || parts.era === 'B' ? 1 - Number(parts.year) : Number(parts.year);
  const wall = Date.UTC(year, Number(parts.month) - 1, Number(parts.day), Number(parts.hour), Number(parts.minute), Number(parts.second));
  return wall + (((instant % 1000) + 1000) % 1000);
}

/** The zone's offset from UTC at `instant` (ms; east positive). */
function offsetAt(instant: number, timeZone: string): number {
  return wallClock(instant, timeZone) - instant;
}

/** The local calendar date at `instant` in `timeZone`. */
export function localDateOf(instant: number, timeZone: string): LocalDate {
  const d = new Date(wallClock(instant, timeZone));
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

/** The date `days` days after `date` (negative: before), on the proleptic Gregorian calendar. */
export function addDays(date: LocalDate, days: number): LocalDate {
  const d = new Date(Date.UTC(date.year, date.month - 1, date.day) + days * DAY_MS);
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

/** ISO weekday of a date: 1 = Monday … 7 = Sunday. */
export function isoWeekday(date: LocalDate): number {
  const d = new Date(Date.UTC(date.year, date.month - 1, date.day)).getUTCDay();
  return d === 0 ? 7 : d;
}

/** `YYYY-MM-DD`. */
export function formatDate(date: LocalDate): string {
  const pad = (n: number, w: number) => String(n).padStart(w, '0');
  return `${pad(date.year, 4)}-${pad(date.month, 2)}-${pad(date.day, 2)}`;
}

/**
 * The first instant (UTC ms) of `date` in `timeZone`: local midnight, or, where the clocks skip midnight
 * (DST starting at 00:00), the instant they jump to. On a fall-back at midnight the earlier of the two is taken.
 */
export function localMidnight(date: LocalDate, timeZone: string): number {
  const key = `${timeZone}|${date.year}-${date.month}-${date.day}`;
  let t = midnights.get(key);
  if (t === undefined) {
    // Bounded memo: the receipt router asks for the same few days over and over.
    if (midnights.size >= MIDNIGHTS_KEPT) midnights.clear();
    t = findMidnight(date, timeZone);
    midnights.set(key, t);
  }
  return t;
}

const MIDNIGHTS_KEPT = 4_096;
const midnights = new Map<string, number>();

function findMidnight(date: LocalDate, timeZone: string): number {
  const wall = Date.UTC(date.year, date.month - 1, date.day);
  // The offsets in force around that midnight: the instant with wall clock 00:00 is `wall − offset` for one of
  // them (at most two differ: no zone changes its offset twice within a day and a half).
  const offsets = new Set([offsetAt(wall - 30 * HOUR_MS, timeZone), offsetAt(wall - 14 * HOUR_MS, timeZone), offsetAt(wall, timeZone), offsetAt(wall + 14 * HOUR_MS, timeZone)]);
  const candidates = [...offsets].map((o) => wall - o).sort((a, b) => a - b);
  for (const t of candidates) if (wallClock(t, timeZone) === wall) return t;
  // Midnight does not exist that day: the day begins at the transition, the first instant whose wall clock is
  // at or after 00:00. Wall time only moves forward across a gap, so a binary search between the candidates finds it.
  let lo = candidates[0];
  let hi = candidates[candidates.length - 1];
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (wallClock(mid, timeZone) >= wall) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** The bounds [start, end) of the local days `from` up to (not including) `from + days`. */
function daysBounds(from: LocalDate, days: number, timeZone: string): { start: number; end: number } {
  return { start: localMidnight(from, timeZone), end: localMidnight(addDays(from, days), timeZone) };
}

/**
 * The period an instant falls in under `rule`: `once` for non-recurring tasks; for daily tasks the local date
 * (`d2026-03-29`) and its bounds; for weekly ones the local date the week starts on (`w2026-03-23`, by
 * `weekStartsOn`) and the bounds of its seven local days. `start` is inclusive, `end` exclusive, so an instant
 * exactly at local midnight belongs to the new period.
 */
export function periodOf(rule: PeriodRule, instant: number): Period {
  if (rule.type !== 'recurring') return { period: ONCE_PERIOD };
  if (!Number.isFinite(instant)) throw new TypeError('periodOf needs a finite instant (ms since the epoch)');
  const timeZone = rule.timeZone ?? 'UTC';
  const weekly = rule.period === 'weekly';
  const length = weekly ? 7 : 1;
  const today = localDateOf(instant, timeZone);
  let first = weekly ? addDays(today, -((isoWeekday(today) - (rule.weekStartsOn ?? 1) + 7) % 7)) : today;
  let bounds = daysBounds(first, length, timeZone);
  // Where a fall-back crosses midnight, the repeated hour's local date is the previous day although it lies after
  // the next day began: the bounds, not the date, decide, so periods never overlap.
  if (instant >= bounds.end) {
    first = addDays(first, length);
    bounds = daysBounds(first, length, timeZone);
  }
  return { period: `${weekly ? 'w' : 'd'}${formatDate(first)}`, ...bounds };
}

/**
 * The bounds of a period id under `rule` (the inverse of `periodOf`): undefined for `once`; throws on an id
 * that is not this rule's kind of period or not a real date.
 */
export function periodBounds(rule: PeriodRule, period: string): { start: number; end: number } | undefined {
  if (rule.type !== 'recurring') {
    if (period !== ONCE_PERIOD) throw new TypeError(`a ${rule.type} task has the single period "${ONCE_PERIOD}", not ${JSON.stringify(period)}`);
    return undefined;
  }
  const weekly = rule.period === 'weekly';
  const m = /^([dw])(\d{4})-(\d{2})-(\d{2})$/.exec(period);
  if (!m || m[1] !== (weekly ? 'w' : 'd')) throw new TypeError(`a ${rule.period} period is "${weekly ? 'w' : 'd'}YYYY-MM-DD", not ${JSON.stringify(period)}`);
  const date = { year: Number(m[2]), month: Number(m[3]), day: Number(m[4]) };
  if (formatDate(addDays(date, 0)) !== `${m[2]}-${m[3]}-${m[4]}`) throw new TypeError(`${JSON.stringify(period)} is not a real date`);
  if (weekly && isoWeekday(date) !== (rule.weekStartsOn ?? 1)) throw new TypeError(`${JSON.stringify(period)} does not start on ISO weekday ${rule.weekStartsOn ?? 1}`);
  return daysBounds(date, weekly ? 7 : 1, rule.timeZone ?? 'UTC');
}
