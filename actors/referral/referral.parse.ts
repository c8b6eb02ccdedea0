import { callReply, id, intIn, object, optionalId, text, time } from '../shared/parse';
import { parseTaskTerms } from '../task/task.parse';
import { DEFAULT_REFERRAL_SETTINGS, ReferralMessage, ReferralSettings } from './referral.types';

const HOUR_MS = 3_600_000;
const MAX_DEADLINE_HOURS = 24 * 366;
const MAX_RETRIES = 100;
const MAX_BACKOFF_MS = 24 * HOUR_MS;
const MAX_REASON_LENGTH = 500;

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
  const settings = object(raw, 'Accept.settings');
  const known = new Set(Object.keys(DEFAULT_REFERRAL_SETTINGS));
  const unknown = Object.keys(settings).filter((k) => !known.has(k));
  // A misspelt setting would silently fall back to its default: refuse it instead.
  if (unknown.length > 0) throw new TypeError(`Accept.settings has unknown fields: ${unknown.join(', ')}`);
  const partial = settings as Partial<ReferralSettings>;
  resolveSettings(partial);
  return partial;
}

/**
 * Validates a raw referral message and returns it typed; throws with a reason a person can act on. The
 * runtime dead-letters what this refuses, so a malformed message never reaches `decide`.
 */
export function parseReferralMessage(raw: unknown): ReferralMessage {
  const m = object(raw, 'a referral message');
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
      return callReply(m, m.type);
    default:
      throw new TypeError(`unknown referral message type ${JSON.stringify(m.type)}`);
  }
}
