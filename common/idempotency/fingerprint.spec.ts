import { canonicalJson, fingerprint } from './fingerprint';

describe('fingerprint', () => {
  it('ignores object key order, at every depth', () => {
    expect(fingerprint({ a: 1, b: { c: [1, { x: 1, y: 2 }], d: 'e' } })).toBe(fingerprint({ b: { d: 'e', c: [1, { y: 2, x: 1 }] }, a: 1 }));
  });

  it('keeps array order and tells values apart', () => {
    expect(fingerprint([1, 2])).not.toBe(fingerprint([2, 1]));
    expect(fingerprint({ a: 1 })).not.toBe(fingerprint({ a: '1' }));
    expect(fingerprint({ amount: 10 })).not.toBe(fingerprint({ amount: 11 }));
  });

  it('drops undefined members as JSON does, but tells null from a missing array slot by position', () => {
    expect(canonicalJson({ a: 1, b: undefined })).toBe('{"a":1}');
    expect(canonicalJson([undefined, null])).toBe('[null,null]');
  });

  it('writes dates, bigints and bytes distinctly from strings', () => {
    const d = new Date('2026-01-02T03:04:05.000Z');
    expect(canonicalJson(d)).toBe('"2026-01-02T03:04:05.000Z"');
    expect(fingerprint(10n)).not.toBe(fingerprint('10'));
    expect(fingerprint(Buffer.from('hi'))).not.toBe(fingerprint('hi'));
    expect(fingerprint(new Set([2, 1]))).toBe(fingerprint(new Set([1, 2])));
  });

  it('refuses circular structures and functions instead of hashing something arbitrary', () => {
    const loop: Record<string, unknown> = {};
    loop.self = loop;
    expect(() => fingerprint(loop)).toThrow(/circular/);
    expect(() => fingerprint({ f: () => 1 })).toThrow(/function/);
  });

  it('is a sha256 hex digest', () => {
    expect(fingerprint({ a: 1 })).toMatch(/^[0-9a-f]{64}$/);
  });
});
