import { Body, Controller, Get, HttpCode, Param, Post, UseGuards } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiParam, ApiResponse, ApiTags } from '@nestjs/swagger';
import { partitionOf, RedisActorStore } from '../../common';
import type { ActorRecord, AuditRecord } from '../../common';
import { referralActor } from '../../actors';
import type { ReferralState } from '../../actors';
import type { Grant } from '../worker/components/activity';
import { GatewayContext } from './gateway.context';
import { GatewayError } from './gateway.errors';
import { historyView } from './history-view';
import type { HistoryStepView } from './history-view';
import { PublicRateLimitGuard } from './rate-limit';
import { jsonSchemaOf, parseBody, parseParam, taskCompletedBodySchema } from './gateway.validation';

/** One step's outcome as the application view shows it (null: the application never reached that step). */
export interface StepView {
  outcome: string;
  reason?: string;
  grantId?: unknown;
}

/** What `GET /applications/:id` answers. */
export interface ApplicationView {
  applicationId: string;
  status: string;
  version: number;
  relation: StepView | null;
  sharer: StepView | null;
  invitee: StepView | null;
  state: ReferralState;
  history: HistoryStepView[];
  updatedAt: number;
}

function stepOf(step: { outcome: string; reason?: string; grantId?: unknown } | undefined): StepView | null {
  if (!step) return null;
  return { outcome: step.outcome, ...(step.reason !== undefined ? { reason: step.reason } : {}), ...(step.grantId !== undefined ? { grantId: step.grantId } : {}) };
}

type Steps = { relation?: StepView; sharer?: StepView; invitee?: StepView };

/** Public application routes: the task completion, the application's view, and a user's ledger. */
@ApiTags('referral')
@Controller()
@UseGuards(PublicRateLimitGuard)
@ApiResponse({ status: 429, description: 'RATE_LIMITED: over PROPEL_RATE_LIMIT_PER_MINUTE for this route and client IP; Retry-After in seconds' })
export class ApplicationsController {
  constructor(private readonly ctx: GatewayContext) {}

  /** Reports the invitee's task done (for tests and upstreams that do not write the ingest stream). */
  @Post('applications/:id/task-completed')
  @HttpCode(202)
  @ApiOperation({ summary: "Report the invitee's task completed", description: 'occurredAt defaults to now; the same eventId twice is applied once.' })
  @ApiParam({ name: 'id', description: 'application id: `${activityId}:${inviteeId}`' })
  @ApiBody({ schema: jsonSchemaOf(taskCompletedBodySchema) })
  @ApiResponse({ status: 202, description: '{ applicationId, status }' })
  @ApiResponse({ status: 404, description: 'no such application' })
  @ApiResponse({ status: 409, description: 'not legal now, e.g. NO_RELATION before the relation is recorded, TASK_LATE' })
  async taskCompleted(@Param('id') rawId: string, @Body() body: unknown): Promise<{ applicationId: string; status: string }> {
    const applicationId = parseParam(rawId, 'id');
    const { eventId, occurredAt } = parseBody(taskCompletedBodySchema, body, 'task-completed request');
    await this.mustExist(applicationId); // 404 before a message would create an empty application
    const turn = await this.ctx.askReferral(applicationId, { type: 'TaskCompleted', occurredAt: occurredAt ?? Date.now(), eventId }, `task:${eventId}`);
    return { applicationId, status: turn.status };
  }

  /** The application: status, each step's outcome and reason, the full state and its history. */
  @Get('applications/:id')
  @ApiOperation({ summary: 'Read an application' })
  @ApiParam({ name: 'id', description: 'application id: `${activityId}:${inviteeId}`' })
  @ApiResponse({ status: 200, description: '{ applicationId, status, relation, sharer, invitee, state, history }' })
  @ApiResponse({ status: 404, description: 'no such application' })
  async application(@Param('id') rawId: string): Promise<ApplicationView> {
    const applicationId = parseParam(rawId, 'id');
    const { record, history } = await this.load(applicationId);
    const steps = record.state as ReferralState & Steps;
    return {
      applicationId,
      status: record.status,
      version: record.version,
      relation: stepOf(steps.relation),
      sharer: stepOf(steps.sharer),
      invitee: stepOf(steps.invitee),
      state: record.state,
      history: historyView(history),
      updatedAt: record.updatedAt,
    };
  }

  /** A user's grants over every activity, oldest first. */
  @Get('users/:userId/ledger')
  @ApiTags('ledger')
  @ApiOperation({ summary: "Read a user's ledger" })
  @ApiParam({ name: 'userId' })
  @ApiResponse({ status: 200, description: '{ userId, grants: [{ grantId, activityId, prize, at, ... }] }' })
  async ledger(@Param('userId') rawUserId: string): Promise<{ userId: string; grants: Grant[] }> {
    const userId = parseParam(rawUserId, 'userId');
    return { userId, grants: await this.ctx.activity.ledger(userId) };
  }

  /** The application's record and history, through the runtime's actor store. */
  /** One EXISTS (not the record and its history): the hot path of task completions only needs the 404. */
  private async mustExist(applicationId: string): Promise<void> {
    const ref = { type: referralActor.type, id: applicationId };
    const key = this.ctx.keys.actor(partitionOf(ref, this.ctx.config.runtime.partitions), ref);
    if (!(await this.ctx.redis.exists(key))) throw this.notFound(applicationId);
  }

  private notFound(applicationId: string): GatewayError {
    return new GatewayError(404, 'APPLICATION_NOT_FOUND', `application ${applicationId} does not exist; it is created when the invitee accepts a share (POST /shares/{code}/accept)`);
  }

  private async load(applicationId: string): Promise<{ record: ActorRecord<ReferralState>; history: AuditRecord[] }> {
    const ref = { type: referralActor.type, id: applicationId };
    const p = partitionOf(ref, this.ctx.config.runtime.partitions);
    const store = new RedisActorStore(this.ctx.redis, this.ctx.keys);
    const [record, history] = await Promise.all([store.load<ReferralState>(p, ref), store.history(p, ref)]);
    if (!record) throw this.notFound(applicationId);
    return { record, history };
  }

}
