import { Body, Controller, Get, Headers, HttpCode, Param, Post, Query, UseGuards } from '@nestjs/common';
import { ApiBody, ApiHeader, ApiOperation, ApiParam, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { DuplicateRequestError, IdempotencyInProgressError, IdempotencyKeyReusedError, isIdempotencyMarker } from '../../../common/idempotency';
import { periodOf } from '../../../actors/task/task.period';
import type { TaskView } from '../../../actors/task/task.types';
import { LEDGER_READ_DEFAULT, LEDGER_READ_MAX } from '../../worker/components/task';
import type { TaskBalances, TaskLedgerEntry } from '../../worker/components/task';
import { GatewayError } from '../gateway.errors';
import { historyView } from '../history-view';
import type { HistoryStepView } from '../history-view';
import { jsonSchemaOf, parseParam } from '../gateway.validation';
import { PublicRateLimitGuard } from '../rate-limit';
import { ClaimAnswer, TASK_CENTER_ERRORS, TaskCenter } from './task-center';
import { claimKey, TaskClaims } from './task-claims';
import { claimBodySchema, configIdSchema, parseCursor, parseIdempotencyKey, parseLimit, parseOptionalBody, TASK_REQUEST_ERRORS, taskUserIdSchema } from './tasks.validation';
import { idSchema } from '../gateway.validation';

const USER_PARAM = { name: 'userId', description: "user id (no ':', braces or control characters; at most 100)" };
const TASKS_PAGE_MAX = 100;

/** What `code` answers for a duplicate whose first claim is done: the idempotency code, and where the task is. */
export interface DuplicateClaimAnswer {
  duplicate: true;
  code: string;
  key: string;
  message: string;
}

/** One task with its history, as `GET /users/:userId/tasks/:taskId` answers. */
export interface TaskDetail extends TaskView {
  updatedAt: number;
  history: HistoryStepView[];
}

/**
 * The C side: users claim tasks and read their tasks and rewards. Public like the referral routes (rate-limited
 * per client IP); a real deployment puts its user authentication in front of them (docs/task-center.md).
 */
@ApiTags('tasks: users')
@Controller('users/:userId')
@UseGuards(PublicRateLimitGuard)
@ApiResponse({ status: 429, description: 'RATE_LIMITED: over PROPEL_RATE_LIMIT_PER_MINUTE for this route and client IP' })
export class UserTasksController {
  constructor(
    private readonly center: TaskCenter,
    private readonly claims: TaskClaims,
  ) {}

  @Post('tasks/:taskDefId/claim')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Claim a task',
    description:
      'Claims the task of the current period (daily/weekly tasks: the merchant-local day or week). Idempotent: the key is the Idempotency-Key header (scoped to the user) or, without one, the user\'s task of the period. ' +
      'A duplicate gets, by the configured strategy (field task.claim of {ns:idem}:config): first-result → 200 and the first answer; code → 200 { duplicate, code } (409 while the first still runs); throw → 409 IDEMPOTENCY_DUPLICATE. The same key with another request → 422 IDEMPOTENCY_KEY_REUSED.',
  })
  @ApiParam(USER_PARAM)
  @ApiParam({ name: 'taskDefId' })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: '1–64 of letters, digits, ".", "_", ":", "-"' })
  @ApiBody({ required: false, schema: jsonSchemaOf(claimBodySchema) })
  @ApiResponse({ status: 200, description: '{ task: { taskId, status, progress, target, deadline, stages, ... }, claimedAt, channel? }' })
  @ApiResponse({ status: 404, description: 'TASK_NOT_FOUND' })
  @ApiResponse({ status: 409, description: 'TASK_PAUSED, TASK_ENDED, TASK_NOT_STARTED, TASK_CLOSED, ALREADY_CLAIMED, IDEMPOTENCY_DUPLICATE, IDEMPOTENCY_IN_PROGRESS' })
  @ApiResponse({ status: 422, description: 'TASK_ENROLS_AUTOMATICALLY (no claim needed), IDEMPOTENCY_KEY_REUSED' })
  async claim(@Param('userId') rawUser: string, @Param('taskDefId') rawDef: string, @Body() body: unknown, @Headers('idempotency-key') rawKey: string | undefined): Promise<ClaimAnswer | DuplicateClaimAnswer> {
    const userId = parseParam(rawUser, 'userId', taskUserIdSchema);
    const taskDefId = parseParam(rawDef, 'taskDefId', configIdSchema);
    const header = parseIdempotencyKey(rawKey);
    const claimBody = parseOptionalBody(claimBodySchema, body, 'claim request', TASK_REQUEST_ERRORS.claim);
    const now = Date.now();
    const item = await this.center.definitionForClaim(taskDefId);
    const key = claimKey(userId, taskDefId, periodOf(item.value, now).period, header);
    let answer: Awaited<ReturnType<TaskClaims['claim']>>;
    try {
      answer = await this.claims.claim(key, { userId, taskDefId, body: claimBody }, item, now);
    } catch (err) {
      if (err instanceof IdempotencyKeyReusedError) throw new GatewayError(422, String(err.code), err.message);
      if (err instanceof DuplicateRequestError || err instanceof IdempotencyInProgressError) throw new GatewayError(409, String(err.code), err.message);
      throw err;
    }
    if (!isIdempotencyMarker(answer)) return answer;
    if (answer.idempotent === 'KEY_REUSED') {
      throw new GatewayError(422, answer.code, `idempotency key ${answer.key} was already used with a different request; use a new key for a different request`);
    }
    if (answer.state === 'in-progress') {
      throw new GatewayError(409, answer.code, `the claim with idempotency key ${answer.key} is still running; GET /users/${userId}/tasks shows the task once it is done`);
    }
    return { duplicate: true, code: answer.code, key: answer.key, message: `this claim was already processed; GET /users/${userId}/tasks shows the task` };
  }

  @Get('tasks')
  @ApiOperation({ summary: "List the user's tasks", description: 'In pages: pass back the returned cursor; "0" means done. Each task with its progress, target, deadline and stages (with their reward outcomes).' })
  @ApiParam(USER_PARAM)
  @ApiQuery({ name: 'cursor', required: false })
  @ApiQuery({ name: 'limit', required: false, description: `page size hint, 1–${TASKS_PAGE_MAX} (default 50)` })
  async list(@Param('userId') rawUser: string, @Query('cursor') rawCursor: unknown, @Query('limit') rawLimit: unknown): Promise<{ userId: string; tasks: TaskView[]; cursor: string }> {
    const userId = parseParam(rawUser, 'userId', taskUserIdSchema);
    const page = await this.center.userTasks(userId, parseCursor(rawCursor), parseLimit(rawLimit, TASKS_PAGE_MAX, 50));
    return { userId, ...page };
  }

  @Get('tasks/:taskId')
  @ApiOperation({ summary: 'Read one task', description: 'taskId is `<userId>:<taskDefId>:<period>` (period `once`, `d<YYYY-MM-DD>` or `w<YYYY-MM-DD>`), with the task\'s history.' })
  @ApiParam(USER_PARAM)
  @ApiParam({ name: 'taskId' })
  @ApiResponse({ status: 404, description: 'USER_TASK_NOT_FOUND' })
  async get(@Param('userId') rawUser: string, @Param('taskId') rawTask: string): Promise<TaskDetail> {
    const userId = parseParam(rawUser, 'userId', taskUserIdSchema);
    const taskId = parseParam(rawTask, 'taskId', idSchema);
    const notFound = new GatewayError(404, TASK_CENTER_ERRORS.taskNotFound, `user ${userId} has no task ${taskId}; GET /users/${userId}/tasks lists them`);
    // Another user's task is not this user's business: the same 404.
    if (!taskId.startsWith(`${userId}:`)) throw notFound;
    const found = await this.center.task(taskId);
    if (!found) throw notFound;
    return {
      ...found.view,
      updatedAt: found.updatedAt,
      history: historyView(found.history),
    };
  }

  @Get('rewards')
  @ApiOperation({ summary: "Read the user's task rewards", description: 'Balances (points, growth) and the last `limit` ledger entries, oldest first.' })
  @ApiParam(USER_PARAM)
  @ApiQuery({ name: 'limit', required: false, description: `1–${LEDGER_READ_MAX} (default ${LEDGER_READ_DEFAULT})` })
  async rewards(@Param('userId') rawUser: string, @Query('limit') rawLimit: unknown): Promise<{ userId: string; balances: TaskBalances; ledger: TaskLedgerEntry[] }> {
    const userId = parseParam(rawUser, 'userId', taskUserIdSchema);
    const limit = parseLimit(rawLimit, LEDGER_READ_MAX, LEDGER_READ_DEFAULT);
    const [balances, ledger] = await Promise.all([this.center.rewards.balances(userId), this.center.rewards.ledger(userId, limit)]);
    return { userId, balances, ledger };
  }
}
