import type { ActorAudit, DeadList, ManualPage, SystemStatus } from '../../common/ops';
import { decodeDeadLetter } from '../../common/ops';
import { encodeEnvelope } from '../../common';
import { age, clip, describeOriginal, formatAudit, formatDeadList, formatManualPage, formatOpsTurn, formatReplay, formatStatus, parseDuration, ranges, table, time } from './format';

describe('table', () => {
  it('aligns columns, numbers to the right, and shows missing values as -', () => {
    expect(table(['NAME', 'N', 'NOTE'], [['alpha', 1, 'x'], ['b', 120, null]]).split('\n')).toEqual([
      'NAME     N  NOTE',
      'alpha    1  x',
      'b      120  -',
    ]);
  });
  it('is only the header when there are no rows', () => {
    expect(table(['A', 'B'], [])).toBe('A  B');
  });
});

describe('small formats', () => {
  it.each([
    [999, '999ms'],
    [59_999, '59s'],
    [60_000, '1m'],
    [7_200_000, '2h'],
    [3 * 86_400_000, '3d'],
    [null, '-'],
  ])('age(%p) = %s', (ms, text) => {
    expect(age(ms)).toBe(text);
  });

  it('time is ISO to the second', () => {
    expect(time(1_700_000_000_123)).toBe('2023-11-14T22:13:20Z');
    expect(time(null)).toBe('-');
  });

  it('clip keeps one line and cuts with an ellipsis', () => {
    expect(clip('a\nb  c', 10)).toBe('a b c');
    expect(clip('abcdefghij', 5)).toBe('abcd…');
  });

  it.each([
    ['500', 500],
    ['500ms', 500],
    ['30s', 30_000],
    ['15m', 900_000],
    ['1.5h', 5_400_000],
    ['7d', 604_800_000],
    ['2w', 1_209_600_000],
  ])('parseDuration(%s) = %d', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '5x', '-1s', 'ten'])('parseDuration refuses %j with the accepted forms', (text) => {
    expect(() => parseDuration(text)).toThrow(/500ms, 30s, 15m, 12h, 7d or 2w/);
  });

  it('ranges shortens runs', () => {
    expect(ranges([7, 0, 1, 2, 3, 5, 8])).toBe('0-3 5 7-8');
    expect(ranges([])).toBe('-');
  });
});

function statusOf(partitions: number, busy: number[] = []): SystemStatus {
  const perPartition = [...Array(partitions).keys()].map((p) => ({
    partition: p, owner: 'w-a', leaseTtlMs: 500, inbox: 0, lag: 0, pending: busy.includes(p) ? 2 : 0, due: 1, overdue: 0, outbox: 0, dead: 0, manual: 0,
  }));
  return {
    at: 0, namespace: 'ns', partitions, staleDrains: [{ id: 'gone', at: 0, by: 'ann' }],
    members: [{ id: 'w-a', heartbeatAgeMs: 120, expiresInMs: 2800, draining: true, drain: { at: 0, by: 'ann' }, partitions: [...Array(partitions).keys()] }],
    perPartition,
    streams: [{ name: 'notifications', length: 3, groups: [{ name: 'notifier', consumers: 1, pending: 1, lastDeliveredId: '1-0', lag: 0 }], dead: 2 }],
    totals: { members: 1, draining: 1, ownedPartitions: partitions, unownedPartitions: 0, inbox: 0, lag: 0, pending: 2 * busy.length, due: partitions, overdue: 0, outbox: 0, dead: 0, manual: 0 },
  };
}

describe('formatStatus', () => {
  it('shows workers with their drain flag, every partition when there are few, totals and side streams', () => {
    const text = formatStatus(statusOf(4, [2]));
    expect(text).toMatch(/w-a\s+120ms\s+yes \(by ann/);
    expect(text).toMatch(/drain flags of workers that are gone .*: gone/);
    expect(text.split('\n').filter((l) => /^\s*\d+\s+w-a/.test(l))).toHaveLength(4);
    expect(text).toMatch(/total: inbox 0, lag 0, pending 2, due 4 \(0 overdue\)/);
    expect(text).toMatch(/notifications: 3 entries \(notifier: lag 0, pending 1\), 2 dead letters/);
  });

  it('with many partitions lists only the busy ones unless asked for all', () => {
    const s = statusOf(64, [5, 40]);
    const rows = (t: string) => t.split('\n').filter((l) => /^\s*\d+\s+w-a/.test(l)).length;
    expect(rows(formatStatus(s))).toBe(2);
    expect(formatStatus(s)).toMatch(/62 quiet partitions not shown/);
    expect(rows(formatStatus(s, { allPartitions: true }))).toBe(64);
  });
});

describe('manual intervention and turns', () => {
  const page: ManualPage = {
    items: [{ actor: 'referral/s:a', ref: { type: 'referral', id: 's:a' }, partition: 3, since: 1_000, status: 'MANUAL_INTERVENTION', version: 9, reason: 'MAX_RETRIES', detail: '2 retry rounds used', stage: 'REWARD' }],
    nextCursor: 'abc',
    total: 4,
  };
  it('lists actor, partition, since (with age), stage, reason and detail, and the next page', () => {
    const text = formatManualPage(page, 61_000);
    expect(text).toMatch(/referral\/s:a\s+3\s+1970-01-01T00:00:01Z \(1m ago\)\s+REWARD\s+MAX_RETRIES\s+2 retry rounds used/);
    expect(text).toMatch(/1 shown of 4/);
    expect(text).toMatch(/--cursor abc/);
    expect(formatManualPage({ items: [], nextCursor: null, total: 0 }, 0)).toBe('no actor is waiting in manual intervention');
  });

  it('a retry line keeps the wording scripts match (scenario 12)', () => {
    const turn = { actor: 'referral/s:a', turn: { actor: 'referral/s:a', version: 10, status: 'TASK_COMPLETED', state: {} }, rejected: null, duplicate: false };
    expect(formatOpsTurn('retried', turn, 'ann')).toBe('referral/s:a retried by ann: now TASK_COMPLETED (version 10)');
    expect(formatOpsTurn('terminated', { ...turn, duplicate: true }, 'ann')).toMatch(/this termination was already applied; now TASK_COMPLETED/);
  });
});

describe('dead letters', () => {
  const envelope = encodeEnvelope({ id: 'm1', pattern: 'actor:counter', key: 'counter/a', data: { id: 'a', message: { type: 'increment', by: 1 } }, ts: 5 });
  const raw = (pairs: Array<[string, string | Buffer]>) => pairs.flatMap(([k, v]) => [Buffer.from(k), Buffer.isBuffer(v) ? v : Buffer.from(v)]);
  const list: DeadList = {
    items: [
      decodeDeadLetter(2, '1700000000000-0', raw([['code', 'NO_HANDLER'], ['reason', 'no handler for pattern "actor:counter"'], ['deliveries', '1'], ['stream', '{n:2}:inbox'], ['entry', '1-0'], ['at', '1700000000000'], ['f:e', envelope]])),
      decodeDeadLetter('ingest', '1690000000000-0', raw([['code', 'UNROUTABLE'], ['reason', 'no rule'], ['f:event', 'order.paid']])),
    ],
    totals: [{ source: 2, count: 1 }, { source: 'ingest', count: 3 }, { source: 'notifications', count: 0 }],
  };

  it('a table of source, id, time, code, tries, reason and the original message', () => {
    const text = formatDeadList(list);
    expect(text).toMatch(/p2\s+1700000000000-0\s+2023-11-14T22:13:20Z\s+NO_HANDLER\s+1\s+no handler for pattern "actor:counter"\s+actor:counter counter\/a \{"id":"a","message":\{"type":"increment",/);
    expect(text).toMatch(/ingest\s+1690000000000-0 .*UNROUTABLE\s+-\s+no rule\s+event=order\.paid/);
    expect(text).toMatch(/2 shown of 4 dead letters \(p2 1, ingest 3\)/);
  });

  it('--full shows every field and the envelope', () => {
    const text = formatDeadList(list, { full: true });
    expect(text).toMatch(/from: \{n:2\}:inbox 1-0/);
    expect(text).toMatch(/envelope: \{.*"pattern":"actor:counter"/);
    expect(text).toMatch(/f:event \(10 bytes\): order\.paid/);
  });

  it('binary originals are shown in hex', () => {
    const d = decodeDeadLetter(0, '1-0', raw([['f:e', Buffer.from([0xc1, 0x00])]]));
    expect(describeOriginal(d)).toBe('e=0xc100');
  });

  it('a replay summary counts what was replayed, not found and refused', () => {
    const text = formatReplay([
      { id: '1-0', outcome: 'replayed', stream: '{n:2}:inbox', newId: '9-0' },
      { id: '2-0', outcome: 'missing' },
      { id: '3-0', outcome: 'refused', reason: 'it holds none of the original fields' },
    ]);
    expect(text.split('\n')).toEqual([
      '1-0 replayed to {n:2}:inbox as 9-0',
      '2-0 not found (already replayed or purged)',
      '3-0 not replayed: it holds none of the original fields',
      'replayed 1 of 3, 1 not found, 1 refused',
    ]);
  });
});

describe('formatAudit', () => {
  const T = 1_700_000_000_000;
  const base: ActorAudit = {
    actor: 'referral/a:bob',
    ref: { type: 'referral', id: 'a:bob' },
    partition: 3,
    status: 'INVITEE_ONLY',
    version: 3,
    timeline: [
      { at: T, actor: 'referral/a:bob', version: 1, message: 'Accept', messageId: 'm1', from: 'NEW', to: 'INIT', why: 'accepted', effects: [] },
      { at: T + 1000, actor: 'referral/a:bob', version: 2, message: 'TaskCompleted', messageId: 'm2', from: 'INIT', to: 'INIT', rejected: { code: 'NO_RELATION', reason: 'no task runs yet' }, effects: [] },
      { at: T + 2000, actor: 'referral/a:bob', version: 3, message: 'SharerRewardResult', messageId: 'm3', from: 'TASK_COMPLETED', to: 'INVITEE_ONLY', why: 'sharer reward refused: CAP_TOTAL', effects: [] },
    ],
    truncated: false,
    scanned: 0,
    reasons: [{ code: 'CAP_TOTAL', detail: 'sharer reward not granted: refused by the activity with CAP_TOTAL (1 attempt)' }, { code: 'MAX_RETRIES', detail: 'waiting for a person', at: T + 3000 }],
    explained: true,
    rewarded: false,
  };

  it('prints the timeline oldest first and the numbered chain of reasons under "Why not rewarded"', () => {
    const text = formatAudit(base);
    expect(text).toMatch(/^referral\/a:bob {2}partition 3 {2}version 3 {2}status INVITEE_ONLY {2}not rewarded\n/);
    expect(text).toMatch(/timeline \(3 records, oldest first\):\n {2}TIME +V +MESSAGE +FROM → TO +WHY\n {2}2023-11-14T22:13:20Z +1 +Accept +NEW → INIT +accepted\n.* 2 +TaskCompleted +INIT → INIT +refused NO_RELATION: no task runs yet\n/);
    expect(text).toMatch(/Why not rewarded:\n {2}1\. CAP_TOTAL {2}sharer reward not granted: .*\n {2}2\. MAX_RETRIES {2}waiting for a person {2}\(2023-11-14T22:13:23Z\)$/);
  });

  it('says when older records are left out, or no longer kept', () => {
    expect(formatAudit({ ...base, truncated: true })).toMatch(/older records are left out: ops inspect referral a:bob --audit <n>/);
    expect(formatAudit({ ...base, timeline: base.timeline.slice(1) })).toMatch(/the history starts at version 2: older records are no longer kept/);
  });

  it('a rewarded actor has no "why not" section; an unexplained one says so', () => {
    expect(formatAudit({ ...base, status: 'BOTH_REWARDED', reasons: [], rewarded: true })).toMatch(/rewarded\n[\s\S]*Rewarded: nothing is missing\.$/);
    expect(formatAudit({ ...base, reasons: [], explained: false })).toMatch(/Why not rewarded:\n {2}no explanation: ops knows no referral definition with explain/);
  });
});
