import { Packr } from 'msgpackr';
import { DEFAULTS, ENVELOPE_VERSIONS } from './constants';
import { ErrorCode, TerminalError } from './errors';

/** The stream entry field that holds an encoded envelope. */
export const ENVELOPE_FIELD = 'e';

/**
 * What travels on every Propel stream. `v` is the schema version: a reader refuses versions it does
 * not know (dead letter with UNSUPPORTED_VERSION) instead of guessing at their layout.
 */
export interface Envelope<T = unknown> {
  v: number;
  /** Message id: stable across redelivery and relay, so receivers can drop duplicates. */
  id: string;
  /** Nest pattern the entry is dispatched on, e.g. `actor:counter` or `ping`. */
  pattern: string;
  /** Ordering key: entries with the same key are handled one at a time, in stream order. */
  key?: string;
  data: T;
  /** Producer's clock when the message was made (ms since epoch). */
  ts: number;
  /** Request-response: the stream the reply goes to, and the correlation id it carries. */
  replyTo?: string;
  corr?: string;
}

// Plain maps (no msgpackr records) so producers in other languages can read and write envelopes.
// 64-bit integers (Redis's cmsgpack writes times that way) decode as numbers: ms timestamps fit in 2^53.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false, int64AsType: 'number' });

export function encode(value: unknown): Buffer {
  return packr.pack(value);
}

export function decode<T = unknown>(bytes: Buffer | Uint8Array): T {
  return packr.unpack(bytes) as T;
}

export function encodeEnvelope<T>(envelope: Omit<Envelope<T>, 'v'> & { v?: number }): Buffer {
  return packr.pack({ ...envelope, v: envelope.v ?? ENVELOPE_VERSIONS[0] });
}

/**
 * Decodes and checks an envelope; anything malformed throws a TerminalError (it is dead-lettered, never
 * retried, since no retry can make bad bytes good).
 */
export function decodeEnvelope<T = unknown>(bytes: Buffer | undefined, maxBytes: number = DEFAULTS.maxEntryBytes): Envelope<T> {
  if (!bytes || bytes.length === 0) {
    throw new TerminalError(ErrorCode.DecodeFailed, `the entry has no '${ENVELOPE_FIELD}' field holding an envelope`);
  }
  if (bytes.length > maxBytes) {
    throw new TerminalError(ErrorCode.EntryTooLarge, `the entry is ${bytes.length} bytes; at most ${maxBytes} are accepted`);
  }
  let value: unknown;
  try {
    value = packr.unpack(bytes);
  } catch (err) {
    // msgpackr decodes recursively: a few thousand nested arrays or maps overflow the stack, a RangeError
    // that is no fault of the decoder's state (it resets on every unpack) but needs a sentence a person can act on.
    if (err instanceof RangeError) throw new TerminalError(ErrorCode.DecodeFailed, `the envelope is nested too deeply to decode (${err.message})`);
    throw new TerminalError(ErrorCode.DecodeFailed, `the envelope is not valid msgpack: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Object.getPrototypeOf(value) !== Object.prototype) {
    throw new TerminalError(ErrorCode.DecodeFailed, 'the envelope must be a msgpack map');
  }
  const env = value as Partial<Envelope<T>>;
  if (!ENVELOPE_VERSIONS.includes(env.v as 1)) {
    throw new TerminalError(
      ErrorCode.UnsupportedVersion,
      `envelope version ${JSON.stringify(env.v)} is not supported; this build reads ${ENVELOPE_VERSIONS.join(', ')}`,
    );
  }
  if (typeof env.id !== 'string' || env.id.length === 0) throw new TerminalError(ErrorCode.DecodeFailed, 'the envelope has no id');
  if (typeof env.pattern !== 'string' || env.pattern.length === 0) {
    throw new TerminalError(ErrorCode.DecodeFailed, 'the envelope has no pattern');
  }
  if (env.key !== undefined && typeof env.key !== 'string') throw new TerminalError(ErrorCode.DecodeFailed, 'the envelope key must be a string');
  if (typeof env.ts !== 'number') throw new TerminalError(ErrorCode.DecodeFailed, 'the envelope has no timestamp');
  return env as Envelope<T>;
}
