import { z } from 'zod';
import { ErrorCode, TerminalError } from '../../../../common';
import type { RewardCallInput, SubscriptionInput } from '../../../../actors/task/task.types';

/** `task.reward`'s input (RewardCallInput), as the task actor sends it. */
export const rewardCallInputSchema = z.object({
  taskId: z.string().min(1),
  userId: z.string().min(1),
  merchantId: z.string().min(1),
  taskDefId: z.string().min(1),
  period: z.string().min(1),
  stage: z.number().int().min(0),
  threshold: z.number(),
  flow: z.string().min(1),
}) satisfies z.ZodType<RewardCallInput>;

/** `task.subscribe`'s input (SubscriptionInput). */
export const subscriptionInputSchema = z.object({
  userId: z.string().min(1),
  taskId: z.string().min(1),
  events: z.array(z.string().min(1)).max(64),
  until: z.number().nullable(),
}) satisfies z.ZodType<SubscriptionInput>;

/** `task.unsubscribe` needs only whose task it is; the events and `until` the actor sends along are ignored. */
export const unsubscriptionInputSchema = subscriptionInputSchema.partial({ events: true, until: true });

/** Parses a component's input; anything else is a TerminalError INVALID_MESSAGE naming each problem. */
export function parseInput<T>(schema: z.ZodType<T>, input: unknown, component: string): T {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
  throw new TerminalError(ErrorCode.InvalidMessage, `${component} input is invalid: ${problems}`);
}
