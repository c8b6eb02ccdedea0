import { Body, Controller, HttpCode, Post, Res, UseGuards } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ErrorCode, PropelError } from '../../../common';
import { GatewayError } from '../gateway.errors';
import { taskView } from '../../../actors/task/task.actor';
import { TaskRejection } from '../../../actors/task/task.types';
import type { TaskView } from '../../../actors/task/task.types';
import { routeTaskReceipt } from '../../worker/components/task';
import { PublicRateLimitGuard } from '../rate-limit';
import { TaskCenter } from './task-center';
import { parseReceiptBody } from './tasks.validation';

/** A task the receipt did not count for, and why (the router's skip, or the task's own refusal). */
export interface ReceiptSkip {
  taskId: string;
  code: string;
  reason: string;
}

/** What `POST /receipts` answers. */
export interface ReceiptAnswer {
  eventId: string;
  /** The tasks the receipt counted for (or had counted already), after their turn. */
  tasks: TaskView[];
  skipped: ReceiptSkip[];
  /** 202 only: tasks that did not answer in time; the receipt is in their inbox and will be applied. */
  queued?: string[];
  message?: string;
}

// The OpenAPI body (parseReceipt is the validation; this only describes it).
const RECEIPT_BODY = {
  type: 'object',
  required: ['userId', 'event', 'eventId'],
  additionalProperties: false,
  properties: {
    userId: { type: 'string', description: "no ':', braces or control characters; at most 100" },
    event: { type: 'string', pattern: '^[a-z][a-z0-9_.-]*$', description: 'the event type task definitions list in `events`, e.g. order.paid' },
    eventId: { type: 'string', description: 'the upstream event id: a retried receipt counts once' },
    occurredAt: { type: 'integer', description: 'when it happened, ms since the epoch (default: now); deadlines and periods are judged by it' },
    amount: { type: 'number', minimum: 0, description: 'what the event is worth for amount tasks' },
    fields: { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean', 'null'] }, description: "flat event fields; an amount task reads its amountField here first" },
  },
};

/** 503: the receipt could not be written to a task's inbox; the sender sends it again. */
export const RECEIPT_NOT_QUEUED = 'RECEIPT_NOT_QUEUED';

interface StatusResponse {
  status(code: number): unknown;
}

/**
 * Synchronous completion receipts: an upstream reports one event of one user and gets the tasks' progress back
 * (the asynchronous way is the ingest stream). The same routing as the ingest path, then each target task is
 * asked with the message id `event:<eventId>`, so a retried receipt — here or through the stream — counts once.
 */
@ApiTags('tasks: receipts')
@Controller('receipts')
@UseGuards(PublicRateLimitGuard)
@ApiResponse({ status: 429, description: 'RATE_LIMITED' })
export class ReceiptsController {
  constructor(private readonly center: TaskCenter) {}

  @Post()
  @HttpCode(200)
  @ApiOperation({ summary: 'Report a completion receipt (synchronously)' })
  @ApiBody({ schema: RECEIPT_BODY })
  @ApiResponse({ status: 200, description: '{ eventId, tasks: [task view after the event], skipped: [{ taskId, code, reason }] }' })
  @ApiResponse({ status: 202, description: 'some task did not answer within the ask timeout: { …, queued: [taskId], message }; the receipt is queued and will be applied' })
  @ApiResponse({ status: 400, description: 'INVALID_RECEIPT: every problem named' })
  @ApiResponse({ status: 503, description: 'RECEIPT_NOT_QUEUED: the receipt could not be written to a task\'s inbox (Redis unavailable); send it again, the same eventId counts once' })
  async receipt(@Body() body: unknown, @Res({ passthrough: true }) res: StatusResponse): Promise<ReceiptAnswer> {
    const receipt = parseReceiptBody(body, Date.now());
    const routed = await routeTaskReceipt(receipt, { config: this.center.cache, reader: this.center.store, subscriptions: this.center.subscriptions, userTasks: this.center.userTaskSet });
    const skipped: ReceiptSkip[] = routed.skipped.map(({ taskId, code, reason }) => ({ taskId, code, reason }));
    const tasks: TaskView[] = [];
    const queued: string[] = [];
    const messageId = `event:${receipt.eventId}`;
    const replies = await Promise.allSettled(routed.targets.map((t) => this.center.ask(t.taskId, t.message, messageId)));
    // NOT_QUEUED: the message never reached the task's inbox (Redis unavailable, a cluster failover): not a skip,
    // and not queued. The sender must send the receipt again, which is safe: every task counts the event id once.
    const unsent = replies.flatMap((outcome, i) => (outcome.status === 'rejected' && outcome.reason instanceof PropelError && outcome.reason.code === ErrorCode.NotQueued ? [{ taskId: routed.targets[i].taskId, reason: outcome.reason }] : []));
    if (unsent.length > 0) {
      const why = unsent[0].reason.message;
      throw new GatewayError(
        503,
        RECEIPT_NOT_QUEUED,
        `receipt ${receipt.eventId} could not be queued for ${unsent.map((u) => u.taskId).join(', ')} (${why}); send it again: the same eventId counts once per task`,
      );
    }
    replies.forEach((outcome, i) => {
      const { taskId } = routed.targets[i];
      if (outcome.status === 'rejected') {
        if (outcome.reason instanceof PropelError && outcome.reason.code === ErrorCode.CallTimeout) queued.push(taskId);
        else skipped.push({ taskId, ...describe(outcome.reason) });
        return;
      }
      const reply = outcome.value;
      // A task that counted this event before (a retried receipt) shows as counted, not as skipped.
      if (reply.rejected && reply.rejected.code !== TaskRejection.DuplicateEvent) skipped.push({ taskId, code: reply.rejected.code, reason: reply.rejected.reason });
      else tasks.push(taskView(reply.state, reply.version));
    });
    const answer: ReceiptAnswer = { eventId: receipt.eventId, tasks, skipped };
    if (queued.length > 0) {
      res.status(202);
      return { ...answer, queued, message: `the receipt is queued for ${queued.length} task(s) that did not answer in time; it will be applied once (GET /users/${receipt.userId}/tasks shows them)` };
    }
    return answer;
  }
}

function describe(err: unknown): { code: string; reason: string } {
  if (err instanceof PropelError) return { code: String(err.code), reason: err.message };
  return { code: ErrorCode.HandlerFailed, reason: err instanceof Error ? err.message : String(err) };
}
