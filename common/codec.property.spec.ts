import fc from 'fast-check';
import { decodeEnvelope, encode, encodeEnvelope, Envelope } from './codec';
import { ErrorCode, TerminalError } from './errors';

const RUNS = 10_000;
const CODEC_CODES: readonly string[] = [ErrorCode.DecodeFailed, ErrorCode.UnsupportedVersion, ErrorCode.EntryTooLarge];

/** Decodes `bytes`; anything thrown must be the codec's own TerminalError with a code a dead letter can carry. */
function decodeOrTypedError(bytes: Buffer, maxBytes?: number): Envelope | TerminalError {
  try {
    return decodeEnvelope(bytes, maxBytes);
  } catch (err) {
    if (!(err instanceof TerminalError) || !CODEC_CODES.includes(String(err.code)) || err.message.length === 0) {
      throw new Error(`decodeEnvelope threw something other than a coded TerminalError: ${String((err as Error)?.stack ?? err)}`);
    }
    return err;
  }
}

/** What a decoded envelope must satisfy for the partition consumer to dispatch it. */
function expectValidEnvelope(env: Envelope): void {
  expect(env.v).toBe(1);
  expect(typeof env.id === 'string' && env.id.length > 0).toBe(true);
  expect(typeof env.pattern === 'string' && env.pattern.length > 0).toBe(true);
  expect(env.key === undefined || typeof env.key === 'string').toBe(true);
  expect(typeof env.ts).toBe('number');
}

// A field that is usually right and sometimes any value, so generated maps sit near a valid envelope.
const nearly = <T>(valid: fc.Arbitrary<T>) => fc.oneof({ arbitrary: valid, weight: 3 }, { arbitrary: fc.anything(), weight: 1 });
const nearEnvelope = fc.record(
  {
    v: nearly(fc.constantFrom(1, 0, 2, 99, -1, 1.5)),
    id: nearly(fc.string()),
    pattern: nearly(fc.string()),
    key: nearly(fc.string()),
    data: fc.anything(),
    ts: nearly(fc.oneof(fc.integer(), fc.double())),
    replyTo: nearly(fc.string()),
    corr: nearly(fc.string()),
  },
  { requiredKeys: [] },
);

const validEnvelope = fc.record(
  {
    id: fc.string({ minLength: 1 }),
    pattern: fc.string({ minLength: 1 }),
    key: fc.string(),
    data: fc.jsonValue(),
    ts: fc.oneof(fc.maxSafeNat(), fc.double({ noNaN: true })),
    replyTo: fc.string(),
    corr: fc.string(),
  },
  { requiredKeys: ['id', 'pattern', 'data', 'ts'] },
);

/**
 * What a value becomes through msgpack: one integer zero (-0 comes back as 0, as JSON gives it), and a key
 * `__proto__` comes back as `__proto_` (msgpackr's guard against prototype pollution by a producer).
 */
function throughMsgpack(value: unknown): unknown {
  if (Object.is(value, -0)) return 0;
  if (Array.isArray(value)) return value.map(throughMsgpack);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k === '__proto__' ? '__proto_' : k, throughMsgpack(v)]));
  }
  return value;
}

describe('envelope codec under generated input', () => {
  it('any byte buffer: a valid envelope or a coded TerminalError, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        const out = decodeOrTypedError(Buffer.from(bytes));
        if (!(out instanceof TerminalError)) expectValidEnvelope(out);
      }),
      { numRuns: RUNS },
    );
  });

  it('any msgpack value (scalars, arrays, maps, binary, dates): a valid envelope or a coded TerminalError', () => {
    fc.assert(
      fc.property(fc.anything({ withBoxedValues: false, withTypedArray: true, withDate: true, withNullPrototype: true, withObjectString: true }), (value) => {
        let bytes: Buffer;
        try {
          bytes = encode(value);
        } catch {
          return; // not encodable at all (msgpack has no form for it): nothing reaches a stream
        }
        const out = decodeOrTypedError(bytes);
        if (!(out instanceof TerminalError)) expectValidEnvelope(out);
      }),
      { numRuns: RUNS },
    );
  });

  it('maps near an envelope (each field right or any value): decoded only when every field is valid', () => {
    fc.assert(
      fc.property(nearEnvelope, (candidate) => {
        const out = decodeOrTypedError(encode(candidate));
        const c = candidate as Record<string, unknown>;
        const valid = c.v === 1 && typeof c.id === 'string' && c.id !== '' && typeof c.pattern === 'string' && c.pattern !== '' && (c.key === undefined || typeof c.key === 'string') && typeof c.ts === 'number';
        expect(out instanceof TerminalError).toBe(!valid);
        if (!(out instanceof TerminalError)) expectValidEnvelope(out);
      }),
      { numRuns: RUNS },
    );
  });

  it('truncated or bit-flipped valid envelopes: a valid envelope or a coded TerminalError', () => {
    fc.assert(
      fc.property(validEnvelope, fc.nat(), fc.nat(255), fc.boolean(), (env, at, byte, truncate) => {
        const bytes = Buffer.from(encodeEnvelope(env));
        const i = at % bytes.length;
        const mangled = truncate ? bytes.subarray(0, i) : (bytes.writeUInt8(byte, i), bytes);
        const out = decodeOrTypedError(mangled);
        if (!(out instanceof TerminalError)) expectValidEnvelope(out);
      }),
      { numRuns: RUNS },
    );
  });

  it('round trip: every valid envelope decodes to itself, stamped with version 1', () => {
    fc.assert(
      fc.property(validEnvelope, (env) => {
        expect(decodeEnvelope(encodeEnvelope(env))).toEqual(throughMsgpack({ ...env, v: 1 }));
      }),
      { numRuns: RUNS },
    );
  });

  it('entries over the size bound are refused with ENTRY_TOO_LARGE before any decoding', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 256 }), fc.nat(255), (bytes, bound) => {
        const out = decodeOrTypedError(Buffer.from(bytes), bound);
        if (bytes.length > bound) expect(out).toMatchObject({ code: ErrorCode.EntryTooLarge });
      }),
      { numRuns: RUNS },
    );
  });

  it('deep nesting (up to the 256 KiB entry bound) is refused with a clear DECODE_FAILED, and the decoder keeps working after it', () => {
    const good = encodeEnvelope({ id: 'm', pattern: 'p', data: { ok: true }, ts: 1 });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 256 * 1024 - 64 }), fc.constantFrom(0x91, 0x81), (depth, opener) => {
        // 0x91: an array of one element; 0x81: a map of one entry (its key then nests too). Wrapped in an envelope's data.
        const nested = Buffer.concat([Buffer.alloc(depth, opener), Buffer.from([0xc0])]);
        const prefix = encode({ v: 1, id: 'm', pattern: 'p', ts: 1, data: null }).subarray(0, -1);
        const out = decodeOrTypedError(Buffer.concat([prefix, nested]));
        if (out instanceof TerminalError) expect(out.message).toMatch(/nested too deeply|not valid msgpack/);
        expect(decodeEnvelope(good).data).toEqual({ ok: true });
      }),
      { numRuns: 300 },
    );
    const deep = Buffer.concat([encode({ v: 1, id: 'm', pattern: 'p', ts: 1, data: null }).subarray(0, -1), Buffer.alloc(200_000, 0x91), Buffer.from([0xc0])]);
    expect(() => decodeEnvelope(deep)).toThrow(expect.objectContaining({ code: ErrorCode.DecodeFailed, message: expect.stringMatching(/nested too deeply/) }));
  });
});
