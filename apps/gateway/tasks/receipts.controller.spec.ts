import { ErrorCode, PropelError } from '../../../common';
import type { ConfigItem } from '../../../common/config-center/types';
import { taskDefinitionSchema } from '../../../actors/task/task.definition';
import type { TaskDefinition } from '../../../actors/task/task.definition';
import { GatewayError } from '../gateway.errors';
import { RECEIPT_NOT_QUEUED, ReceiptsController } from './receipts.controller';
import type { TaskCenter } from './task-center';

// POST /receipts without Redis or a worker: the routing is real (an auto-enrolment definition), the asks are stubbed.

const definition: ConfigItem<TaskDefinition> = {
  kind: 'task',
  id: 'orders',
  version: 1,
  updatedAt: 0,
  value: taskDefinitionSchema.parse({ id: 'orders', merchantId: 'm1', name: 'Orders', type: 'staged', enrolment: 'auto', events: ['order.paid'], stages: [{ threshold: 1 }, { threshold: 3 }] }),
};

function controller(ask: (taskId: string) => Promise<unknown>): ReceiptsController {
  const center = {
    cache: { get: () => undefined, list: () => [definition], onChange: () => () => undefined },
    store: { get: async () => null },
    subscriptions: { lookup: async () => [] },
    userTaskSet: { add: async () => undefined },
    ask: (taskId: string) => ask(taskId),
  } as unknown as TaskCenter;
  return new ReceiptsController(center);
}

const body = { userId: 'u1', event: 'order.paid', eventId: 'o-1', occurredAt: 1_700_000_000_000 };

describe('POST /receipts (ReceiptsController)', () => {
  it('a receipt whose message could not be written to the task inbox (Redis unavailable) is a 503 to send again, not a 200 that skips it', async () => {
    // Seen in a chaos run on the cluster: the partition's master was killed, the XADD failed with a raw ioredis
    // error, and the receipt was answered 200 with the task under `skipped` (HANDLER_FAILED): acknowledged, lost.
    const status = jest.fn();
    // The streams client turns the failed append into NOT_QUEUED (common/transport/streams.client.ts).
    const failing = controller(async () => {
      throw new PropelError(ErrorCode.NotQueued, 'the message for actor:task u1:orders:once could not be written to its inbox (Too many Cluster redirections. Last error: Error: connect ECONNREFUSED 127.0.0.1:39155); send it again');
    });
    const err = await failing.receipt(body, { status }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).getStatus()).toBe(503);
    expect((err as GatewayError).code).toBe(RECEIPT_NOT_QUEUED);
    expect((err as GatewayError).message).toContain('u1:orders:once');
    expect(status).not.toHaveBeenCalled();
  });

  it('a task that did not answer in time is queued (202); a task that refused the receipt is skipped with its code (200)', async () => {
    const status = jest.fn();
    const timedOut = await controller(async () => {
      throw new PropelError(ErrorCode.CallTimeout, 'no answer within 10000 ms (the message stays queued)');
    }).receipt(body, { status });
    expect(status).toHaveBeenCalledWith(202);
    expect(timedOut).toMatchObject({ eventId: 'o-1', tasks: [], queued: ['u1:orders:once'] });

    const refusedStatus = jest.fn();
    const refused = await controller(async () => {
      throw new PropelError(ErrorCode.InvalidMessage, 'the turn failed');
    }).receipt(body, { status: refusedStatus });
    expect(refusedStatus).not.toHaveBeenCalled();
    expect(refused).toMatchObject({ tasks: [], skipped: [{ taskId: 'u1:orders:once', code: ErrorCode.InvalidMessage }] });
  });
});
