import type { ConfigItem, ConfigView } from '../../../../common/config-center/types';
import { TerminalError } from '../../../../common/errors';
import { TaskDefinition, taskDefinitionSchema } from '../../../../actors/task/task.definition';
import { receiptOfEntry, RECEIPT_NOT_COUNTED, taskReceiptResolver } from './receipts';

const T0 = Date.UTC(2026, 0, 5, 8);

function def(input: Record<string, unknown>, version = 1): ConfigItem<TaskDefinition> {
  const value = taskDefinitionSchema.parse({ merchantId: 'shop1', name: 'n', events: ['order.paid'], ...input });
  return { kind: 'task', id: value.id, version, value, updatedAt: 0 };
}

/** A ConfigView over a fixed list of task definitions. */
function view(items: ConfigItem<TaskDefinition>[]): ConfigView {
  return {
    get: (kind, id) => (kind === 'task' ? (items.find((i) => i.id === id) as never) : undefined),
    list: (kind) => (kind === 'task' ? ([...items] as never) : []),
    onChange: () => () => undefined,
  };
}

describe('receiptOfEntry: an ingest entry as a raw receipt', () => {
  it('reads the receipt fields from the entry or the payload, numbers from decimal strings, the rest into fields', () => {
    expect(receiptOfEntry({ event: 'order.paid', userId: 'alice', eventId: 'o-1', occurredAt: String(T0), amount: '25.5', shop: 's1', payload: '{}' }, { channel: 'app', deep: { a: 1 }, fields: { paid: 30 } })).toEqual({
      event: 'order.paid', userId: 'alice', eventId: 'o-1', occurredAt: T0, amount: 25.5, fields: { channel: 'app', shop: 's1', paid: 30 },
    });
    expect(receiptOfEntry({ event: 'order.paid' }, { userId: 'bob', eventId: 'o-2', occurredAt: T0 })).toEqual({ event: 'order.paid', userId: 'bob', eventId: 'o-2', occurredAt: T0 });
  });
});

describe('taskReceiptResolver (the ingest path of completion receipts)', () => {
  const buy3 = def({ id: 'buy3', type: 'cumulative', target: 3 });
  const spend = def({ id: 'spend', type: 'cumulative', target: 100, measure: 'amount' });
  const firstOrder = def({ id: 'first', type: 'one-shot', enrolment: 'auto' }, 3);
  const entry = { event: 'order.paid', userId: 'alice', eventId: 'o-1', occurredAt: String(T0) };

  it('sends the receipt to every subscribed task and enrols auto tasks, each under event:<eventId>; enrolled tasks join the user set', async () => {
    const lookup = jest.fn(async () => ['alice:buy3:once']);
    const add = jest.fn(async () => undefined);
    const resolve = taskReceiptResolver({ config: view([buy3, firstOrder]), subscriptions: { lookup }, userTasks: { add } });
    const out = await resolve('1-0', entry, {});
    expect(lookup).toHaveBeenCalledWith('alice', 'order.paid', T0);
    expect(out).toEqual([
      { actor: 'task', id: 'alice:buy3:once', messageId: 'event:o-1', message: { type: 'Progress', eventId: 'o-1', event: 'order.paid', occurredAt: T0, amount: 1 } },
      { actor: 'task', id: 'alice:first:once', messageId: 'event:o-1', message: expect.objectContaining({ type: 'Progress', amount: 1, enrol: expect.objectContaining({ userId: 'alice', period: 'once', claimedAt: T0 }) }) },
    ]);
    expect(add).toHaveBeenCalledWith('alice', ['alice:first:once']);
  });

  it('null for an event no definition listens for (UNROUTABLE, as before), without reading the index', async () => {
    const lookup = jest.fn(async () => []);
    expect(await taskReceiptResolver({ config: view([buy3]), subscriptions: { lookup } })('1-0', { ...entry, event: 'order.refunded' }, {})).toBeNull();
    expect(lookup).not.toHaveBeenCalled();
  });

  it('an invalid receipt of a listened event is refused with INVALID_RECEIPT naming the problems', async () => {
    const resolve = taskReceiptResolver({ config: view([buy3]), subscriptions: { lookup: async () => [] } });
    await expect(resolve('1-0', { event: 'order.paid', userId: 'a:b' }, {})).rejects.toMatchObject({ code: 'INVALID_RECEIPT', message: expect.stringMatching(/userId must not contain ':'.*eventId.*occurredAt is required/) });
  });

  it('[] when the user has no task counting it; RECEIPT_NOT_COUNTED when every task had to skip it', async () => {
    expect(await taskReceiptResolver({ config: view([buy3]), subscriptions: { lookup: async () => [] } })('1-0', entry, {})).toEqual([]);
    const resolve = taskReceiptResolver({ config: view([spend]), subscriptions: { lookup: async () => ['alice:spend:once'] } });
    const err = await resolve('1-0', entry, {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TerminalError);
    expect(err).toMatchObject({ code: RECEIPT_NOT_COUNTED, message: expect.stringContaining('alice:spend:once AMOUNT_MISSING') });
    expect(await resolve('1-0', { ...entry, amount: '40' }, {})).toEqual([expect.objectContaining({ id: 'alice:spend:once', message: expect.objectContaining({ amount: 40 }) })]);
  });

  it("reads a subscribed task's definition from Redis when the cache does not hold it yet", async () => {
    const get = jest.fn(async () => buy3 as never);
    const resolve = taskReceiptResolver({ config: view([firstOrder]), reader: { get }, subscriptions: { lookup: async () => ['alice:buy3:once'] } });
    const out = await resolve('1-0', entry, {});
    expect(get).toHaveBeenCalledWith('task', 'buy3');
    expect(out?.map((m) => m.id)).toEqual(['alice:buy3:once', 'alice:first:once']);
  });
});
