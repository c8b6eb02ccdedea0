import { assertValidId } from '../../../common/ids';
import { DEFAULTS } from '../../../common/constants';
import { taskActorId } from '../../../actors/task/task.types';
import { GatewayError } from '../gateway.errors';
import { CLAIM_OPERATION, claimKey } from './task-claims';
import { claimBodySchema, parseCursor, parseDefinitionBody, parseFlowBody, parseIdempotencyKey, parseIfMatch, parseLimit, parseOptionalBody, parseReceiptBody } from './tasks.validation';

/** The GatewayError `fn` throws (fails the test if it throws nothing or something else). */
function refusal(fn: () => unknown): GatewayError {
  try {
    fn();
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
  throw new Error('expected a GatewayError');
}

describe('task route validation', () => {
  it('a definition takes merchantId and id from the path; a body naming others is refused with every problem listed', () => {
    expect(parseDefinitionBody({ name: 'n', type: 'one-shot', events: ['order.paid'] }, 'shop1', 'first')).toMatchObject({ id: 'first', merchantId: 'shop1', status: 'ACTIVE', enrolment: 'claim' });
    const err = refusal(() => parseDefinitionBody({ id: 'other', merchantId: 'shop2', type: 'cumulative', target: 0, events: [], status: 'ENDED' }, 'shop1', 'first'));
    expect(err.getStatus()).toBe(400);
    expect(err.code).toBe('INVALID_TASK_DEFINITION');
    for (const part of ['id: "other" differs from the path\'s "first"', 'merchantId: "shop2" differs', 'status: ENDED is set by POST /merchants/shop1/tasks/first/end', 'name:', 'events:', 'target:']) {
      expect(err.message).toContain(part);
    }
    expect(refusal(() => parseDefinitionBody('x', 'shop1', 'first')).message).toBe('the task definition must be a JSON object sent with Content-Type: application/json');
  });

  it('a flow body likewise', () => {
    expect(parseFlowBody({ steps: [{ type: 'coupon', template: 'c10' }] }, 'shop1', 'f1')).toEqual({ id: 'f1', merchantId: 'shop1', steps: [{ type: 'coupon', template: 'c10' }] });
    expect(refusal(() => parseFlowBody({ steps: [] }, 'shop1', 'f1'))).toMatchObject({ code: 'INVALID_REWARD_FLOW', message: expect.stringContaining('steps:') });
  });

  it('If-Match takes a version, a quoted ETag or a weak one; anything else is a 400', () => {
    expect(parseIfMatch(undefined)).toBeUndefined();
    expect(parseIfMatch('3')).toBe(3);
    expect(parseIfMatch('"3"')).toBe(3);
    expect(parseIfMatch('W/"12"')).toBe(12);
    expect(parseIfMatch('0')).toBe(0);
    expect(refusal(() => parseIfMatch('*'))).toMatchObject({ code: 'INVALID_IF_MATCH' });
    expect(refusal(() => parseIfMatch('-1'))).toMatchObject({ code: 'INVALID_IF_MATCH' });
  });

  it('Idempotency-Key, limits and cursors', () => {
    expect(parseIdempotencyKey('9b2f6c1e-8a0d-4a51-b9a4-0e0c4e3f9a10')).toBe('9b2f6c1e-8a0d-4a51-b9a4-0e0c4e3f9a10');
    expect(refusal(() => parseIdempotencyKey('a b'))).toMatchObject({ code: 'INVALID_IDEMPOTENCY_KEY' });
    expect(refusal(() => parseIdempotencyKey('k'.repeat(65)))).toMatchObject({ code: 'INVALID_IDEMPOTENCY_KEY' });
    expect(parseLimit(undefined, 100, 50)).toBe(50);
    expect(parseLimit('7', 100, 50)).toBe(7);
    expect(refusal(() => parseLimit('101', 100, 50))).toMatchObject({ code: 'INVALID_QUERY' });
    expect(parseCursor(undefined)).toBe('0');
    expect(refusal(() => parseCursor('abc'))).toMatchObject({ code: 'INVALID_QUERY' });
  });

  it('an absent claim body is {}; a stray field is refused', () => {
    expect(parseOptionalBody(claimBodySchema, undefined, 'claim request', 'INVALID_CLAIM')).toEqual({});
    expect(parseOptionalBody(claimBodySchema, { channel: 'app' }, 'claim request', 'INVALID_CLAIM')).toEqual({ channel: 'app' });
    expect(refusal(() => parseOptionalBody(claimBodySchema, { channel: 'app', x: 1 }, 'claim request', 'INVALID_CLAIM'))).toMatchObject({ code: 'INVALID_CLAIM', message: expect.stringMatching(/^invalid claim request: /) });
    expect(refusal(() => parseOptionalBody(claimBodySchema, [1], 'claim request', 'INVALID_CLAIM'))).toMatchObject({ code: 'INVALID_CLAIM' });
  });

  it('a receipt body: occurredAt defaults to now; problems are a 400 INVALID_RECEIPT', () => {
    expect(parseReceiptBody({ userId: 'u', event: 'order.paid', eventId: 'e' }, 5)).toEqual({ userId: 'u', event: 'order.paid', eventId: 'e', occurredAt: 5 });
    expect(refusal(() => parseReceiptBody({ userId: 'u:1', event: 'order.paid', eventId: 'e' }, 5))).toMatchObject({ code: 'INVALID_RECEIPT', message: expect.stringContaining("userId must not contain ':'") });
  });

  it('the longest ids still make valid task ids and claim idempotency keys', () => {
    const userId = 'u'.repeat(100);
    const taskDefId = 'd'.repeat(64);
    const period = 'w2026-12-28';
    expect(taskActorId(userId, taskDefId, period).length).toBeLessThanOrEqual(DEFAULTS.maxIdLength);
    for (const key of [claimKey(userId, taskDefId, period), claimKey(userId, taskDefId, period, 'k'.repeat(64))]) {
      expect(() => assertValidId(`${CLAIM_OPERATION}:${key}`, 'idempotency key')).not.toThrow();
    }
  });
});
