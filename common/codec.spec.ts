import { decodeEnvelope, encode, encodeEnvelope } from './codec';
import { ErrorCode } from './errors';

describe('envelope codec', () => {
  it('round-trips an envelope and stamps the current schema version', () => {
    const bytes = encodeEnvelope({ id: 'm1', pattern: 'actor:counter', key: 'counter/a', data: { id: 'a', message: { type: 'increment', by: 1 } }, ts: 123 });
    expect(decodeEnvelope(bytes)).toEqual({ v: 1, id: 'm1', pattern: 'actor:counter', key: 'counter/a', data: { id: 'a', message: { type: 'increment', by: 1 } }, ts: 123 });
  });

  it.each([
    ['no bytes', undefined, ErrorCode.DecodeFailed],
    ['not msgpack', Buffer.from([0xc1]), ErrorCode.DecodeFailed],
    ['not a map', encode([1, 2]), ErrorCode.DecodeFailed],
    ['an unknown version', encode({ v: 99, id: 'x', pattern: 'p', ts: 1 }), ErrorCode.UnsupportedVersion],
    ['no id', encode({ v: 1, pattern: 'p', ts: 1 }), ErrorCode.DecodeFailed],
    ['no pattern', encode({ v: 1, id: 'x', ts: 1 }), ErrorCode.DecodeFailed],
    ['a non-string key', encode({ v: 1, id: 'x', pattern: 'p', key: 5, ts: 1 }), ErrorCode.DecodeFailed],
  ])('refuses %s with a terminal, coded error', (_what, bytes, code) => {
    expect(() => decodeEnvelope(bytes as Buffer | undefined)).toThrow(expect.objectContaining({ code, name: 'TerminalError' }));
  });

  it('refuses entries over the size bound before decoding them', () => {
    const big = encodeEnvelope({ id: 'x', pattern: 'p', data: 'y'.repeat(2000), ts: 1 });
    expect(() => decodeEnvelope(big, 1000)).toThrow(expect.objectContaining({ code: ErrorCode.EntryTooLarge }));
  });
});
