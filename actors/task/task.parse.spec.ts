import fc from 'fast-check';
import { ErrorCode, TerminalError } from '../../common/errors';
import { taskDefinitionSchema, termsOf } from './task.definition';
import { parseTaskMessage } from './task.parse';

const T0 = 1_767_603_600_000;
const TERMS = termsOf(
  taskDefinitionSchema.parse({ id: 'def1', merchantId: 'm1', name: 'n', type: 'staged', events: ['order.paid'], measure: 'amount', stages: [{ threshold: 10, flow: 'a' }, { threshold: 50 }] }),
  3,
);
const CLAIM = { type: 'Claim', userId: 'alice', period: 'once', terms: TERMS, claimedAt: T0 };
const PROGRESS = { type: 'Progress', eventId: 'ord-1', event: 'order.paid', occurredAt: T0, amount: 12.5 };

/** The message `parseTaskMessage` throws for `raw`. */
function refusal(raw: unknown): string {
  try {
    parseTaskMessage(raw);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(raw)}`);
}

describe('parseTaskMessage: valid messages', () => {
  it('a Claim with terms from termsOf, period bounds, deadline, grace and origin comes back equal', () => {
    const claim = { ...CLAIM, period: 'd2026-01-05', periodStart: T0, periodEnd: T0 + 86_400_000, deadline: T0 + 5, graceMs: 1_000, origin: { type: 'referral', id: 'summer:bob' } };
    expect(parseTaskMessage(claim)).toEqual(claim);
  });

  it('unknown fields are dropped, not passed on', () => {
    expect(parseTaskMessage({ ...PROGRESS, extra: 1 })).toEqual(PROGRESS);
    expect(parseTaskMessage({ ...CLAIM, terms: { ...TERMS, extra: true } })).toEqual(CLAIM);
  });

  it('Progress with enrol, timers, Terminate, RetryFromOps and both replies', () => {
    const { type: _type, ...enrol } = CLAIM;
    expect(parseTaskMessage({ ...PROGRESS, enrol })).toEqual({ ...PROGRESS, enrol });
    for (const type of ['Deadline', 'Retry', 'Replay']) expect(parseTaskMessage({ type, junk: 1 })).toEqual({ type });
    expect(parseTaskMessage({ type: 'Terminate', by: 'merchant', operator: 'm1', reason: 'campaign over' })).toEqual({ type: 'Terminate', by: 'merchant', operator: 'm1', reason: 'campaign over' });
    expect(parseTaskMessage({ type: 'RetryFromOps' })).toEqual({ type: 'RetryFromOps' });
    const value = { flow: 'a', flowVersion: 2, steps: [] };
    expect(parseTaskMessage({ type: 'RewardResult', key: 'alice:def1:once#s0', ok: true, value })).toEqual({ type: 'RewardResult', key: 'alice:def1:once#s0', ok: true, value });
    const error = { code: 'CALL_TIMEOUT', message: 'no reply', retryable: true };
    expect(parseTaskMessage({ type: 'SubscriptionResult', key: 'k', ok: false, error })).toEqual({ type: 'SubscriptionResult', key: 'k', ok: false, error });
  });
});

describe('parseTaskMessage: bad input is refused with a reason naming the field', () => {
  it.each<[string, unknown, RegExp]>([
    ['not an object', 'Claim', /a task message must be an object/],
    ['an array', [CLAIM], /a task message must be an object/],
    ['unknown type', { type: 'Explode' }, /unknown task message type "Explode"/],
    ['no type', {}, /unknown task message type/],
    ['user id with a brace', { ...CLAIM, userId: 'a{b}' }, /Claim\.userId must not contain '\{', '\}' or control characters/],
    ['empty period', { ...CLAIM, period: '' }, /Claim\.period must be a non-empty string/],
    ['negative claim time', { ...CLAIM, claimedAt: -1 }, /Claim\.claimedAt must be a time in ms/],
    ['fractional claim time', { ...CLAIM, claimedAt: 1.5 }, /Claim\.claimedAt must be a time in ms/],
    ['unsafe claim time', { ...CLAIM, claimedAt: 2 ** 53 }, /Claim\.claimedAt must be a time in ms/],
    ['period start without end', { ...CLAIM, periodStart: T0 }, /periodStart and Claim\.periodEnd come together/],
    ['period end before start', { ...CLAIM, periodStart: T0, periodEnd: T0 }, /periodEnd must be after/],
    ['deadline as a string', { ...CLAIM, deadline: '2026-01-01' }, /Claim\.deadline must be a time/],
    ['negative grace', { ...CLAIM, graceMs: -1 }, /Claim\.graceMs must be an integer from 0/],
    ['origin with a bad type', { ...CLAIM, origin: { type: 'Referral!', id: 'x' } }, /Claim\.origin\.type must match/],
    ['no terms', { ...CLAIM, terms: undefined }, /Claim\.terms must be an object/],
    ['unknown task type', { ...CLAIM, terms: { ...TERMS, type: 'weekly' } }, /terms\.type must be one of one-shot, cumulative, staged, deadline, recurring/],
    ['no events', { ...CLAIM, terms: { ...TERMS, events: [] } }, /terms\.events must be an array of 1 to 16/],
    ['an upper-case event', { ...CLAIM, terms: { ...TERMS, events: ['Order.Paid'] } }, /terms\.events\[0\] must be an event type/],
    ['unknown measure', { ...CLAIM, terms: { ...TERMS, measure: 'sum' } }, /terms\.measure must be "count" or "amount"/],
    ['stages not ascending', { ...CLAIM, terms: { ...TERMS, stages: [{ threshold: 5 }, { threshold: 5 }] } }, /terms\.stages\[1\]\.threshold must be above the previous stage's/],
    ['zero threshold', { ...CLAIM, terms: { ...TERMS, stages: [{ threshold: 0 }] } }, /terms\.stages\[0\]\.threshold must be a finite number above 0/],
    ['infinite threshold', { ...CLAIM, terms: { ...TERMS, stages: [{ threshold: Infinity }] } }, /terms\.stages\[0\]\.threshold must be a finite number/],
    ['no stages', { ...CLAIM, terms: { ...TERMS, stages: [] } }, /terms\.stages must be an array of 1 to 20 stages/],
    ['a flow id with a brace', { ...CLAIM, terms: { ...TERMS, stages: [{ threshold: 1, flow: '{x}' }] } }, /terms\.stages\[0\]\.flow must not contain/],
    ['fractional retries', { ...CLAIM, terms: { ...TERMS, reward: { ...TERMS.reward, maxRetries: 1.5 } } }, /terms\.reward\.maxRetries must be an integer from 0 to 100/],
    ['base above cap', { ...CLAIM, terms: { ...TERMS, reward: { ...TERMS.reward, backoffBaseMs: 10_000, backoffCapMs: 1_000 } } }, /backoffBaseMs must not exceed/],
    ['no reward policy', { ...CLAIM, terms: { ...TERMS, reward: null } }, /terms\.reward must be an object/],
    ['withinMs zero', { ...CLAIM, terms: { ...TERMS, withinMs: 0 } }, /terms\.withinMs must be an integer from 1/],
    ['version negative', { ...CLAIM, terms: { ...TERMS, version: -1 } }, /terms\.version must be an integer from 0/],
    ['zero amount', { ...PROGRESS, amount: 0 }, /Progress\.amount must be a finite number above 0/],
    ['NaN amount', { ...PROGRESS, amount: NaN }, /Progress\.amount must be a finite number above 0/],
    ['amount as a string', { ...PROGRESS, amount: '5' }, /Progress\.amount must be a finite number/],
    ['no event id', { ...PROGRESS, eventId: undefined }, /Progress\.eventId must be a non-empty string/],
    ['an event id with a newline', { ...PROGRESS, eventId: 'a\nb' }, /Progress\.eventId must not contain/],
    ['an event id of 201 characters', { ...PROGRESS, eventId: 'x'.repeat(201) }, /Progress\.eventId is 201 characters long/],
    ['event type with spaces', { ...PROGRESS, event: 'order paid' }, /Progress\.event must be an event type/],
    ['an occurrence time beyond the safe integers', { ...PROGRESS, occurredAt: Number.MAX_VALUE }, /Progress\.occurredAt must be a time/],
    ['a bad enrol', { ...PROGRESS, enrol: { ...CLAIM, userId: '' } }, /Progress\.enrol\.userId must be a non-empty string/],
    ['enrol not an object', { ...PROGRESS, enrol: 'yes' }, /Progress\.enrol must be an object/],
    ['Terminate by someone else', { type: 'Terminate', by: 'user', operator: 'x' }, /Terminate\.by must be "merchant" or "ops"/],
    ['Terminate without operator', { type: 'Terminate', by: 'ops' }, /Terminate\.operator must be a non-empty string/],
    ['a reason with a control character', { type: 'Terminate', by: 'ops', operator: 'ann', reason: 'bad\u0007' }, /Terminate\.reason must not contain control characters/],
    ['a reason of 501 characters', { type: 'Terminate', by: 'ops', operator: 'ann', reason: 'r'.repeat(501) }, /Terminate\.reason must be a string of 1 to 500 characters/],
    ['an empty reason', { type: 'Terminate', by: 'ops', operator: 'ann', reason: '' }, /Terminate\.reason must be a string of 1 to 500/],
    ['a reply without key', { type: 'RewardResult', ok: true, value: {} }, /RewardResult\.key must be a non-empty string/],
    ['a reply with ok "yes"', { type: 'RewardResult', key: 'k', ok: 'yes' }, /RewardResult\.ok must be true or false/],
    ['a failed reply without error', { type: 'SubscriptionResult', key: 'k', ok: false }, /SubscriptionResult with ok: false needs error/],
    ['a failed reply with retryable "no"', { type: 'RewardResult', key: 'k', ok: false, error: { code: 'X', message: '', retryable: 'no' } }, /needs error \{ code/],
  ])('%s', (_name, raw, message) => {
    expect(refusal(raw)).toMatch(message);
  });
});

const TYPES = ['Claim', 'Progress', 'Deadline', 'Retry', 'Replay', 'Terminate', 'RetryFromOps', 'RewardResult', 'SubscriptionResult'];
const plausible = fc.oneof(
  fc.constantFrom(...TYPES, 'alice', 'a{b}', '', 'once', 'order.paid', 'merchant', 'ops', true, false, 0, -1, 1.5, T0, null, NaN),
  fc.constant(TERMS),
  fc.constant({ ...TERMS, stages: [{ threshold: 3 }, { threshold: 2 }] }),
  fc.constant({ code: 'E', message: 'm', retryable: false }),
);
const FIELDS = ['type', 'userId', 'period', 'terms', 'claimedAt', 'periodStart', 'periodEnd', 'deadline', 'graceMs', 'origin', 'eventId', 'event', 'occurredAt', 'amount', 'enrol', 'by', 'operator', 'reason', 'key', 'ok', 'value', 'error'];
const nearMessage = fc.record(Object.fromEntries(FIELDS.map((f) => [f, fc.oneof({ arbitrary: plausible, weight: 3 }, { arbitrary: fc.jsonValue({ maxDepth: 2 }), weight: 1 })])), { requiredKeys: [] });

describe('parseTaskMessage under generated objects', () => {
  it('any object: a typed message of its own type, or a TypeError / INVALID_ID TerminalError with a reason (never another crash)', () => {
    fc.assert(
      fc.property(fc.oneof(nearMessage, nearMessage, fc.anything()), (raw) => {
        let parsed;
        try {
          parsed = parseTaskMessage(raw);
        } catch (err) {
          const typed = (err instanceof TypeError && err.constructor === TypeError) || (err instanceof TerminalError && err.code === ErrorCode.InvalidId);
          if (!typed || (err as Error).message.length === 0) throw new Error(`parseTaskMessage threw ${String((err as Error)?.stack ?? err)}`);
          return;
        }
        if (!TYPES.includes(parsed.type) || (raw as { type?: unknown }).type !== parsed.type) throw new Error(`parsed ${JSON.stringify(parsed)} from ${JSON.stringify(raw)}`);
      }),
      { numRuns: 5_000 },
    );
  });
});
