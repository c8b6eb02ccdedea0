import { fnv1a } from '../../../../common';
import type { Activity, ApplyRequest, RejectionCode } from './activity.types';

/** The counter fields of one instant: the clock hour (velocity) and the day and ISO week in a time zone (caps). */
export interface PeriodKeys {
  hour: string;
  day: string;
  week: string;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The calendar date of `now` in `timeZone` (Intl, so DST and offsets follow the IANA database). */
export function localDate(now: number, timeZone: string): { year: number; month: number; day: number } {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
    formatters.set(timeZone, f);
  }
  const parts = Object.fromEntries(f.formatToParts(new Date(now)).map((p) => [p.type, p.value]));
  return { year: Number(parts.year), month: Number(parts.month), day: Number(parts.day) };
}

/**
 * Period fields for `now`: `d:YYYY-MM-DD` and `w:GGGG-Www` (ISO week, Monday first) of the local date in the
 * activity's time zone, and `h:<epoch hour>` for velocity. Computed here rather than in Lua, which has no
 * time zone database; the script only counts under the fields it is given.
 */
export function periodKeys(now: number, timeZone: string): PeriodKeys {
  const { year, month, day } = localDate(now, timeZone);
  // The local date as a UTC midnight: pure calendar arithmetic, no offsets left.
  const date = new Date(Date.UTC(year, month - 1, day));
  const weekday = date.getUTCDay() || 7;
  date.setUTCDate(date.getUTCDate() + 4 - weekday); // the Thursday of this ISO week decides its year
  const isoYear = date.getUTCFullYear();
  const week = Math.ceil(((date.getTime() - Date.UTC(isoYear, 0, 1)) / 86_400_000 + 1) / 7);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return {
    hour: `h:${Math.floor(now / 3_600_000)}`,
    day: `d:${year}-${pad(month)}-${pad(day)}`,
    week: `w:${isoYear}-W${pad(week)}`,
  };
}

/** Splits `total` over `n` buckets: each gets ⌊total/n⌋ and the first also the remainder, so the sum is `total`. */
export function splitBudget(total: number, n: number): number[] {
  const share = Math.floor(total / n);
  return Array.from({ length: n }, (_, i) => (i === 0 ? share + (total - share * n) : share));
}

/**
 * The order in which an application tries budget buckets: the one its idempotency key hashes to, then the
 * others in index order. Deterministic per key, so a retry walks the same buckets and finds its reservation.
 */
export function bucketOrder(idempotencyKey: string, n: number): number[] {
  const first = fnv1a(idempotencyKey) % n;
  return Array.from({ length: n }, (_, i) => (first + i) % n);
}

/** Whether the request's tags satisfy the activity's audience rule (an empty rule admits everyone). */
export function inAudience(rule: Activity['audience'], attributes: ApplyRequest['attributes']): boolean {
  const tags = new Set(attributes?.tags ?? []);
  if (rule.anyOf && rule.anyOf.length > 0 && !rule.anyOf.some((t) => tags.has(t))) return false;
  if (rule.allOf && !rule.allOf.every((t) => tags.has(t))) return false;
  if (rule.noneOf && rule.noneOf.some((t) => tags.has(t))) return false;
  return true;
}

/**
 * The checks that depend only on the definition and the request, in order: audience (the reward audience
 * unless another rule is given: the relation step passes `inviteeAudience`), self-referral, same device, same IP. Returns the first rejection (or null) and the flags of flag-only policies. The script
 * verifies the definition version these were computed on, so they hold at the moment it commits.
 */
export function pureVerdict(
  activity: Activity,
  req: Pick<ApplyRequest, 'userId' | 'attributes' | 'device' | 'ip' | 'sharer'>,
  audience: Activity['audience'] = activity.audience,
): {
  rejection: RejectionCode | null;
  flags: string[];
} {
  const flags: string[] = [];
  if (!inAudience(audience, req.attributes)) return { rejection: 'NOT_IN_AUDIENCE', flags };
  const sharer = req.sharer;
  if (sharer) {
    if (sharer.userId === req.userId) return { rejection: 'SELF_REFERRAL', flags };
    const checks: Array<[RejectionCode, 'reject' | 'flag' | 'off', boolean]> = [
      ['RISK_SAME_DEVICE', activity.risk.sameDevice, req.device !== undefined && req.device === sharer.device],
      ['RISK_SAME_IP', activity.risk.sameIp, req.ip !== undefined && req.ip === sharer.ip],
    ];
    for (const [code, action, hit] of checks) {
      if (!hit || action === 'off') continue;
      if (action === 'reject') return { rejection: code, flags };
      flags.push(code);
    }
  }
  return { rejection: null, flags };
}
