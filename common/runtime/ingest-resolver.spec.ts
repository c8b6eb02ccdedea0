import { ErrorCode, TerminalError } from '../errors';
import { IngestResolver, resolveIngestEntry, RoutedMessage } from './ingest-router';

const routes = [{ event: 'coupon.used', actor: 'referral', idField: 'applicationId', messageType: 'TaskCompleted' }];

/** A resolver fanning `order.paid` out to two counters, knowing no other event. */
const fanOut: IngestResolver = async (_entryId, fields, payload) => {
  if (fields.event !== 'order.paid') return null;
  return ['a', 'b'].map((id) => ({ actor: 'counter', id: `${fields.userId}-${id}`, message: { type: 'increment', by: payload.by }, messageId: `event:${fields.eventId}` }));
};

describe('resolveIngestEntry (static routes first, then the resolver for unrouted events)', () => {
  it('without a resolver answers exactly as routeIngestEntry, synchronously', () => {
    expect(resolveIngestEntry('1-0', { event: 'coupon.used', applicationId: 'app1', eventId: 'e1' }, routes, 1000)).toEqual([
      { actor: 'referral', id: 'app1', message: { applicationId: 'app1', type: 'TaskCompleted' }, messageId: 'event:e1' },
    ]);
    expect(() => resolveIngestEntry('1-0', { event: 'nope' }, routes, 1000)).toThrow(expect.objectContaining({ code: ErrorCode.Unroutable }));
  });

  it('a static route wins over the resolver; the direct form never reaches it', () => {
    const resolver = jest.fn(fanOut);
    const out = resolveIngestEntry('1-0', { event: 'coupon.used', applicationId: 'app1' }, routes, 1000, resolver) as RoutedMessage[];
    expect(out).toHaveLength(1);
    expect(resolveIngestEntry('1-0', { actor: 'counter', id: 'x', type: 'increment' }, routes, 1000, resolver)).toHaveLength(1);
    expect(resolver).not.toHaveBeenCalled();
  });

  it('hands an unrouted event to the resolver with its decoded payload: one message per target', async () => {
    const out = await resolveIngestEntry('1-0', { event: 'order.paid', userId: 'u1', eventId: 'o-7', payload: '{"by":3}' }, routes, 1000, fanOut);
    expect(out).toEqual([
      { actor: 'counter', id: 'u1-a', message: { type: 'increment', by: 3 }, messageId: 'event:o-7' },
      { actor: 'counter', id: 'u1-b', message: { type: 'increment', by: 3 }, messageId: 'event:o-7' },
    ]);
  });

  it('null from the resolver is UNROUTABLE, as without one; [] routes nowhere', async () => {
    await expect(resolveIngestEntry('1-0', { event: 'order.refunded' }, routes, 1000, fanOut)).rejects.toMatchObject({ code: ErrorCode.Unroutable, message: 'no ingest route matches event "order.refunded"' });
    await expect(resolveIngestEntry('1-0', { event: 'x' }, routes, 1000, async () => [])).resolves.toEqual([]);
  });

  it('the size and payload checks run before the resolver; what it answers is checked like any route', async () => {
    const resolver = jest.fn(fanOut);
    expect(() => resolveIngestEntry('1-0', { event: 'order.paid', payload: '{' }, routes, 1000, resolver)).toThrow(expect.objectContaining({ code: ErrorCode.DecodeFailed }));
    expect(() => resolveIngestEntry('1-0', { event: 'order.paid', payload: JSON.stringify({ s: 'x'.repeat(2000) }) }, routes, 1000, resolver)).toThrow(expect.objectContaining({ code: ErrorCode.EntryTooLarge }));
    expect(resolver).not.toHaveBeenCalled();
    const bad: IngestResolver = async () => [{ actor: 'counter', id: 'a{b}', message: { type: 'x' }, messageId: 'event:1' }];
    await expect(resolveIngestEntry('1-0', { event: 'order.paid' }, routes, 1000, bad)).rejects.toMatchObject({ code: ErrorCode.InvalidId });
  });

  it("the resolver's own TerminalError reaches the caller with its code", async () => {
    const refusing: IngestResolver = async () => {
      throw new TerminalError('INVALID_RECEIPT', 'eventId is required');
    };
    await expect(resolveIngestEntry('1-0', { event: 'order.paid' }, routes, 1000, refusing)).rejects.toMatchObject({ code: 'INVALID_RECEIPT' });
  });
});
