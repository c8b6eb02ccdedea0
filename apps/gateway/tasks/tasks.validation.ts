import { z } from 'zod';
import { TerminalError } from '../../../common/errors';
import { describeIssues, rewardFlowSchema, RewardFlow, TaskDefinition, taskDefinitionSchema } from '../../../actors/task/task.definition';
import { MAX_TASK_USER_ID_LENGTH, parseReceipt, Receipt } from '../../../actors/task/task.routing';
import { GatewayError } from '../gateway.errors';
import { idSchema } from '../gateway.validation';

/**
 * What the task center's HTTP routes accept, as pure functions (unit- and property-tested without HTTP):
 * path ids before they become keys, the merchant's definition and flow bodies, claims, receipts, and the
 * If-Match / Idempotency-Key headers. Every refusal is a GatewayError naming each problem.
 */

/** Merchant, definition and flow ids: as the definition schema has them (they join keys and task ids). */
export const configIdSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(64, 'must be at most 64 characters long')
  .regex(/^[A-Za-z0-9_.-]+$/, 'may hold letters, digits, ".", "_" and "-" only');

/** User ids of the task center: an id (no braces or control characters), without ':', short enough for task ids. */
export const taskUserIdSchema = idSchema
  .refine((s) => s.length <= MAX_TASK_USER_ID_LENGTH, `must be at most ${MAX_TASK_USER_ID_LENGTH} characters long`)
  .refine((s) => !s.includes(':'), "must not contain ':' (task ids join user, task and period with ':')");

/** `POST /users/:userId/tasks/:taskDefId/claim`: the body is optional; what it holds is part of the claim's fingerprint. */
export const claimBodySchema = z
  .object({
    /** Where the user claimed (app, web, mini-program…), echoed in the answer. */
    channel: configIdSchema.optional(),
  })
  .strict();
export type ClaimBody = z.output<typeof claimBodySchema>;

/** `POST /merchants/:merchantId/tasks/:taskDefId/end`: why the merchant ends it (kept in each task's history). */
export const endBodySchema = z.object({ reason: z.string().min(1, 'must not be empty').max(500, 'must be at most 500 characters').regex(/^[^\u0000-\u001f\u007f]*$/, 'must not contain control characters').optional() }).strict();

/** `Idempotency-Key`: a client's request id (a UUID fits), scoped to the user by the route. */
export const idempotencyKeySchema = z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'the Idempotency-Key header must be 1 to 64 letters, digits, ".", "_", ":" or "-" (a UUID fits)');

/** Codes of the 400s the task routes answer. */
export const TASK_REQUEST_ERRORS = {
  definition: 'INVALID_TASK_DEFINITION',
  flow: 'INVALID_REWARD_FLOW',
  claim: 'INVALID_CLAIM',
  end: 'INVALID_REQUEST',
  receipt: 'INVALID_RECEIPT',
  ifMatch: 'INVALID_IF_MATCH',
  idempotencyKey: 'INVALID_IDEMPOTENCY_KEY',
  query: 'INVALID_QUERY',
} as const;

function isObject(body: unknown): body is Record<string, unknown> {
  return typeof body === 'object' && body !== null && !Array.isArray(body);
}

/**
 * A merchant's body for `PUT …/<what>/:id`: the path names the merchant and the item, so `merchantId` and `id`
 * in the body must match them or be left out; then the schema. Every problem in one 400.
 */
function parseOwned<T>(schema: z.ZodType<T>, body: unknown, merchantId: string, id: string, what: string, code: string, extra: (value: Record<string, unknown>) => string[] = () => []): T {
  if (!isObject(body)) throw new GatewayError(400, code, `the ${what} must be a JSON object sent with Content-Type: application/json`);
  const problems: string[] = [];
  if (body.id !== undefined && body.id !== id) problems.push(`id: ${JSON.stringify(body.id)} differs from the path's ${JSON.stringify(id)}; leave it out or make them equal`);
  if (body.merchantId !== undefined && body.merchantId !== merchantId) problems.push(`merchantId: ${JSON.stringify(body.merchantId)} differs from the path's ${JSON.stringify(merchantId)}; leave it out or make them equal`);
  problems.push(...extra(body));
  const parsed = schema.safeParse({ ...body, id, merchantId });
  if (!parsed.success) problems.push(describeIssues(parsed.error));
  if (problems.length > 0 || !parsed.success) throw new GatewayError(400, code, `invalid ${what}: ${problems.join('; ')}`);
  return parsed.data;
}

/** `PUT /merchants/:merchantId/tasks/:taskDefId`: a task definition (ENDED is set by POST …/end, which also ends the tasks). */
export function parseDefinitionBody(body: unknown, merchantId: string, taskDefId: string): TaskDefinition {
  return parseOwned(taskDefinitionSchema, body, merchantId, taskDefId, 'task definition', TASK_REQUEST_ERRORS.definition, (b) =>
    b.status === 'ENDED' ? [`status: ENDED is set by POST /merchants/${merchantId}/tasks/${taskDefId}/end, which also terminates the claimed tasks`] : [],
  );
}

/** `PUT /merchants/:merchantId/flows/:flowId`: a reward flow. */
export function parseFlowBody(body: unknown, merchantId: string, flowId: string): RewardFlow {
  return parseOwned(rewardFlowSchema, body, merchantId, flowId, 'reward flow', TASK_REQUEST_ERRORS.flow);
}

/** A body that may be absent (no Content-Type, or an empty object) and must otherwise satisfy `schema`. */
export function parseOptionalBody<S extends z.ZodType>(schema: S, body: unknown, what: string, code: string): z.output<S> {
  const input = body === undefined || body === null || (isObject(body) && Object.keys(body).length === 0) ? {} : body;
  if (!isObject(input)) throw new GatewayError(400, code, `the ${what} must be a JSON object sent with Content-Type: application/json (or no body)`);
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw new GatewayError(400, code, `invalid ${what}: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

/** `POST /receipts`: a completion receipt; `occurredAt` defaults to `now`. */
export function parseReceiptBody(body: unknown, now: number): Receipt {
  if (!isObject(body)) throw new GatewayError(400, TASK_REQUEST_ERRORS.receipt, 'the receipt must be a JSON object sent with Content-Type: application/json');
  try {
    return parseReceipt(body, now);
  } catch (err) {
    if (err instanceof TerminalError) throw new GatewayError(400, TASK_REQUEST_ERRORS.receipt, err.message);
    throw err;
  }
}

/** `If-Match: <version>` (also `"3"` or `W/"3"`, as an ETag): the version the writer read; 0 = must not exist yet. */
export function parseIfMatch(header: string | string[] | undefined): number | undefined {
  if (header === undefined) return undefined;
  const raw = Array.isArray(header) ? header.join(',') : header;
  const m = /^\s*(?:W\/)?"?(\d{1,15})"?\s*$/.exec(raw);
  if (!m) throw new GatewayError(400, TASK_REQUEST_ERRORS.ifMatch, `If-Match must be the version you read (e.g. If-Match: 3, or the ETag "3"), or 0 to create only; got ${JSON.stringify(raw.slice(0, 40))}`);
  return Number(m[1]);
}

/** An optional `Idempotency-Key` header. */
export function parseIdempotencyKey(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  const parsed = idempotencyKeySchema.safeParse(Array.isArray(header) ? header.join(',') : header);
  if (!parsed.success) throw new GatewayError(400, TASK_REQUEST_ERRORS.idempotencyKey, parsed.error.issues[0]?.message ?? 'invalid Idempotency-Key');
  return parsed.data;
}

/** A page size from the query (`limit`): 1 … max, `fallback` when absent. */
export function parseLimit(raw: unknown, max: number, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  if (typeof raw !== 'string' || !/^\d{1,6}$/.test(raw) || Number(raw) < 1 || Number(raw) > max) throw new GatewayError(400, TASK_REQUEST_ERRORS.query, `limit must be an integer from 1 to ${max}`);
  return Number(raw);
}

/** An SSCAN cursor from the query (`cursor`): as a previous page returned it; `0` (or absent) starts over. */
export function parseCursor(raw: unknown): string {
  if (raw === undefined || raw === '') return '0';
  if (typeof raw !== 'string' || !/^\d{1,20}$/.test(raw)) throw new GatewayError(400, TASK_REQUEST_ERRORS.query, 'cursor must be the cursor a previous page returned (digits), or 0 to start');
  return raw;
}
