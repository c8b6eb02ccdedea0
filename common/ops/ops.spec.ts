import { encode, encodeEnvelope } from '../codec';
import { Keys } from '../keys';
import type { AuditRecord } from '../actor/turn';
import { mapLimited } from './context';
import { decodeDeadLetter, deadStreamOf, parseDeadSource } from './dead-letters';
import { explain } from './inspect';
import { manualReason } from './manual';
import { compareEntryIds as compareIds } from '../actor/turn';
import { parseGroups } from '../redis/stream-info';
import { hashTag, printable } from './streams';

const fields = (pairs: Array<[string, string | Buffer]>): Buffer[] => pairs.flatMap(([k, v]) => [Buffer.from(k), Buffer.isBuffer(v) ? v : Buffer.from(v)]);

describe('decodeDeadLetter', () => {
  it('decodes a partition dead letter: code, cause, deliveries, where it came from, the envelope', () => {
    const envelope = encodeEnvelope({ id: 'm1', pattern: 'actor:counter', key: 'counter/a', data: { id: 'a', message: { type: 'increment', by: 1 } }, ts: 5 });
    const d = decodeDeadLetter(3, '1700000000000-0', fields([
      ['reason', 'gave up after 5 deliveries: boom'], ['code', 'MAX_DELIVERIES'], ['cause', 'HANDLER_FAILED'], ['stream', '{p:3}:inbox'], ['entry', '1699-0'],
      ['deliveries', '5'], ['consumer', 'w-a'], ['at', '1700000000123'], ['f:e', envelope],
    ]));
    expect(d).toMatchObject({ source: 3, id: '1700000000000-0', at: 1700000000123, code: 'MAX_DELIVERIES', cause: 'HANDLER_FAILED', deliveries: 5, consumer: 'w-a', stream: '{p:3}:inbox', entry: '1699-0' });
    expect(d.envelope).toMatchObject({ pattern: 'actor:counter', data: { message: { type: 'increment', by: 1 } } });
    expect(d.original).toEqual([expect.objectContaining({ name: 'e', bytes: envelope.length })]);
  });

  it('shows bytes that do not decode in hex, with the reason, and never throws', () => {
    const junk = Buffer.from([0xc1, 0xff, 0x00]);
    const d = decodeDeadLetter(0, '5-0', fields([['code', 'DECODE_FAILED'], ['f:e', junk]]));
    expect(d.envelope).toBeUndefined();
    expect(d.envelopeError).toMatch(/msgpack/);
    expect(d.original).toEqual([{ name: 'e', bytes: 3, hex: 'c1ff00' }]);
    expect(d.at).toBe(5); // no `at` field: the dead letter's id says when
    expect(d.deliveries).toBeNull();
  });

  it('keeps plain text fields of an ingest entry as text, and a notification dead letter its channel', () => {
    const d = decodeDeadLetter('ingest', '7-0', fields([['code', 'UNROUTABLE'], ['f:event', 'order.paid'], ['f:payload', '{"by":2}']]));
    expect(d.original).toEqual([{ name: 'event', bytes: 10, text: 'order.paid' }, { name: 'payload', bytes: 8, text: '{"by":2}' }]);
    const n = decodeDeadLetter('notifications', '8-0', fields([['code', 'WEBHOOK_REJECTED'], ['channel', 'webhook'], ['notificationId', 'app:rewarded:sharer']]));
    expect(n).toMatchObject({ channel: 'webhook', notificationId: 'app:rewarded:sharer' });
  });
});

describe('dead-letter sources', () => {
  const keys = new Keys('ns');
  it('each source names a dead-letter stream in the hash tag of the stream its entries came from', () => {
    expect(deadStreamOf(keys, 2)).toBe('{ns:2}:dead');
    expect(hashTag(deadStreamOf(keys, 2))).toBe(hashTag(keys.inbox(2)));
    expect(deadStreamOf(keys, 'ingest')).toBe(keys.ingestDead());
    expect(deadStreamOf(keys, 'notifications')).toBe('{ns:out:notifications}:dead');
    expect(hashTag(deadStreamOf(keys, 'notifications'))).toBe(hashTag(keys.named('notifications')));
  });

  it.each([
    ['0', 0],
    ['7', 7],
    ['ingest', 'ingest'],
    ['notifications', 'notifications'],
  ])('parses %s', (text, source) => {
    expect(parseDeadSource(text, 8)).toBe(source);
  });

  it.each(['8', '-1', '1.5', 'p3', ''])('refuses %j with the accepted forms', (text) => {
    expect(() => parseDeadSource(text, 8)).toThrow(/a partition from 0 to 7, 'ingest' or 'notifications'/);
  });
});

const audit = (message: string, from: string, to: string, extra: Partial<AuditRecord> = {}): AuditRecord => ({ at: 1, actor: 'referral/a', version: 1, message, messageId: 'm', from, to, effects: [], ...extra });

describe('explain (why an actor is where it is)', () => {
  it('a success needs no explanation', () => {
    expect(explain({ status: 'BOTH_REWARDED', state: {} }, [audit('SharerRewardResult', 'TASK_COMPLETED', 'BOTH_REWARDED')])).toBeNull();
  });

  it('manual intervention: the state reasons (manual, a pending side’s last error) and the transitions that led there', () => {
    const state = {
      status: 'MANUAL_INTERVENTION',
      relation: { outcome: 'ESTABLISHED' },
      sharer: { outcome: 'PENDING', lastError: 'ACTIVITY_UNAVAILABLE' },
      invitee: { outcome: 'GRANTED', grantId: 'g' },
      manual: { reason: 'MAX_RETRIES', detail: '2 retry rounds used', since: 9 },
    };
    const history = [
      audit('Accept', 'NEW', 'INIT', { why: 'accepted' }),
      audit('TaskCompleted', 'RELATION_ESTABLISHED', 'RELATION_ESTABLISHED', { rejected: { code: 'TASK_LATE', reason: 'too late' } }),
      audit('Retry', 'TASK_COMPLETED', 'TASK_COMPLETED', { why: 'retry round 1' }),
      audit('SharerRewardResult', 'TASK_COMPLETED', 'MANUAL_INTERVENTION', { why: 'sharer reward needs a person: MAX_RETRIES' }),
    ];
    const why = explain({ status: 'MANUAL_INTERVENTION', state }, history)!;
    expect(why.codes).toEqual([
      { where: 'manual', code: 'MAX_RETRIES', detail: '2 retry rounds used' },
      { where: 'sharer.lastError', code: 'ACTIVITY_UNAVAILABLE' },
    ]);
    expect(why.steps.map((s) => [s.kind, s.message, s.code ?? s.text])).toEqual([
      ['transition', 'Accept', 'accepted'],
      ['rejected', 'TaskCompleted', 'TASK_LATE'],
      ['transition', 'SharerRewardResult', 'sharer reward needs a person: MAX_RETRIES'],
    ]);
  });

  it('a refused side and a termination from ops carry their codes', () => {
    const why = explain({ status: 'TERMINATED', state: { sharer: { outcome: 'REJECTED', reason: 'TERMINATED_BY_OPS' }, invitee: { outcome: 'REJECTED', reason: 'CAP_TOTAL' }, terminated: { operator: 'ann', reason: 'dup' } } }, [])!;
    expect(why.codes).toEqual([
      { where: 'terminated', code: 'TERMINATED_BY_OPS', detail: 'by ann: dup' },
      { where: 'sharer', code: 'TERMINATED_BY_OPS' },
      { where: 'invitee', code: 'CAP_TOTAL' },
    ]);
  });

  it('nothing to say about an actor with no reasons and no transitions', () => {
    expect(explain({ status: 'active', state: { count: 3 } }, [audit('increment', 'active', 'active')])).toBeNull();
  });
});

describe('manualReason', () => {
  it("a referral's own reason, detail, since and stage", () => {
    expect(manualReason({ status: 'MANUAL_INTERVENTION', state: { stage: 'REWARD', manual: { reason: 'MAX_RETRIES', detail: 'd', since: 4 } } })).toEqual({ reason: 'MAX_RETRIES', detail: 'd', since: 4, stage: 'REWARD' });
  });
  it('else the status', () => {
    expect(manualReason({ status: 'MANUAL_INTERVENTION', state: { count: 1 } })).toEqual({ reason: 'MANUAL_INTERVENTION' });
  });
});

describe('stream helpers', () => {
  it('parseGroups reads XINFO GROUPS, a null lag included', () => {
    const reply = [
      ['name', 'actors', 'consumers', 2, 'pending', 3, 'last-delivered-id', '5-1', 'entries-read', 9, 'lag', 4],
      ['name', 'other', 'consumers', 0, 'pending', 0, 'last-delivered-id', '0-0', 'entries-read', null, 'lag', null],
    ];
    expect(parseGroups(reply)).toEqual([
      { name: 'actors', consumers: 2, pending: 3, lastDeliveredId: '5-1', lag: 4 },
      { name: 'other', consumers: 0, pending: 0, lastDeliveredId: '0-0', lag: null },
    ]);
    expect(parseGroups(null)).toEqual([]);
  });

  it('printable keeps text (tabs and newlines too) and turns binary into hex', () => {
    expect(printable(Buffer.from('a\tb\nc'))).toEqual({ text: 'a\tb\nc' });
    expect(printable(Buffer.from([0xff, 0xfe]))).toEqual({ hex: 'fffe' });
    expect(printable(Buffer.from('bell\u0007'))).toEqual({ hex: Buffer.from('bell\u0007').toString('hex') });
    expect(printable(encode({ a: 1 }))).toEqual({ hex: encode({ a: 1 }).toString('hex') });
  });

  it('compareIds orders stream ids numerically', () => {
    expect(['10-0', '9-5', '9-10'].sort(compareIds)).toEqual(['9-5', '9-10', '10-0']);
  });
});

describe('mapLimited', () => {
  it('keeps order, runs at most `concurrency` at once and reports every step', async () => {
    let running = 0;
    let peak = 0;
    const seen: Array<[number, number]> = [];
    const out = await mapLimited([5, 1, 4, 2, 3], 2, async (n) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, n));
      running--;
      return n * 10;
    }, (done, total) => seen.push([done, total]));
    expect(out).toEqual([50, 10, 40, 20, 30]);
    expect(peak).toBe(2);
    expect(seen).toEqual([[0, 5], [1, 5], [2, 5], [3, 5], [4, 5], [5, 5]]);
  });
});
