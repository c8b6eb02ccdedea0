import { z } from 'zod';
import { ErrorCode, TerminalError } from '../../../../common';
import type { Component } from '../../../../common';
import type { ActivityComponent } from './activity.component';
import type { ApplyRequest } from './activity.types';

// The inputs the referral actor sends (actors/referral/referral.steps.ts: relationCall, rewardCall).
const relationInput = z.object({
  applicationId: z.string().optional(),
  activityId: z.string(),
  sharerId: z.string(),
  inviteeId: z.string(),
  device: z.string().optional(),
  ip: z.string().optional(),
  sharerDevice: z.string().optional(),
  sharerIp: z.string().optional(),
});
const rewardInput = z.object({
  applicationId: z.string().optional(),
  activityId: z.string(),
  side: z.enum(['sharer', 'invitee']),
  userId: z.string(),
  sharerId: z.string(),
  inviteeId: z.string(),
  completedAt: z.number().optional(),
  device: z.string().optional(),
  ip: z.string().optional(),
  sharerDevice: z.string().optional(),
  sharerIp: z.string().optional(),
  attributes: z.object({ tags: z.array(z.string()).optional() }).passthrough().optional(),
});

/** The invitee side's risk inputs: its device and IP beside the sharer's. */
function inviteeRisk(req: z.output<typeof rewardInput>): Pick<ApplyRequest, 'device' | 'ip' | 'sharer'> {
  return {
    ...(req.device !== undefined ? { device: req.device } : {}),
    ...(req.ip !== undefined ? { ip: req.ip } : {}),
    sharer: { userId: req.sharerId, ...(req.sharerDevice !== undefined ? { device: req.sharerDevice } : {}), ...(req.sharerIp !== undefined ? { ip: req.sharerIp } : {}) },
  };
}

function parse<T>(schema: z.ZodType<T>, input: unknown, name: string): T {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
  throw new TerminalError(ErrorCode.InvalidMessage, `${name} input is invalid: ${problems}`);
}

/**
 * The activity component as the runtime calls it: `activity.applyRelation` and `activity.apply`, keyed by the
 * call's idempotency key. A business rejection throws `TerminalError(code, reason)` (a final, non-retryable
 * reply); injected and transient faults throw `RetryableError`; a success returns the grant reference.
 * On the sharer side the applicant is the sharer, so the self-referral and device checks apply to the invitee only.
 */
export function components(activity: ActivityComponent, clock: () => number = Date.now): Record<string, Component> {
  return {
    'activity.applyRelation': async (input, ctx) => {
      const req = parse(relationInput, input, 'activity.applyRelation');
      const { applicationId: _ignored, ...relation } = req;
      const r = await activity.applyRelation(relation, ctx.idempotencyKey, clock());
      if (!r.ok) throw new TerminalError(r.code, r.reason);
      return { relationKey: r.relation.key, sharerId: r.relation.sharerId, inviteeId: r.relation.inviteeId, at: r.relation.at, ...(r.relation.flags ? { flags: r.relation.flags } : {}) };
    },
    'activity.apply': async (input, ctx) => {
      const req = parse(rewardInput, input, 'activity.apply');
      const r = await activity.apply(
        {
          activityId: req.activityId,
          userId: req.userId,
          idempotencyKey: ctx.idempotencyKey,
          ...(req.attributes ? { attributes: req.attributes } : {}),
          ...(req.side === 'invitee' ? inviteeRisk(req) : {}),
        },
        clock(),
      );
      if (!r.ok) throw new TerminalError(r.code, r.reason);
      return { grantId: r.grant.grantId, prize: r.grant.prize, ...(r.grant.flags ? { flags: r.grant.flags } : {}) };
    },
  };
}
