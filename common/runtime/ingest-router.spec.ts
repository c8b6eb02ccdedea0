import { ErrorCode } from '../errors';
import { routeIngestEntry } from './ingest-router';

const routes = [{ event: 'coupon.used', actor: 'referral', idField: 'applicationId', messageType: 'TaskCompleted' }];

describe('routeIngestEntry (plain XADD fields → actor message)', () => {
  it('routes the direct form', () => {
    expect(routeIngestEntry('1-0', { actor: 'counter', id: 'a', type: 'increment', payload: '{"by":2}' }, [], 1000)).toEqual({
      actor: 'counter', id: 'a', message: { by: 2, type: 'increment' }, messageId: 'ingest:1-0',
    });
  });

  it('routes an event by rule, id from a payload field, keeping the event id for dedup', () => {
    const r = routeIngestEntry('1-0', { event: 'coupon.used', eventId: 'ev9', payload: '{"applicationId":"app1","at":5}' }, routes, 1000);
    expect(r).toEqual({ actor: 'referral', id: 'app1', message: { applicationId: 'app1', at: 5, type: 'TaskCompleted' }, messageId: 'event:ev9' });
  });

  it('takes the id from a plain field too', () => {
    expect(routeIngestEntry('1-0', { event: 'coupon.used', applicationId: 'app2' }, routes, 1000).id).toBe('app2');
  });

  it.each([
    ['neither actor nor event', { foo: 'bar' }, ErrorCode.Unroutable],
    ['an event no rule matches', { event: 'nope' }, ErrorCode.Unroutable],
    ['a routed event without its id', { event: 'coupon.used' }, ErrorCode.Unroutable],
    ['payload that is not JSON', { actor: 'counter', id: 'a', type: 'x', payload: '{' }, ErrorCode.DecodeFailed],
    ['payload that is an array', { actor: 'counter', id: 'a', type: 'x', payload: '[1]' }, ErrorCode.DecodeFailed],
    ['payload nested too deep', { actor: 'counter', id: 'a', type: 'x', payload: '['.repeat(0) + '{"a":'.repeat(40) + '1' + '}'.repeat(40) }, ErrorCode.DecodeFailed],
    ['an id with a hash-tag brace', { actor: 'counter', id: 'a{b}', type: 'x' }, ErrorCode.InvalidId],
    ['an id with a control character', { actor: 'counter', id: 'a\nb', type: 'x' }, ErrorCode.InvalidId],
    ['a bad actor type', { actor: 'Counter!', id: 'a', type: 'x' }, ErrorCode.InvalidId],
    ['a direct entry without type', { actor: 'counter', id: 'a' }, ErrorCode.InvalidMessage],
    ['an oversized entry', { actor: 'counter', id: 'a', type: 'x', payload: JSON.stringify({ s: 'x'.repeat(2000) }) }, ErrorCode.EntryTooLarge],
  ])('refuses %s with a coded, readable error', (_what, fields, code) => {
    expect(() => routeIngestEntry('1-0', fields as Record<string, string>, routes, 1000)).toThrow(expect.objectContaining({ code }));
  });
});
