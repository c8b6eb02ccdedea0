import { encodeEnvelope } from '../../../../../common';
import type { RewardStep } from '../../../../../actors/task/task.definition';
import type { RewardStepHandler, StepContext } from '../step-registry';
import { taskScripts } from '../task.scripts';
import type { StepDeps } from './step-deps';

type NotifyStepConfig = Extract<RewardStep, { type: 'notify' }>;

/** The notification kind of a notify step (the notifier routes on kinds). */
export const TASK_REWARD_NOTIFICATION = 'TASK_REWARDED';
/** The named stream notify steps append to: the one the notifier reads. */
const STREAM = 'notifications';

/** What a notify step returns: the notification's id (the step key) and its stream entry. */
export interface NotifyRef {
  notificationId: string;
  entryId: string;
}

/**
 * `notify`: appends a notification for the user to the notifications stream, in the envelope the notifier
 * decodes (field `e`, payload `{ kind, notificationId, userId, ... }`). The entry and its mark are written by
 * one script in the stream's slot (emitNotification-2.lua), so a step key appends once; the notificationId is
 * the step key too, so the notifier drops a repeat even past the mark's TTL.
 */
export class NotifyStep implements RewardStepHandler<NotifyStepConfig> {
  readonly type = 'notify';

  constructor(private readonly deps: StepDeps) {}

  async run(step: NotifyStepConfig, ctx: StepContext): Promise<NotifyRef> {
    const { keys, redis, ttlS } = this.deps;
    const data = {
      kind: TASK_REWARD_NOTIFICATION,
      notificationId: ctx.stepKey,
      userId: ctx.userId,
      merchantId: ctx.merchantId,
      taskId: ctx.taskId,
      rewardKey: ctx.rewardKey,
      template: step.template,
    };
    const envelope = encodeEnvelope({ id: ctx.stepKey, pattern: STREAM, data, ts: ctx.now });
    const [entryId] = await taskScripts(redis).emitNotification(keys.notificationMark(ctx.stepKey), keys.notifications(), envelope, ttlS);
    return { notificationId: ctx.stepKey, entryId: String(entryId) };
  }
}
