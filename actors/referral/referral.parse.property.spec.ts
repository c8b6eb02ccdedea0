import fc from 'fast-check';
import { ErrorCode, TerminalError } from '../../common/errors';
import { parseReferralMessage } from './referral.parse';

const TYPES = ['Accept', 'TaskCompleted', 'RetryFromOps', 'TerminateFromOps', 'TaskDeadline', 'Retry', 'RelationResult', 'SharerRewardResult', 'InviteeRewardResult'];
const FIELDS = ['type', 'activityId', 'sharerId', 'inviteeId', 'device', 'ip', 'sharerDevice', 'sharerIp', 'settings', 'eventId', 'occurredAt', 'operator', 'reason', 'key', 'ok', 'value', 'error'];

const plausible = fc.oneof(
  fc.constantFrom(...TYPES, 'alice', 'a{b}', '', 'x'.repeat(201), true, false, 0, -1, 1.5, 1_700_000_000_000, null),
  fc.constant({ code: 'E', message: 'm', retryable: false }),
  fc.record({ taskDeadlineHours: fc.oneof(fc.integer(), fc.double()), maxRetries: fc.integer(), backoffBaseMs: fc.integer(), backoffCapMs: fc.integer(), typo: fc.nat() }, { requiredKeys: [] }),
);
const nearMessage = fc.record(Object.fromEntries(FIELDS.map((f) => [f, fc.oneof({ arbitrary: plausible, weight: 3 }, { arbitrary: fc.jsonValue({ maxDepth: 2 }), weight: 1 })])), { requiredKeys: [] });

describe('parseReferralMessage under generated objects', () => {
  it('any object: a typed message, or a TypeError / INVALID_ID TerminalError with a reason (the turn dead-letters either as INVALID_MESSAGE)', () => {
    fc.assert(
      fc.property(fc.oneof(nearMessage, nearMessage, fc.anything()), (raw) => {
        let parsed;
        try {
          parsed = parseReferralMessage(raw);
        } catch (err) {
          const typed = (err instanceof TypeError && err.constructor === TypeError) || (err instanceof TerminalError && err.code === ErrorCode.InvalidId);
          if (!typed || (err as Error).message.length === 0) throw new Error(`parseReferralMessage threw ${String((err as Error)?.stack ?? err)}`);
          return;
        }
        if (!TYPES.includes(parsed.type) || (raw as { type?: unknown }).type !== parsed.type) throw new Error(`parsed ${JSON.stringify(parsed)} from ${JSON.stringify(raw)}`);
      }),
      { numRuns: 10_000 },
    );
  });
});
