import { z } from 'zod';
import { DEFAULTS } from '../../common';
import { activitySchema } from '../worker/components/activity';
import { GatewayError } from './gateway.errors';

// The same rule as common/ids.ts assertValidId: braces would pick another hash slot, control characters
// break logs and tools.
const FORBIDDEN = /[{}\u0000-\u001f\u007f]/;

/** An id that may become part of a Redis key (assertValidId semantics), with messages a person can act on. */
export const idSchema = z
  .string({ error: (iss) => (iss.input === undefined ? 'is required' : 'must be a string') })
  .min(1, 'must not be empty')
  .max(DEFAULTS.maxIdLength, `must be at most ${DEFAULTS.maxIdLength} characters long`)
  .refine((s) => !FORBIDDEN.test(s), "must not contain '{', '}' or control characters");

/** `POST /activities/:activityId/shares`: the sharer's device and ip are kept with the share for the risk checks. */
export const shareBodySchema = z.object({ sharerId: idSchema, device: idSchema.optional(), ip: idSchema.optional() }).strict();

/** `PUT /admin/users/:userId/tags`: the user's crowd tags. */
export const userTagsBodySchema = z.object({ tags: z.array(idSchema).max(100, 'must have at most 100 tags') }).strict();

/** `POST /shares/:code/accept`: device and ip feed the relation's risk checks. */
export const acceptBodySchema = z.object({ inviteeId: idSchema, device: idSchema.optional(), ip: idSchema.optional() }).strict();

/** `POST /applications/:id/task-completed`: `eventId` makes an upstream retry harmless. */
export const taskCompletedBodySchema = z
  .object({
    eventId: idSchema,
    occurredAt: z
      .number({ error: 'must be a number: milliseconds since the epoch' })
      .int('must be a whole number of milliseconds since the epoch')
      .nonnegative('must not be negative')
      .optional(),
  })
  .strict();

/** Share codes: 10 characters of lower-case base32 (RFC 4648 alphabet). */
export const shareCodeSchema = z.string().regex(/^[a-z2-7]{10}$/, 'must be 10 characters of a-z and 2-7, as returned when the share was created');

/** The activity definition schema, for `PUT /admin/activities/:id` (the id comes from the path). */
export const activityBodySchema = activitySchema;

/** Parsed request bodies. */
export type ShareBody = z.output<typeof shareBodySchema>;
export type AcceptBody = z.output<typeof acceptBodySchema>;
export type TaskCompletedBody = z.output<typeof taskCompletedBodySchema>;

/** Every problem of a failed parse, as `path: message` joined by '; '. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.map(String).join('.') || '(body)'}: ${i.message}`).join('; ');
}

/** Parses a request body; throws a 400 naming every problem, or saying a JSON object is expected. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown, what: string, code = 'INVALID_REQUEST'): z.output<S> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new GatewayError(400, code, `the ${what} must be a JSON object sent with Content-Type: application/json`);
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new GatewayError(400, code, `invalid ${what}: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

/** Validates a path parameter; throws a 400 naming the parameter and what is wrong with it. */
export function parseParam(value: unknown, name: string, schema: z.ZodType<string> = idSchema): string {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new GatewayError(400, 'INVALID_ID', `path parameter ${name} ${parsed.error.issues[0]?.message ?? 'is invalid'}`);
  return parsed.data;
}

/** JSON Schema of a body schema for the OpenAPI document (input side: defaults may be left out). */
export function jsonSchemaOf(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}
