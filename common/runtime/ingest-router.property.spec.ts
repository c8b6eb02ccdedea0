import fc from 'fast-check';
import { DEFAULTS } from '../constants';
import { ErrorCode, TerminalError } from '../errors';
import { routeIngestEntry, RoutedMessage } from './ingest-router';

const RUNS = 10_000;
const ROUTES = [
  { event: 'coupon.used', actor: 'referral', idField: 'applicationId', messageType: 'TaskCompleted' },
  { event: 'user.signed_up', actor: 'counter', idField: 'userId' },
];
const INGEST_CODES: readonly string[] = [ErrorCode.EntryTooLarge, ErrorCode.DecodeFailed, ErrorCode.InvalidId, ErrorCode.InvalidMessage, ErrorCode.Unroutable];

/** The entry's fields as IngestRouter.forward builds them from XREADGROUP's flat list (a later field wins). */
function fieldsOf(pairs: ReadonlyArray<readonly [string, string | Uint8Array]>): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const [name, value] of pairs) fields[name] = Buffer.from(value).toString();
  return fields;
}

/** Routes `fields`; anything thrown must be a coded TerminalError with a reason, which forward() dead-letters. */
function routeOrTypedError(fields: Record<string, string>, maxBytes = DEFAULTS.maxEntryBytes): RoutedMessage | TerminalError {
  try {
    return routeIngestEntry('1-0', fields, ROUTES, maxBytes);
  } catch (err) {
    if (!(err instanceof TerminalError) || !INGEST_CODES.includes(String(err.code)) || err.message.length === 0) {
      throw new Error(`routeIngestEntry threw something other than a coded TerminalError: ${String((err as Error)?.stack ?? err)}`);
    }
    return err;
  }
}

/** A routed message is something the partition consumer can address and the actor can read. */
function expectRoutable(r: RoutedMessage): void {
  expect(r.actor).toMatch(/^[a-z][a-z0-9_.-]{0,63}$/);
  expect(r.id.length).toBeGreaterThan(0);
  expect(r.id.length).toBeLessThanOrEqual(DEFAULTS.maxIdLength);
  expect(r.id).not.toMatch(/[{}\u0000-\u001f\u007f]/);
  expect(typeof r.message.type).toBe('string');
  expect(r.messageId).toMatch(/^(event|ingest):/);
}

/**
 * JSON `{"a": ...}` with all its depth in one branch, and that depth counted as the router counts it (levels
 * below the payload object, the innermost value included). Built inside the property so a counterexample
 * prints as two numbers, not as a 200 KB string.
 */
function deepPayload(n: number, arrays: boolean): { depth: number; payload: string } {
  return arrays ? { depth: n, payload: `{"a":${'['.repeat(n)}${']'.repeat(n)}}` } : { depth: n + 1, payload: `{"a":${'{"b":'.repeat(n)}1${'}'.repeat(n)}}` };
}

const fieldName = fc.oneof(fc.constantFrom('actor', 'id', 'type', 'event', 'payload', 'eventId', 'applicationId', 'userId', '__proto__', 'constructor'), fc.string({ maxLength: 12 }));
const fieldValue = fc.oneof(
  fc.constantFrom('counter', 'referral', 'coupon.used', 'user.signed_up', 'increment', 'a', 'a{b}', 'Counter!', ''),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.uint8Array({ maxLength: 40 }),
  fc.json({ maxDepth: 4 }),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? 'null'),
);
const fieldList = fc.array(fc.tuple(fieldName, fieldValue), { maxLength: 8 });

describe('routeIngestEntry under generated field lists', () => {
  it('any field list (strings, bytes, JSON-ish payloads): routed to a valid address or refused with a coded TerminalError', () => {
    fc.assert(
      fc.property(fieldList, (pairs) => {
        const out = routeOrTypedError(fieldsOf(pairs));
        if (!(out instanceof TerminalError)) expectRoutable(out);
      }),
      { numRuns: RUNS },
    );
  });

  it('direct-form entries with any payload: routed with the payload fields, or refused with a coded TerminalError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.json({ maxDepth: 6 }), fc.string({ maxLength: 60 })), fc.string({ maxLength: 20 }), (payload, type) => {
        const out = routeOrTypedError({ actor: 'counter', id: 'alice', type, payload });
        if (out instanceof TerminalError) return;
        expectRoutable(out);
        expect(out.message).toMatchObject({ type });
      }),
      { numRuns: RUNS },
    );
  });

  it('deeply nested JSON payloads (up to 120,000 levels) are dead-lettered with DECODE_FAILED naming the depth bound, quickly', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 120_000 }), fc.boolean(), (n, arrays) => {
        const { depth, payload } = deepPayload(n, arrays);
        const started = Date.now();
        const out = routeOrTypedError({ actor: 'counter', id: 'alice', type: 'x', payload });
        expect(Date.now() - started).toBeLessThan(1000);
        if (payload.length + 'actoridtypepayloadcounteralicex'.length > DEFAULTS.maxEntryBytes) expect(out).toMatchObject({ code: ErrorCode.EntryTooLarge });
        else if (depth > 32) expect(out).toMatchObject({ code: ErrorCode.DecodeFailed, message: expect.stringMatching(/nested deeper than 32 levels/) });
        else expectRoutable(out as RoutedMessage);
      }),
      { numRuns: 300 },
    );
  });

  it('entries over the size bound are refused with ENTRY_TOO_LARGE whatever their fields', () => {
    fc.assert(
      fc.property(fieldList, fc.nat(200), (pairs, bound) => {
        const fields = fieldsOf(pairs);
        const size = Object.entries(fields).reduce((n, [k, v]) => n + k.length + v.length, 0);
        const out = routeOrTypedError(fields, bound);
        if (size > bound) expect(out).toMatchObject({ code: ErrorCode.EntryTooLarge });
      }),
      { numRuns: RUNS },
    );
  });
});
