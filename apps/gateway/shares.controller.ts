import { Body, Controller, Get, HttpCode, Param, Post, UseGuards } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiParam, ApiResponse, ApiTags } from '@nestjs/swagger';
import { DEFAULTS } from '../../common';
import { termsOf } from '../../actors';
import type { TaskDefinition, TaskTerms } from '../../actors';
import { TASK_DEFINITION_KIND } from '../worker/components/task';
import { GatewayContext, Share } from './gateway.context';
import { GatewayError } from './gateway.errors';
import { PublicRateLimitGuard } from './rate-limit';
import { TaskCenter } from './tasks/task-center';
import { acceptBodySchema, jsonSchemaOf, parseBody, parseParam, shareBodySchema, shareCodeSchema } from './gateway.validation';

const CODE_PARAM = { name: 'code', description: 'share code (10 characters of a-z and 2-7)' };

/** The application id of an invitee in an activity: one application per invitee per activity. */
export function applicationIdOf(activityId: string, inviteeId: string): string {
  const id = `${activityId}:${inviteeId}`;
  if (id.length > DEFAULTS.maxIdLength) {
    throw new GatewayError(400, 'INVALID_ID', `activityId and inviteeId together are ${id.length} characters long (with the ':' between them); at most ${DEFAULTS.maxIdLength} are allowed, use a shorter inviteeId`);
  }
  return id;
}

/** Public sharing routes: a sharer creates a share link, an invitee accepts it. */
@ApiTags('referral')
@Controller()
@UseGuards(PublicRateLimitGuard)
@ApiResponse({ status: 429, description: 'RATE_LIMITED: over PROPEL_RATE_LIMIT_PER_MINUTE for this route and client IP; Retry-After in seconds' })
export class SharesController {
  constructor(
    private readonly ctx: GatewayContext,
    private readonly tasks: TaskCenter,
  ) {}

  /**
   * The activity's preset task frozen into the Accept (see ApplicationCore.presetTask), or undefined when the
   * activity has none. Read from Redis, not a cache: an activity and its task defined a moment ago must work.
   */
  private async presetTask(activityId: string): Promise<TaskTerms | undefined> {
    const name = (await this.ctx.activity.load(activityId))?.activity.presetTask;
    if (!name) return undefined;
    const item = await this.tasks.store.get<TaskDefinition>(TASK_DEFINITION_KIND, name);
    if (!item || item.value.status !== 'ACTIVE') {
      throw new GatewayError(409, 'PRESET_TASK_UNAVAILABLE', `activity ${activityId} names preset task ${name}, which is ${item ? item.value.status : 'not defined'}; the merchant must define it (PUT /merchants/:merchantId/tasks/${name}) or the activity must name another`);
    }
    return termsOf(item.value, item.version);
  }

  /** Creates a share code (valid 30 days) for a sharer in a defined activity. */
  @Post('activities/:activityId/shares')
  @ApiOperation({ summary: 'Create a share link' })
  @ApiParam({ name: 'activityId', description: 'a defined activity' })
  @ApiBody({ schema: jsonSchemaOf(shareBodySchema) })
  @ApiResponse({ status: 201, description: '{ code, link }' })
  @ApiResponse({ status: 400, description: 'invalid body or id' })
  @ApiResponse({ status: 404, description: 'the activity is not defined' })
  async share(@Param('activityId') rawActivityId: string, @Body() body: unknown): Promise<{ code: string; link: string; activityId: string; sharerId: string }> {
    const activityId = parseParam(rawActivityId, 'activityId');
    const { sharerId, device, ip } = parseBody(shareBodySchema, body, 'share request');
    if (!(await this.ctx.activity.load(activityId))) {
      throw new GatewayError(404, 'ACTIVITY_NOT_FOUND', `activity ${activityId} is not defined; an operator defines it with PUT /admin/activities/${activityId}`);
    }
    const share = await this.ctx.createShare(activityId, sharerId, { ...(device !== undefined ? { device } : {}), ...(ip !== undefined ? { ip } : {}) });
    return { code: share.code, link: this.ctx.linkOf(share.code), activityId, sharerId };
  }

  /** What a share link points at (the page behind `link`). */
  @Get('r/:code')
  @ApiOperation({ summary: 'Resolve a share link' })
  @ApiParam(CODE_PARAM)
  @ApiResponse({ status: 200, description: '{ code, activityId, sharerId, accept }' })
  @ApiResponse({ status: 404, description: 'unknown or expired code' })
  async resolve(@Param('code') rawCode: string): Promise<{ code: string; activityId: string; sharerId: string; accept: string }> {
    const share = await this.find(rawCode);
    return { code: share.code, activityId: share.activityId, sharerId: share.sharerId, accept: `POST /shares/${share.code}/accept` };
  }

  /** The invitee accepts: starts (or finds) the application `${activityId}:${inviteeId}`. */
  @Post('shares/:code/accept')
  @HttpCode(202)
  @ApiOperation({ summary: 'Accept a share as the invitee', description: 'The relation is recorded asynchronously; poll GET /applications/{applicationId}.' })
  @ApiParam(CODE_PARAM)
  @ApiBody({ schema: jsonSchemaOf(acceptBodySchema) })
  @ApiResponse({ status: 202, description: '{ applicationId, status }' })
  @ApiResponse({ status: 400, description: 'invalid body or code' })
  @ApiResponse({ status: 404, description: 'unknown or expired code' })
  @ApiResponse({ status: 409, description: 'the invitee already has an application in this activity (ALREADY_ACCEPTED), or the activity\'s preset task is not defined or not active (PRESET_TASK_UNAVAILABLE)' })
  async accept(@Param('code') rawCode: string, @Body() body: unknown): Promise<{ applicationId: string; status: string }> {
    const { inviteeId, device, ip } = parseBody(acceptBodySchema, body, 'accept request');
    const share = await this.find(rawCode);
    const applicationId = applicationIdOf(share.activityId, inviteeId);
    const presetTask = await this.presetTask(share.activityId);
    const message = {
      type: 'Accept' as const,
      activityId: share.activityId,
      sharerId: share.sharerId,
      inviteeId,
      ...(device !== undefined ? { device } : {}),
      ...(ip !== undefined ? { ip } : {}),
      ...(share.device !== undefined ? { sharerDevice: share.device } : {}),
      ...(share.ip !== undefined ? { sharerIp: share.ip } : {}),
      ...(presetTask !== undefined ? { presetTask } : {}),
    };
    // A fixed message id: a client retrying the same accept gets the application, not ALREADY_ACCEPTED.
    const turn = await this.ctx.askReferral(applicationId, message, `accept:${applicationId}:${share.sharerId}`);
    return { applicationId, status: turn.status };
  }

  private async find(rawCode: string): Promise<Share> {
    const code = parseParam(rawCode, 'code');
    // A code of another shape was never issued: unknown, like an expired one.
    const share = shareCodeSchema.safeParse(code).success ? await this.ctx.findShare(code) : null;
    if (!share) throw new GatewayError(404, 'SHARE_NOT_FOUND', `share code ${code} is unknown or expired (codes last 30 days); ask the sharer for a new link`);
    return share;
  }
}
