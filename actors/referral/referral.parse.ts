import type { CallReply } from '../../common/actor';
import { assertValidId } from '../../common/ids';
import { parseTaskTerms } from '../task/task.parse';
import { DEFAULT_REFERRAL_SETTINGS, ReferralMessage, ReferralSettings } from './referral.types';

type Raw = Record<string, unknown>;

const HOUR_MS = 3_600_000;
const MAX_DEADLINE_HOURS = 24 * 366;
const MAX_RETRIES = 100;
const MAX_BACKOFF_MS = 24 * HOUR_MS;
const MAX_REASON_LENGTH = 500;

/** An id that may reach keys and logs: non-empty, at most 200 characters, no braces or control characters. */
function id(m: Raw, field: string, what: string): string {
  return assertValidId(m[field], `${what}.${field}`);
}

function optionalId(m: Raw, field: string, what: string): string | undefined {
  return m[field] === undefined ? undefined : id(m, field, what);
}

/** Free text a person wrote (an operator's reason): 1 to `max` characters, no control characters. */
function text(value: unknown, what: string, max: number): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > max) throw new TypeError(`${what} must be a string of 1 to ${max} characters`);
  // Control characters would garble logs and terminals that show the reason.
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new TypeError(`${what} must not contain control characters`);
  return value;
}

function time(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new TypeError(`${what} must be a time in ms since the epoch (a non-negative integer)`);
  }
  return value;
}

function intIn(value: unknown, min: number, max: number, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new TypeError(`${what} must be an integer from ${min} to ${max}`);
  }
  return value;
}

/**
 * Fills an Accept's partial settings from the defaults and checks them together (base ≤ cap), so every
 * accepted application carries a complete, valid set.
 */
export function resolveSettings(partial: Partial<ReferralSettings> = {}): ReferralSettings {
  const s = { ...DEFAULT_REFERRAL_SETTINGS, ...partial };
  if (typeof s.taskDeadlineHours !== 'number' || !(s.taskDeadlineHours > 0) || s.taskDeadlineHours > MAX_DEADLINE_HOURS) {
    throw new TypeError(`settings.taskDeadlineHours must be a number above 0 and at most ${MAX_DEADLINE_HOURS}`);
  }
  intIn(s.maxRetries, 0, MAX_RETRIES, 'settings.maxRetries');
  intIn(s.backoffBaseMs, 1, MAX_BACKOFF_MS, 'settings.backoffBaseMs');
  intIn(s.backoffCapMs, 1, MAX_BACKOFF_MS, 'settings.backoffCapMs');
  intIn(s.completionGraceMs, 0, MAX_BACKOFF_MS, 'settings.completionGraceMs');
  if (s.backoffBaseMs > s.backoffCapMs) throw new TypeError('settings.backoffBaseMs must not exceed settings.backoffCapMs');
  return s;
}

function parseSettings(raw: unknown): Partial<ReferralSettings> | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new TypeError('Accept.settings must be an object');
  const known = new Set(Object.keys(DEFAULT_REFERRAL_SETTINGS));
  const unknown = Object.keys(raw).filter((k) => !known.has(k));
  // A misspelt setting would silently fall back to its default: refuse it instead.
  if (unknown.length > 0) throw new TypeError(`Accept.settings has unknown fields: ${unknown.join(', ')}`);
  const partial = raw as Partial<ReferralSettings>;
  resolveSettings(partial);
  return partial;
}

function parseReply<T extends string>(m: Raw, type: T): CallReply<T> {
  const key = id(m, 'key', type);
  if (m.ok === true) return { type, key, ok: true, value: m.value };
  if (m.ok !== false) throw new TypeError(`${type}.ok must be true or false`);
  const e = m.error as Raw | null | undefined;
  if (typeof e !== 'object' || e === null || typeof e.code !== 'string' || e.code.length === 0 || typeof e.message !== 'string' || typeof e.retryable !== 'boolean') {
    throw new TypeError(`${type} with ok: false needs error { code: non-empty string, message: string, retryable: boolean }`);
  }
  return { type, key, ok: false, error: { code: e.code, message: e.message, retryable: e.retryable } };
}

/**
 * Validates a raw referral message and returns it typed; throws with a reason a person can act on. The
 * runtime dead-letters what this refuses, so a malformed message never reaches `decide`.
 */
export function parseReferralMessage(raw: unknown): ReferralMessage {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new TypeError('a referral message must be an object');
  const m = raw as Raw;
  switch (m.type) {
    case 'Accept': {
      const device = optionalId(m, 'device', 'Accept');
      const ip = optionalId(m, 'ip', 'Accept');
      const sharerDevice = optionalId(m, 'sharerDevice', 'Accept');
      const sharerIp = optionalId(m, 'sharerIp', 'Accept');
      const settings = parseSettings(m.settings);
      const presetTask = m.presetTask === undefined ? undefined : parseTaskTerms(m.presetTask);
      return {
        type: 'Accept',
        activityId: id(m, 'activityId', 'Accept'),
        sharerId: id(m, 'sharerId', 'Accept'),
        inviteeId: id(m, 'inviteeId', 'Accept'),
        ...(device !== undefined ? { device } : {}),
        ...(ip !== undefined ? { ip } : {}),
        ...(sharerDevice !== undefined ? { sharerDevice } : {}),
        ...(sharerIp !== undefined ? { sharerIp } : {}),
        ...(settings !== undefined ? { settings } : {}),
        ...(presetTask !== undefined ? { presetTask } : {}),
      };
    }
    case 'TaskCompleted': {
      const eventId = optionalId(m, 'eventId', 'TaskCompleted');
      return { type: 'TaskCompleted', occurredAt: time(m.occurredAt, 'TaskCompleted.occurredAt'), ...(eventId !== undefined ? { eventId } : {}) };
    }
    case 'RetryFromOps': {
      const operator = optionalId(m, 'operator', 'RetryFromOps');
      return { type: 'RetryFromOps', ...(operator !== undefined ? { operator } : {}) };
    }
    case 'TerminateFromOps': {
      const reason = m.reason === undefined ? undefined : text(m.reason, 'TerminateFromOps.reason', MAX_REASON_LENGTH);
      return { type: 'TerminateFromOps', operator: id(m, 'operator', 'TerminateFromOps'), ...(reason !== undefined ? { reason } : {}) };
    }
    case 'TaskDeadline':
      return { type: 'TaskDeadline' };
    case 'Retry':
      return { type: 'Retry' };
    case 'RelationResult':
    case 'SharerRewardResult':
    case 'InviteeRewardResult':
      return parseReply(m, m.type);
    default:
      throw new TypeError(`unknown referral message type ${JSON.stringify(m.type)}`);
  }
}
