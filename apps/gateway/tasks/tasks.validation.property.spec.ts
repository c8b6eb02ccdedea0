import fc from 'fast-check';
import { taskDefinitionSchema } from '../../../actors/task/task.definition';
import { GatewayError } from '../gateway.errors';
import { claimBodySchema, parseDefinitionBody, parseOptionalBody, parseReceiptBody } from './tasks.validation';

const RUNS = 10_000;

/** Values that pass some field of these bodies, so generated bodies often sit one field away from a valid one. */
const plausible = fc.oneof(
  fc.constantFrom('sign-in', 'order.paid', 'Order Paid', 'cumulative', 'staged', 'one-shot', 'deadline', 'recurring', 'daily', 'weekly', 'auto', 'claim', 'amount', 'count'),
  fc.constantFrom('ACTIVE', 'PAUSED', 'ENDED', 'UTC', 'Asia/Shanghai', 'Mars/Olympus', 'points10', 'shop1', 'shop2', '', 'a:b', 'a{b}', 'x'.repeat(201)),
  fc.constantFrom(0, 1, 3, -1, 1.5, 1_000, 86_400_000, 1e300, Number.MAX_SAFE_INTEGER),
  fc.constant(['order.paid']),
  fc.constant([{ threshold: 1 }, { threshold: 3, flow: 'points10' }]),
  fc.constant([{ threshold: 3 }, { threshold: 1 }]),
  fc.constant({ maxRetries: 2, backoffBaseMs: 10, backoffCapMs: 5 }),
  fc.constant({ paid: '12.5', vip: true }),
);

function near(keys: readonly string[]): fc.Arbitrary<unknown> {
  const value = fc.oneof({ arbitrary: plausible, weight: 4 }, { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 1 });
  return fc.record(Object.fromEntries([...keys, 'extra'].map((k) => [k, value])), { requiredKeys: [] });
}

/** Any JSON a client can send, or a body near the route's fields. */
const bodyFor = (keys: readonly string[]) => fc.oneof(fc.jsonValue({ maxDepth: 4 }), near(keys), near(keys), near(keys));

/** Either parses, or throws a 400 GatewayError with the route's code and a message; nothing else may escape. */
function parsedOr400(parse: () => unknown, code: string): unknown {
  try {
    return parse();
  } catch (err) {
    // Plain checks, not expect(): 10,000 runs of expect() cost more than the parsing under test.
    if (!(err instanceof GatewayError)) throw new Error(`threw something other than a GatewayError: ${String((err as Error)?.stack ?? err)}`);
    if (err.getStatus() !== 400 || err.code !== code || err.message.length === 0) throw new Error(`answered ${err.getStatus()} ${err.code}: ${err.message}`);
    return undefined;
  }
}


const DEFINITION_KEYS = ['name', 'id', 'merchantId', 'type', 'status', 'events', 'measure', 'amountField', 'enrolment', 'timeZone', 'startsAt', 'endsAt', 'target', 'stages', 'withinMs', 'period', 'weekStartsOn', 'flow', 'reward'];

/** Valid definitions of each type, each with one field replaced by a plausible or arbitrary value (or none). */
const mutatedDefinition = fc
  .tuple(
    fc.constantFrom<Record<string, unknown>>(
      { name: 'n', type: 'one-shot', events: ['order.paid'] },
      { name: 'n', type: 'cumulative', target: 3, events: ['order.paid'], measure: 'amount' },
      { name: 'n', type: 'staged', stages: [{ threshold: 1 }, { threshold: 3, flow: 'points10' }], events: ['order.paid'] },
      { name: 'n', type: 'deadline', target: 2, withinMs: 86_400_000, events: ['order.paid'] },
      { name: 'n', type: 'recurring', period: 'weekly', target: 1, events: ['order.paid'], timeZone: 'Asia/Shanghai', enrolment: 'auto' },
    ),
    fc.option(fc.tuple(fc.constantFrom(...DEFINITION_KEYS, 'extra'), fc.oneof(plausible, fc.jsonValue({ maxDepth: 2 }))), { nil: undefined }),
  )
  .map(([base, change]) => (change ? { ...base, [change[0]]: change[1] } : base));

describe('task route bodies under generated JSON: parsed, or a 400 with the route code and every problem', () => {
  it('PUT /merchants/:merchantId/tasks/:taskDefId: 10,000 bodies; what parses is a definition of that merchant and id, never ENDED', () => {
    fc.assert(
      fc.property(fc.oneof(bodyFor(DEFINITION_KEYS), mutatedDefinition), (body) => {
        const def = parsedOr400(() => parseDefinitionBody(body, 'shop1', 'sign-in'), 'INVALID_TASK_DEFINITION') as { id: string; merchantId: string; status: string } | undefined;
        if (!def) return;
        if (def.id !== 'sign-in' || def.merchantId !== 'shop1' || def.status === 'ENDED' || !taskDefinitionSchema.safeParse(def).success) throw new Error(`accepted ${JSON.stringify(def)}`);
      }),
      { numRuns: RUNS },
    );
  });

  it('POST /users/:userId/tasks/:taskDefId/claim: 10,000 bodies (absent ones included)', () => {
    fc.assert(
      fc.property(fc.option(bodyFor(['channel']), { nil: undefined }), (body) => {
        const claim = parsedOr400(() => parseOptionalBody(claimBodySchema, body, 'claim request', 'INVALID_CLAIM'), 'INVALID_CLAIM');
        if (claim !== undefined && !claimBodySchema.safeParse(claim).success) throw new Error(`accepted ${JSON.stringify(claim)}`);
      }),
      { numRuns: RUNS },
    );
  });

  it('POST /receipts: 10,000 bodies; what parses has a user without ":", a lower-case event and a time', () => {
    fc.assert(
      fc.property(bodyFor(['userId', 'event', 'eventId', 'occurredAt', 'amount', 'fields']), (body) => {
        const r = parsedOr400(() => parseReceiptBody(body, 1_700_000_000_000), 'INVALID_RECEIPT') as { userId: string; event: string; occurredAt: number } | undefined;
        if (r && (r.userId.includes(':') || !/^[a-z]/.test(r.event) || !Number.isSafeInteger(r.occurredAt))) throw new Error(`accepted ${JSON.stringify(r)}`);
      }),
      { numRuns: RUNS },
    );
  });
});
