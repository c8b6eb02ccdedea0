import type { ConfigItem } from '../../common/config-center/types';
import { TerminalError } from '../../common/errors';
import { TaskDefinition, TaskDefinitionInput, taskDefinitionSchema, termsOf } from './task.definition';
import { INVALID_RECEIPT, parseReceipt, Receipt, RECEIPT_SKIPS, routeReceipt } from './task.routing';

const T0 = Date.UTC(2026, 2, 10, 12, 0, 0); // 2026-03-10 12:00 UTC, a Tuesday

function item(input: Partial<TaskDefinitionInput> & { id: string; type: TaskDefinitionInput['type'] }, version = 1): ConfigItem<TaskDefinition> {
  const value = taskDefinitionSchema.parse({ merchantId: 'shop1', name: input.id, events: ['order.paid'], ...input });
  return { kind: 'task', id: input.id, version, value, updatedAt: 0 };
}

const receipt = (extra: Partial<Receipt> = {}): Receipt => ({ userId: 'alice', event: 'order.paid', eventId: 'o-1', occurredAt: T0, ...extra });

const buy3 = item({ id: 'buy3', type: 'cumulative', target: 3 });
const spend = item({ id: 'spend', type: 'cumulative', target: 500, measure: 'amount', amountField: 'paid' });
const daily = item({ id: 'daily', type: 'recurring', period: 'daily', target: 1, enrolment: 'auto', timeZone: 'Asia/Shanghai' }, 4);
const firstOrder = item({ id: 'first', type: 'one-shot', enrolment: 'auto' }, 2);

describe('routeReceipt: the tasks one receipt counts for', () => {
  it('a claimed (subscribed) count task gets Progress of 1 under the event id, without enrol', () => {
    const out = routeReceipt(receipt({ amount: 99 }), { definitions: [buy3], subscribed: [{ taskId: 'alice:buy3:once' }] });
    expect(out).toEqual({
      targets: [{ taskId: 'alice:buy3:once', message: { type: 'Progress', eventId: 'o-1', event: 'order.paid', occurredAt: T0, amount: 1 } }],
      skipped: [],
    });
  });

  it("an amount task counts its amountField from the fields first, else the receipt's amount; none → skipped with the reason", () => {
    const subscribed = [{ taskId: 'alice:spend:once', taskDefId: 'spend' }];
    expect(routeReceipt(receipt({ amount: 80, fields: { paid: '120.5' } }), { definitions: [spend], subscribed }).targets[0].message.amount).toBe(120.5);
    expect(routeReceipt(receipt({ amount: 80 }), { definitions: [spend], subscribed }).targets[0].message.amount).toBe(80);
    for (const bad of [receipt(), receipt({ amount: 0 }), receipt({ fields: { paid: 'lots' } }), receipt({ fields: { paid: -3 } })]) {
      const out = routeReceipt(bad, { definitions: [spend], subscribed });
      expect(out.targets).toEqual([]);
      expect(out.skipped).toEqual([{ taskId: 'alice:spend:once', taskDefId: 'spend', code: RECEIPT_SKIPS.noAmount, reason: expect.stringContaining('fields.paid or in amount') }]);
    }
  });

  it('an auto-enrolment definition listening for the event enrols the task of the period the event falls in', () => {
    const { targets } = routeReceipt(receipt(), { definitions: [daily, firstOrder], subscribed: [] });
    // 12:00 UTC is 20:00 in Shanghai: the local day 2026-03-10 starts at 16:00 UTC the day before.
    const dayStart = Date.UTC(2026, 2, 9, 16);
    expect(targets.map((t) => t.taskId)).toEqual(['alice:daily:d2026-03-10', 'alice:first:once']);
    expect(targets[0].message).toEqual({
      type: 'Progress', eventId: 'o-1', event: 'order.paid', occurredAt: T0, amount: 1,
      enrol: { userId: 'alice', period: 'd2026-03-10', terms: termsOf(daily.value, 4), claimedAt: T0, periodStart: dayStart, periodEnd: dayStart + 86_400_000 },
    });
    expect(targets[1].message.enrol).toEqual({ userId: 'alice', period: 'once', terms: termsOf(firstOrder.value, 2), claimedAt: T0 });
  });

  it('an auto task already subscribed gets one plain Progress (no enrol), not two', () => {
    const { targets } = routeReceipt(receipt(), { definitions: [firstOrder], subscribed: [{ taskId: 'alice:first:once' }] });
    expect(targets).toEqual([{ taskId: 'alice:first:once', message: expect.not.objectContaining({ enrol: expect.anything() }) }]);
  });

  it.each([
    ['PAUSED', { status: 'PAUSED' as const }, T0],
    ['ENDED', { status: 'ENDED' as const }, T0],
    ['not listening for the event', { events: ['user.signed_in'] }, T0],
    ['before startsAt', { startsAt: T0 + 1 }, T0],
    ['at endsAt (exclusive)', { endsAt: T0 }, T0],
  ])('auto-enrolment skips a definition %s', (_what, extra, at) => {
    const def = item({ id: 'auto1', type: 'one-shot', enrolment: 'auto', ...extra });
    expect(routeReceipt(receipt({ occurredAt: at }), { definitions: [def], subscribed: [] }).targets).toEqual([]);
  });

  it('auto-enrolment takes an event at startsAt and just before endsAt', () => {
    const def = item({ id: 'auto1', type: 'one-shot', enrolment: 'auto', startsAt: T0, endsAt: T0 + 2 });
    expect(routeReceipt(receipt(), { definitions: [def], subscribed: [] }).targets).toHaveLength(1);
    expect(routeReceipt(receipt({ occurredAt: T0 + 1 }), { definitions: [def], subscribed: [] }).targets).toHaveLength(1);
  });

  it('claim-enrolment definitions never enrol by themselves; a subscribed task of an unknown definition is skipped', () => {
    expect(routeReceipt(receipt(), { definitions: [buy3], subscribed: [] })).toEqual({ targets: [], skipped: [] });
    const out = routeReceipt(receipt(), { definitions: [], subscribed: [{ taskId: 'alice:gone:once' }] });
    expect(out.skipped).toEqual([expect.objectContaining({ taskId: 'alice:gone:once', taskDefId: 'gone', code: RECEIPT_SKIPS.unknownDefinition })]);
  });

  it('one receipt reaches several tasks, each once, sorted by task id; a skipped one does not hold the others back', () => {
    const out = routeReceipt(receipt({ fields: {} }), {
      definitions: [buy3, spend, firstOrder],
      subscribed: [{ taskId: 'alice:spend:once' }, { taskId: 'alice:buy3:once' }, { taskId: 'alice:buy3:once' }],
    });
    expect(out.targets.map((t) => t.taskId)).toEqual(['alice:buy3:once', 'alice:first:once']);
    expect(out.skipped.map((s) => s.taskId)).toEqual(['alice:spend:once']);
  });
});

describe('parseReceipt', () => {
  const valid = { userId: 'alice', event: 'order.paid', eventId: 'o-1', occurredAt: T0 };

  it('returns the typed receipt; occurredAt defaults to the given clock only', () => {
    expect(parseReceipt({ ...valid, amount: 12.5, fields: { paid: '12.5', vip: true, note: null } })).toEqual({ ...valid, amount: 12.5, fields: { paid: '12.5', vip: true, note: null } });
    expect(parseReceipt({ userId: 'alice', event: 'order.paid', eventId: 'o-1' }, 42).occurredAt).toBe(42);
    expect(() => parseReceipt({ userId: 'alice', event: 'order.paid', eventId: 'o-1' })).toThrow(/occurredAt is required/);
  });

  it.each([
    ['not an object', 'order', /must be an object/],
    ['a user id with ":"', { ...valid, userId: 'a:b' }, /userId must not contain ':'/],
    ['a user id with a brace', { ...valid, userId: 'a{b}' }, /userId must not contain '\{', '\}'/],
    ['a long user id', { ...valid, userId: 'u'.repeat(101) }, /userId is 101 characters long; at most 100/],
    ['an upper-case event', { ...valid, event: 'Order.Paid' }, /event must be an event type .* lower case/],
    ['no event id', { ...valid, eventId: undefined }, /eventId must be a non-empty string/],
    ['a fractional occurredAt', { ...valid, occurredAt: 1.5 }, /occurredAt must be a whole number of ms since the epoch from 0/],
    ['an occurredAt past year 9999', { ...valid, occurredAt: Number.MAX_SAFE_INTEGER }, /occurredAt must be a whole number/],
    ['a negative amount', { ...valid, amount: -1 }, /amount must be a finite number from 0/],
    ['fields as an array', { ...valid, fields: [1] }, /fields must be an object/],
    ['a nested field', { ...valid, fields: { a: { b: 1 } } }, /fields.a must be a string .* a finite number, a boolean or null/],
    ['a stray top-level field', { ...valid, orderId: 'x' }, /unknown field "orderId": put event data under "fields"/],
  ])('refuses %s with INVALID_RECEIPT and a sentence naming the field', (_what, raw, message) => {
    let caught: unknown;
    try {
      parseReceipt(raw);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(TerminalError);
    expect(caught).toMatchObject({ code: INVALID_RECEIPT, message });
  });

  it('names every problem at once', () => {
    expect(() => parseReceipt({ userId: '', event: 'X', occurredAt: -1 })).toThrow(/userId must be a non-empty string; event must be .*; eventId must be a non-empty string .*; occurredAt must be/);
  });
});
