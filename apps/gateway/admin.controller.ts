import { Body, CanActivate, Controller, ExecutionContext, Get, HttpCode, Injectable, Param, Post, Put, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiParam, ApiResponse, ApiTags } from '@nestjs/swagger';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Activity } from '../worker/components/activity';
import { GatewayContext } from './gateway.context';
import { GatewayError } from './gateway.errors';
import { activityBodySchema, jsonSchemaOf, parseBody, parseParam, userTagsBodySchema } from './gateway.validation';

/** Compares two strings in constant time (both hashed first, so their lengths leak nothing either). */
export function tokensEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/**
 * Admits admin requests carrying `Authorization: Bearer <PROPEL_ADMIN_TOKEN>`. Without a configured token
 * the admin routes are off (503), never open.
 */
@Injectable()
export class AdminGuard implements CanActivate {
  constructor(private readonly ctx: GatewayContext) {}

  canActivate(context: ExecutionContext): boolean {
    const expected = this.ctx.adminToken;
    if (!expected) {
      throw new GatewayError(503, 'ADMIN_DISABLED', 'the admin routes are disabled because PROPEL_ADMIN_TOKEN is not set; set it and restart the gateway');
    }
    const header = context.switchToHttp().getRequest<{ headers: Record<string, string | undefined> }>().headers.authorization;
    const match = /^Bearer (.+)$/i.exec(header ?? '');
    if (!match) throw new GatewayError(401, 'UNAUTHORIZED', 'the admin routes need the header Authorization: Bearer <PROPEL_ADMIN_TOKEN>');
    if (!tokensEqual(match[1]!.trim(), expected)) throw new GatewayError(401, 'UNAUTHORIZED', 'the bearer token is not the admin token; check PROPEL_ADMIN_TOKEN');
    return true;
  }
}

const ACTIVITY_PARAM = { name: 'id', description: "activity id (no '{', '}', spaces or control characters)" };

/** Operator routes: define, pause and resume activities, and read their budget. */
@ApiTags('admin')
@ApiBearerAuth()
@ApiResponse({ status: 401, description: 'no bearer token, or the wrong one' })
@ApiResponse({ status: 503, description: 'PROPEL_ADMIN_TOKEN is not set: the admin routes are off' })
@UseGuards(AdminGuard)
@Controller('admin/activities')
export class AdminController {
  constructor(private readonly ctx: GatewayContext) {}

  /** Defines or replaces an activity; the id in the path wins and must match one given in the body. */
  @Put(':id')
  @ApiOperation({ summary: 'Define or replace an activity' })
  @ApiParam(ACTIVITY_PARAM)
  @ApiBody({ schema: jsonSchemaOf(activityBodySchema.omit({ id: true })) })
  @ApiResponse({ status: 200, description: 'the stored definition, defaults filled in' })
  @ApiResponse({ status: 400, description: 'invalid definition; every problem is named' })
  async define(@Param('id') rawId: string, @Body() body: unknown): Promise<{ activity: Activity }> {
    const id = parseParam(rawId, 'id');
    const input = body && typeof body === 'object' && !Array.isArray(body) ? { ...(body as Record<string, unknown>) } : body;
    if (input && typeof input === 'object' && 'id' in input && (input as { id: unknown }).id !== id) {
      throw new GatewayError(400, 'INVALID_ACTIVITY', `the body's id ${JSON.stringify((input as { id: unknown }).id)} differs from the path's ${JSON.stringify(id)}; leave it out or make them equal`);
    }
    const definition = parseBody(activityBodySchema, input && typeof input === 'object' ? { ...input, id } : input, 'activity definition', 'INVALID_ACTIVITY');
    return { activity: await this.ctx.activity.define(definition) };
  }

  /** Pauses an activity: later applications are rejected with ACTIVITY_PAUSED. */
  @Post(':id/pause')
  @HttpCode(200)
  @ApiOperation({ summary: 'Pause an activity' })
  @ApiParam(ACTIVITY_PARAM)
  @ApiResponse({ status: 404, description: 'no such activity' })
  async pause(@Param('id') rawId: string): Promise<{ activityId: string; status: 'PAUSED' }> {
    const activityId = parseParam(rawId, 'id');
    await this.ctx.activity.pause(activityId);
    return { activityId, status: 'PAUSED' };
  }

  /** Resumes a paused activity. */
  @Post(':id/resume')
  @HttpCode(200)
  @ApiOperation({ summary: 'Resume an activity' })
  @ApiParam(ACTIVITY_PARAM)
  @ApiResponse({ status: 404, description: 'no such activity' })
  async resume(@Param('id') rawId: string): Promise<{ activityId: string; status: 'ACTIVE' }> {
    const activityId = parseParam(rawId, 'id');
    await this.ctx.activity.resume(activityId);
    return { activityId, status: 'ACTIVE' };
  }

  /** The activity's budget: its limit, the units used and what remains. */
  @Get(':id/history')
  @ApiOperation({ summary: "An activity definition's past versions, newest first" })
  @ApiParam(ACTIVITY_PARAM)
  @ApiResponse({ status: 200, description: '{ activityId, versions: [{ version, at, activity }] }' })
  @ApiResponse({ status: 404, description: 'no such activity' })
  async history(@Param('id') rawId: string): Promise<{ activityId: string; versions: Array<{ version: number; at: number; activity: Activity }> }> {
    const activityId = parseParam(rawId, 'id');
    const versions = await this.ctx.activity.history(activityId);
    if (versions.length === 0) throw new GatewayError(404, 'ACTIVITY_NOT_FOUND', `activity ${activityId} is not defined (or was defined before definitions kept a history)`);
    return { activityId, versions };
  }

  @Get(':id/budget')
  @ApiOperation({ summary: "Read an activity's budget" })
  @ApiParam(ACTIVITY_PARAM)
  @ApiResponse({ status: 200, description: '{ activityId, limit, used, remaining }' })
  @ApiResponse({ status: 404, description: 'no such activity' })
  async budget(@Param('id') rawId: string): Promise<{ activityId: string; limit: number; used: number; remaining: number }> {
    const activityId = parseParam(rawId, 'id');
    const { limit, used } = await this.ctx.activity.budget(activityId);
    return { activityId, limit, used, remaining: Math.max(0, limit - used) };
  }
}

/** Operator routes for the crowd store: the tags audience rules match a user against. */
@ApiTags('admin')
@ApiBearerAuth()
@ApiResponse({ status: 401, description: 'no bearer token, or the wrong one' })
@ApiResponse({ status: 503, description: 'PROPEL_ADMIN_TOKEN is not set: the admin routes are off' })
@UseGuards(AdminGuard)
@Controller('admin/users')
export class CrowdController {
  constructor(private readonly ctx: GatewayContext) {}

  /** Replaces a user's crowd tags (e.g. `new-user`, `vip`); an empty list removes them. */
  @Put(':userId/tags')
  @ApiOperation({ summary: "Set a user's crowd tags", description: "Audience rules (audience, inviteeAudience) match these tags." })
  @ApiParam({ name: 'userId', description: 'user id' })
  @ApiBody({ schema: jsonSchemaOf(userTagsBodySchema) })
  @ApiResponse({ status: 200, description: '{ userId, tags }' })
  @ApiResponse({ status: 400, description: 'invalid id or tags' })
  async setTags(@Param('userId') rawUserId: string, @Body() body: unknown): Promise<{ userId: string; tags: string[] }> {
    const userId = parseParam(rawUserId, 'userId');
    const { tags } = parseBody(userTagsBodySchema, body, 'tags request');
    await this.ctx.activity.setUserTags(userId, tags);
    return { userId, tags: await this.ctx.activity.userTags(userId) };
  }

  /** A user's crowd tags. */
  @Get(':userId/tags')
  @ApiOperation({ summary: "Read a user's crowd tags" })
  @ApiParam({ name: 'userId', description: 'user id' })
  @ApiResponse({ status: 200, description: '{ userId, tags }' })
  async tags(@Param('userId') rawUserId: string): Promise<{ userId: string; tags: string[] }> {
    const userId = parseParam(rawUserId, 'userId');
    return { userId, tags: await this.ctx.activity.userTags(userId) };
  }
}
