import fc from 'fast-check';
import { TerminalError } from '../../common/errors';
import { INVALID_RECEIPT, parseReceipt, Receipt, routeReceipt } from './task.routing';
import { taskDefinitionSchema } from './task.definition';

const RUNS = 10_000;
const FIELDS = ['userId', 'event', 'eventId', 'occurredAt', 'amount', 'fields'];

/** Values near a valid receipt's, so generated objects often sit one field away from one. */
const plausible = fc.oneof(
  fc.constantFrom('alice', 'a:b', 'a{b}', '', 'u'.repeat(101), 'order.paid', 'Order.Paid', 'o-1', '__proto__', 'x\u0000y'),
  fc.constantFrom(0, 1, -1, 1.5, 1e300, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2, Number.NaN, Number.POSITIVE_INFINITY, 1_700_000_000_000),
  fc.constant({ paid: '12.5', vip: true }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.string({ maxLength: 8 }), fc.double(), fc.boolean(), fc.constant(null), fc.constant({})), { maxKeys: 40 }),
);
const nearReceipt = fc.record(Object.fromEntries([...FIELDS, 'extra'].map((f) => [f, fc.oneof({ arbitrary: plausible, weight: 3 }, { arbitrary: fc.jsonValue({ maxDepth: 2 }), weight: 1 })])), { requiredKeys: [] });

/** Valid receipts, sometimes with one field replaced by a plausible or arbitrary value. */
const validReceipt = fc.record(
  {
    userId: fc.stringMatching(/^[A-Za-z0-9_.@-]{1,24}$/),
    event: fc.constantFrom('order.paid', 'user.signed_in', 'coupon.used'),
    eventId: fc.stringMatching(/^[A-Za-z0-9:_-]{1,24}$/),
    occurredAt: fc.oneof(fc.integer({ min: 0, max: 4_102_444_800_000 }), fc.integer({ min: 0, max: 253_402_300_799_999 })),
    amount: fc.double({ min: 0, max: 1e6, noNaN: true }),
    fields: fc.dictionary(fc.constantFrom('paid', 'amount', 'shop', 'vip'), fc.oneof(fc.string({ maxLength: 8 }), fc.double(), fc.boolean(), fc.constant(null))),
  },
  { requiredKeys: ['userId', 'event', 'eventId', 'occurredAt'] },
);
const mutated = fc.tuple(validReceipt, fc.constantFrom(...FIELDS, 'extra'), fc.oneof(plausible, fc.jsonValue({ maxDepth: 2 }))).map(([r, field, value]) => ({ ...r, [field]: value }));

const definitions = [
  { id: 'buy3', type: 'cumulative', target: 3 },
  { id: 'spend', type: 'cumulative', target: 500, measure: 'amount', amountField: 'paid' },
  { id: 'daily', type: 'recurring', period: 'daily', target: 1, enrolment: 'auto', timeZone: 'Asia/Shanghai' },
  { id: 'weekly', type: 'recurring', period: 'weekly', target: 2, enrolment: 'auto', measure: 'amount' },
].map((d, i) => ({ kind: 'task', id: d.id, version: i + 1, updatedAt: 0, value: taskDefinitionSchema.parse({ merchantId: 'm', name: d.id, events: ['order.paid', 'user.signed_in'], ...d }) }));

describe('parseReceipt under generated input', () => {
  it('never crashes: 10,000 inputs give a valid receipt or a TerminalError INVALID_RECEIPT with a message; valid ones route without throwing', () => {
    fc.assert(
      fc.property(fc.oneof(validReceipt, mutated, nearReceipt, fc.anything()), fc.option(fc.nat(), { nil: undefined }), (raw, now) => {
        let receipt: Receipt;
        try {
          receipt = parseReceipt(raw, now);
        } catch (err) {
          // Plain checks, not expect(): 10,000 runs of expect() cost more than the parsing under test.
          if (!(err instanceof TerminalError) || err.code !== INVALID_RECEIPT || !err.message.startsWith('invalid receipt: ') && !err.message.startsWith('a receipt must be')) {
            throw new Error(`parseReceipt threw something other than INVALID_RECEIPT: ${String((err as Error)?.stack ?? err)}`);
          }
          return;
        }
        if (receipt.userId.includes(':') || !/^[a-z][a-z0-9_.-]*$/.test(receipt.event) || !Number.isSafeInteger(receipt.occurredAt) || receipt.occurredAt < 0 || receipt.occurredAt > 253_402_300_799_999) {
          throw new Error(`accepted an invalid receipt: ${JSON.stringify(receipt)}`);
        }
        if (receipt.amount !== undefined && !(Number.isFinite(receipt.amount) && receipt.amount >= 0)) throw new Error(`accepted amount ${receipt.amount}`);
        const { targets, skipped } = routeReceipt(receipt, { definitions, subscribed: [{ taskId: `${receipt.userId}:buy3:once` }, { taskId: `${receipt.userId}:spend:once` }] });
        for (const t of targets) {
          if (!(t.message.amount > 0) || t.message.eventId !== receipt.eventId) throw new Error(`bad target ${JSON.stringify(t)}`);
        }
        if (targets.length + skipped.length < 2) throw new Error('a subscribed task was neither routed nor skipped');
      }),
      { numRuns: RUNS },
    );
  });
});
