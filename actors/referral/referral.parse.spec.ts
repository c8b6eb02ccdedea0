import { parseReferralMessage } from './referral.parse';

describe('parseReferralMessage', () => {
  it.each<[unknown]>([
    [{ type: 'Accept', activityId: 'a', sharerId: 's', inviteeId: 'i' }],
    [{ type: 'Accept', activityId: 'a', sharerId: 's', inviteeId: 'i', device: 'd', ip: '1.2.3.4', settings: { taskDeadlineHours: 0.5, completionGraceMs: 0 } }],
    [{ type: 'TaskCompleted', occurredAt: 5, eventId: 'e' }],
    [{ type: 'TaskCompleted', occurredAt: 5 }],
    [{ type: 'TaskDeadline' }],
    [{ type: 'Retry' }],
    [{ type: 'RetryFromOps', operator: 'ops-1' }],
    [{ type: 'TerminateFromOps', operator: 'ops-1' }],
    [{ type: 'TerminateFromOps', operator: 'ops-1', reason: 'the customer withdrew; ticket #42' }],
    [{ type: 'RelationResult', key: 'app1:relation', ok: true, value: { x: 1 } }],
    [{ type: 'SharerRewardResult', key: 'app1:sharer', ok: false, error: { code: 'CALL_TIMEOUT', message: 'late', retryable: true } }],
  ])('accepts %j unchanged', (raw) => {
    expect(parseReferralMessage(raw)).toEqual(raw);
  });

  it('drops fields a message does not define', () => {
    expect(parseReferralMessage({ type: 'TaskCompleted', occurredAt: 5, applicationId: 'app1', extra: true })).toEqual({ type: 'TaskCompleted', occurredAt: 5 });
  });

  it.each<[string, unknown, RegExp]>([
    ['not an object', null, /must be an object/],
    ['an unknown type', { type: 'Explode' }, /unknown referral message type "Explode"/],
    ['a missing sharerId', { type: 'Accept', activityId: 'a', inviteeId: 'i' }, /Accept\.sharerId must be a non-empty string/],
    ['an empty inviteeId', { type: 'Accept', activityId: 'a', sharerId: 's', inviteeId: '' }, /Accept\.inviteeId must be a non-empty string/],
    ['an id with a brace', { type: 'Accept', activityId: 'a{1}', sharerId: 's', inviteeId: 'i' }, /Accept\.activityId must not contain/],
    ['an id with a control character', { type: 'Accept', activityId: 'a', sharerId: 's\n', inviteeId: 'i' }, /Accept\.sharerId must not contain/],
    ['an id over 200 characters', { type: 'Accept', activityId: 'a', sharerId: 's'.repeat(201), inviteeId: 'i' }, /201 characters long; at most 200/],
    ['a numeric device', { type: 'Accept', activityId: 'a', sharerId: 's', inviteeId: 'i', device: 7 }, /Accept\.device/],
    ['settings that are not an object', { type: 'Accept', activityId: 'a', sharerId: 's', inviteeId: 'i', settings: 3 }, /settings must be an object/],
    ['a misspelt setting', { type: 'Accept', activityId: 'a', sharerId: 's', inviteeId: 'i', settings: { maxRetry: 3 } }, /unknown fields: maxRetry/],
    ['a zero deadline', { type: 'Accept', activityId: 'a', sharerId: 's', inviteeId: 'i', settings: { taskDeadlineHours: 0 } }, /taskDeadlineHours/],
    ['a fractional maxRetries', { type: 'Accept', activityId: 'a', sharerId: 's', inviteeId: 'i', settings: { maxRetries: 1.5 } }, /maxRetries must be an integer/],
    ['a base above the cap', { type: 'Accept', activityId: 'a', sharerId: 's', inviteeId: 'i', settings: { backoffBaseMs: 10, backoffCapMs: 5 } }, /must not exceed/],
    ['a string occurredAt', { type: 'TaskCompleted', occurredAt: '5', eventId: 'e' }, /occurredAt must be a time/],
    ['a negative occurredAt', { type: 'TaskCompleted', occurredAt: -1, eventId: 'e' }, /occurredAt must be a time/],
    ['a fractional occurredAt', { type: 'TaskCompleted', occurredAt: 1.5, eventId: 'e' }, /occurredAt must be a time/],
    ['an empty eventId', { type: 'TaskCompleted', occurredAt: 1, eventId: '' }, /TaskCompleted\.eventId must be a non-empty string/],
    ['a reply without key', { type: 'RelationResult', ok: true, value: 1 }, /RelationResult\.key must be a non-empty string/],
    ['a reply without ok', { type: 'SharerRewardResult', key: 'k' }, /ok must be true or false/],
    ['a failed reply without error', { type: 'InviteeRewardResult', key: 'k', ok: false }, /needs error \{ code/],
    ['a failed reply without retryable', { type: 'InviteeRewardResult', key: 'k', ok: false, error: { code: 'X', message: 'm' } }, /retryable: boolean/],
    ['an operator with a brace', { type: 'RetryFromOps', operator: '}' }, /RetryFromOps\.operator must not contain/],
    ['a terminate without operator', { type: 'TerminateFromOps', reason: 'x' }, /TerminateFromOps\.operator must be a non-empty string/],
    ['an empty terminate reason', { type: 'TerminateFromOps', operator: 'o', reason: '' }, /TerminateFromOps\.reason must be a string of 1 to 500/],
    ['a terminate reason over 500 characters', { type: 'TerminateFromOps', operator: 'o', reason: 'r'.repeat(501) }, /TerminateFromOps\.reason must be a string of 1 to 500/],
    ['a terminate reason with a newline', { type: 'TerminateFromOps', operator: 'o', reason: 'a\nb' }, /TerminateFromOps\.reason must not contain control characters/],
  ])('refuses %s with a clear reason', (_what, raw, reason) => {
    expect(() => parseReferralMessage(raw)).toThrow(reason);
  });
});
