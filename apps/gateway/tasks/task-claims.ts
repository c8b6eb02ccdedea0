import { Injectable } from '@nestjs/common';
import { Idempotent } from '../../../common/idempotency';
import type { IdempotencyMarker } from '../../../common/idempotency';
import type { ConfigItem } from '../../../common/config-center';
import type { TaskDefinition } from '../../../actors/task/task.definition';
import { ClaimAnswer, DEFAULT_CLAIM_TTL_MS, TaskCenter } from './task-center';
import type { ClaimBody } from './tasks.validation';

/** The idempotent operation's name: its keys are `task.claim:<key>`, its dynamic configuration field `task.claim`. */
export const CLAIM_OPERATION = 'task.claim';

/** What a claim request is, for its fingerprint: the same key with another of these is a reused key. */
export interface ClaimRequest {
  userId: string;
  taskDefId: string;
  body: ClaimBody;
}

/** The idempotency key of a claim: the client's `Idempotency-Key` (scoped to the user), else the user's task of the period. */
export function claimKey(userId: string, taskDefId: string, period: string, header?: string): string {
  return header !== undefined ? `key:${userId}:${header}` : `claim:${userId}:${taskDefId}:${period}`;
}

/**
 * User claims, made idempotent by the idempotency component (scenario 16): of any number of claims with one
 * key, one runs; the others get the first one's answer, an idempotency code or an error, by the operation's
 * strategy (first-result by default; switched at run time through `{<ns>:idem}:config`, field `task.claim`).
 * A claim that fails (a refusal, a timeout) gives its key back, so a retry runs again.
 */
@Injectable()
export class TaskClaims {
  constructor(private readonly center: TaskCenter) {}

  @Idempotent<[string, ClaimRequest]>({
    name: CLAIM_OPERATION,
    key: (key) => key,
    payload: (_key, request) => request,
    ttlMs: DEFAULT_CLAIM_TTL_MS,
    onDuplicate: 'first-result',
  })
  async claim(_key: string, request: ClaimRequest, item: ConfigItem<TaskDefinition>, now: number): Promise<ClaimAnswer | IdempotencyMarker> {
    const { view, claimedAt } = await this.center.claim(item, request.userId, now);
    return { task: view, claimedAt, ...(request.body.channel !== undefined ? { channel: request.body.channel } : {}) };
  }
}
