import fc from 'fast-check';
import { z } from 'zod';
import { terminateBodySchema } from './ops';
import { GatewayError } from './gateway.errors';
import { acceptBodySchema, activityBodySchema, parseBody, shareBodySchema, taskCompletedBodySchema, userTagsBodySchema } from './gateway.validation';

const RUNS = 10_000;

/** Field values that pass some schema, so generated bodies often sit next to a valid one. */
const plausible = fc.oneof(
  fc.constantFrom('alice', 'phone-a', '10.0.0.2', 'Asia/Shanghai', 'Mars/Olympus', 'ACTIVE', 'PAUSED', 'reject', 'flag', 'points', 'coupon', 'a{b}', '', 'x'.repeat(201)),
  fc.constantFrom(0, 1, 10, -1, 1.5, 1e300, Number.MAX_SAFE_INTEGER),
  fc.constant({ total: 100 }),
  fc.constant({ kind: 'points', amount: 10 }),
  fc.constant({ anyOf: ['new-user'] }),
  fc.array(fc.constantFrom('new-user', 'vip', ''), { maxLength: 3 }),
);

/** A body shaped like `schema`: its own keys (and a stray one), each holding a plausible or an arbitrary JSON value. */
function nearBody(keys: readonly string[]): fc.Arbitrary<unknown> {
  const value = fc.oneof({ arbitrary: plausible, weight: 3 }, { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 1 });
  const entries = Object.fromEntries([...keys, 'extra'].map((k) => [k, value]));
  return fc.record(entries, { requiredKeys: [] });
}

/** Any JSON a client can send (the body parser hands over whatever JSON.parse gives), or a body near the schema. */
const bodyFor = (keys: readonly string[]) => fc.oneof(fc.jsonValue({ maxDepth: 4 }), nearBody(keys), nearBody(keys));

/**
 * parseBody either returns data the schema accepts, or throws a GatewayError 400 whose message names every
 * problem by its field (`path: message`), or says a JSON object is expected. Nothing else may escape: a
 * TypeError here would be a 500.
 */
function expectParsedOr400(schema: z.ZodType, body: unknown, what: string, code = 'INVALID_REQUEST'): void {
  let data: unknown;
  try {
    data = parseBody(schema, body, what, code);
  } catch (err) {
    // Plain checks, not expect(): 60,000 runs of expect() cost more than the parsing under test.
    if (!(err instanceof GatewayError)) throw new Error(`parseBody threw something other than a GatewayError: ${String((err as Error)?.stack ?? err)}`);
    if (err.getStatus() !== 400 || err.code !== code) throw new Error(`answered ${err.getStatus()} ${err.code}, not 400 ${code}`);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      if (err.message !== `the ${what} must be a JSON object sent with Content-Type: application/json`) throw new Error(`unexpected message: ${err.message}`);
      return;
    }
    if (!err.message.startsWith(`invalid ${what}: `)) throw new Error(`unexpected message: ${err.message}`);
    const issues = schema.safeParse(body).error?.issues ?? [];
    if (issues.length === 0) throw new Error(`a 400 for a body the schema accepts: ${err.message}`);
    for (const issue of issues) {
      // Each problem names its field: by path, or (a stray field) by the key the strict schema refused.
      const named = issue.path.length > 0 ? err.message.includes(`${issue.path.map(String).join('.')}: ${issue.message}`) : issue.code === 'unrecognized_keys';
      if (!named) throw new Error(`the message does not name the field of ${JSON.stringify(issue)}: ${err.message}`);
    }
    return;
  }
  if (!schema.safeParse(data).success) throw new Error(`parsed data the schema refuses: ${JSON.stringify(data)}`);
}

describe('gateway bodies under generated JSON: parsed data the schema accepts, or a 400 naming the field', () => {
  it.each([
    ['share request', shareBodySchema, ['sharerId', 'device', 'ip']],
    ['accept request', acceptBodySchema, ['inviteeId', 'device', 'ip']],
    ['task-completed request', taskCompletedBodySchema, ['eventId', 'occurredAt']],
    ['tags request', userTagsBodySchema, ['tags']],
  ] as const)('POST/PUT %s: 10,000 bodies', (what, schema, keys) => {
    fc.assert(
      fc.property(bodyFor(keys), (body) => expectParsedOr400(schema, body, what)),
      { numRuns: RUNS },
    );
  });

  it('PUT /admin/activities/:id (activity definition, the id from the path): 10,000 bodies', () => {
    const keys = ['status', 'timeZone', 'audience', 'inviteeAudience', 'risk', 'caps', 'budget', 'budgetBuckets', 'prize', 'id'];
    fc.assert(
      fc.property(bodyFor(keys), (input) => {
        // As AdminController.define shapes it: the path's id joins any object body.
        const body = input && typeof input === 'object' ? { ...input, id: 'summer-invite' } : input;
        expectParsedOr400(activityBodySchema, body, 'activity definition', 'INVALID_ACTIVITY');
      }),
      { numRuns: RUNS },
    );
  });

  it('POST /ops/api/actors/:type/:id/terminate (an absent body is {}): 10,000 bodies', () => {
    fc.assert(
      fc.property(fc.option(bodyFor(['reason']), { nil: undefined }), (body) => expectParsedOr400(terminateBodySchema, body ?? {}, 'terminate request')),
      { numRuns: RUNS },
    );
  });
});
