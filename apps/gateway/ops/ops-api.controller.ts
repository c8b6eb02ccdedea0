import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query, Req, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiCookieAuth, ApiHeader, ApiOperation, ApiParam, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { PropelError } from '../../../common';
import { auditOf, inspect, listDead, listManual, OPS_ERRORS, retryManual, status as readStatus, terminateManual } from '../../../common/ops';
import type { ActorAudit, DeadLetter, DeadList, Inspection, ManualPage, OpsContext, OpsTurn, SystemStatus } from '../../../common/ops';
import { ACTOR_DEFINITIONS } from '../../../actors/definitions';
import { GatewayContext } from '../gateway.context';
import { GatewayError } from '../gateway.errors';
import { jsonSchemaOf, parseBody, parseParam } from '../gateway.validation';
import { OPS_COOKIE, OpsApiGuard, OpsPrincipal, OpsRequest } from './ops-auth';
import { OpsSample, OpsSampler } from './ops-sampler';

/** HTTP status of each ops error code (other codes go through the gateway's own mapping). */
const STATUS_BY_OPS_CODE: Readonly<Record<string, number>> = {
  [OPS_ERRORS.notFound]: 404,
  [OPS_ERRORS.invalidInput]: 400,
  [OPS_ERRORS.refused]: 409,
};

/** Runs an ops function, answering its own errors with their HTTP status and message. */
async function opsCall<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    const status = err instanceof PropelError ? STATUS_BY_OPS_CODE[String(err.code)] : undefined;
    if (status) throw new GatewayError(status, String((err as PropelError).code), (err as Error).message);
    throw err;
  }
}

/** `POST .../terminate`: why the operator gives up (recorded in the actor's history). */
export const terminateBodySchema = z.object({ reason: z.string().max(500, 'must be at most 500 characters').optional() }).strict();

/** What a retry or terminate answers: the actor's status after the committed turn, or its refusal. */
export interface OpsActionAnswer {
  actor: string;
  status: string;
  version: number;
  duplicate: boolean;
  operator: string;
}

/** A dead letter as the dashboard lists it: where, when, code and reason (payloads stay in the CLI). */
export type DeadSummaryItem = Pick<DeadLetter, 'source' | 'id' | 'at' | 'code' | 'cause' | 'reason' | 'deliveries' | 'channel'>;

function positiveInt(raw: string | undefined, name: string, max: number, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || n > max) throw new GatewayError(400, 'INVALID_QUERY', `${name} must be an integer from 1 to ${max}`);
  return n;
}

const TYPE_PARAM = { name: 'type', description: 'actor type, e.g. referral' };
const ID_PARAM = { name: 'id', description: 'actor id, e.g. summer-invite:bob' };

/**
 * The dashboard's JSON API: the sampled status and time series, the actor inspector and audit trail, the
 * manual-intervention queue with retry and terminate, and dead letters. Behind the admin token or a dashboard session.
 */
@ApiTags('ops')
@ApiBearerAuth()
@ApiCookieAuth(OPS_COOKIE)
@ApiResponse({ status: 401, description: 'no admin bearer token and no dashboard session (log in at /ops/login)' })
@ApiResponse({ status: 503, description: 'PROPEL_ADMIN_TOKEN is not set: the dashboard is off' })
@UseGuards(OpsApiGuard)
@Controller('ops/api')
export class OpsApiController {
  constructor(
    private readonly ctx: GatewayContext,
    @Inject(OpsSampler) private readonly sampler: OpsSampler,
  ) {}

  private get ops(): OpsContext {
    return { redis: this.ctx.redis, keys: this.ctx.keys, partitions: this.ctx.config.runtime.partitions, client: this.ctx.client, definitions: ACTOR_DEFINITIONS };
  }

  /** Who is logged in. */
  @Get('me')
  @ApiOperation({ summary: 'The operator making the request, and how they authenticated' })
  me(@Req() req: OpsRequest): OpsPrincipal {
    return req.opsPrincipal!;
  }

  /**
   * The whole system at a glance, as `npm run ops -- status` shows it: the sampler's latest reading (at most a
   * sampling interval old), or a fresh one when the sampler has none that recent.
   */
  @Get('status')
  @ApiOperation({ summary: 'Members, partitions and owners, lag, pending, due, dead letters, manual intervention' })
  @ApiResponse({ status: 200, description: '{ status: SystemStatus, sampled, samplingError }' })
  async status(): Promise<{ status: SystemStatus; sampled: boolean; samplingError: { at: number; message: string } | null }> {
    const { status, error } = this.sampler.snapshot();
    if (status && Date.now() - status.at <= 3 * this.sampler.intervalMs) return { status, sampled: true, samplingError: error };
    return { status: await readStatus(this.ops), sampled: false, samplingError: error };
  }

  /** The time series behind the charts: the samples taken after `since` (ms), or every sample kept. */
  @Get('series')
  @ApiOperation({ summary: 'Throughput and backlog over time (one sample a second, the last ten minutes)' })
  @ApiQuery({ name: 'since', required: false, description: 'only samples taken after this time (ms since the epoch)' })
  series(@Query('since') rawSince?: string): { intervalMs: number; capacity: number; samples: OpsSample[] } {
    let since: number | undefined;
    if (rawSince !== undefined && rawSince !== '') {
      since = Number(rawSince);
      if (!Number.isFinite(since)) throw new GatewayError(400, 'INVALID_QUERY', 'since must be a time in ms since the epoch');
    }
    return { intervalMs: this.sampler.intervalMs, capacity: this.sampler.capacity, samples: this.sampler.series(since) };
  }

  /** Everything about one actor: record, history, audit timeline, due and manual entries, and why it is where it is. */
  @Get('inspect/:type/:id')
  @ApiOperation({ summary: 'Inspect an actor' })
  @ApiParam(TYPE_PARAM)
  @ApiParam(ID_PARAM)
  @ApiResponse({ status: 404, description: 'no such actor' })
  async inspect(@Param('type') rawType: string, @Param('id') rawId: string): Promise<Inspection> {
    const type = parseParam(rawType, 'type');
    const id = parseParam(rawId, 'id');
    const found = await opsCall(() => inspect(this.ops, { type, id }));
    if (!found.record && found.history.length === 0 && found.audit.entries.length === 0) {
      throw new GatewayError(404, 'NOT_FOUND', `no actor ${type}/${id} (namespace ${this.ctx.keys.ns}, ${this.ctx.config.runtime.partitions} partitions)`);
    }
    return found;
  }

  /**
   * An actor's audit trail, as `ops audit` prints it: status, its timeline oldest first (`truncated` when older
   * records are left out) and, unless it was rewarded, the chain of reasons why not. For support staff answering
   * "why was I not rewarded?".
   */
  @Get('audit/:type/:id')
  @ApiOperation({ summary: "An actor's audit: timeline and the reasons it was not rewarded" })
  @ApiParam(TYPE_PARAM)
  @ApiParam(ID_PARAM)
  @ApiQuery({ name: 'limit', required: false, description: 'the newest records of the timeline, 1 to 1000 (default 100)' })
  @ApiResponse({ status: 200, description: '{ actor, status, version, timeline, truncated, reasons, rewarded, ... }' })
  @ApiResponse({ status: 404, description: 'no such actor' })
  audit(@Param('type') rawType: string, @Param('id') rawId: string, @Query('limit') rawLimit?: string): Promise<ActorAudit> {
    const ref = { type: parseParam(rawType, 'type'), id: parseParam(rawId, 'id') };
    const limit = positiveInt(rawLimit, 'limit', 1000, 100);
    return opsCall(() => auditOf(this.ops, ref, { limit }));
  }

  /** Actors in manual intervention, oldest first, with reason, detail and stage. */
  @Get('manual')
  @ApiOperation({ summary: 'The manual-intervention queue' })
  @ApiQuery({ name: 'limit', required: false, description: '1 to 1000 (default 50)' })
  @ApiQuery({ name: 'cursor', required: false, description: 'nextCursor of the previous page' })
  manual(@Query('limit') rawLimit?: string, @Query('cursor') cursor?: string): Promise<ManualPage> {
    const limit = positiveInt(rawLimit, 'limit', 1000, 50);
    return opsCall(() => listManual(this.ops, { limit, ...(cursor ? { cursor } : {}) }));
  }

  /** Re-drives an actor in manual intervention (RetryFromOps); the same retry twice is applied once. */
  @Post('manual/:type/:id/retry')
  @HttpCode(200)
  @ApiOperation({ summary: 'Retry an actor in manual intervention' })
  @ApiParam(TYPE_PARAM)
  @ApiParam(ID_PARAM)
  @ApiHeader({ name: 'X-Propel-Ops', required: false, description: "'1': required with the session cookie (CSRF check)" })
  @ApiResponse({ status: 200, description: '{ actor, status, version, duplicate, operator }' })
  @ApiResponse({ status: 404, description: 'no such actor' })
  @ApiResponse({ status: 409, description: 'the actor refused, e.g. NOT_IN_MANUAL_INTERVENTION' })
  async retry(@Param('type') rawType: string, @Param('id') rawId: string, @Req() req: OpsRequest): Promise<OpsActionAnswer> {
    const ref = { type: parseParam(rawType, 'type'), id: parseParam(rawId, 'id') };
    const operator = req.opsPrincipal!.operator;
    return answerOf(await opsCall(() => retryManual(this.ops, ref, operator)), operator);
  }

  /** Gives up on an actor in manual intervention (TerminateFromOps: a referral ends TERMINATED, grants kept). */
  @Post('manual/:type/:id/terminate')
  @HttpCode(200)
  @ApiOperation({ summary: 'Terminate an actor in manual intervention' })
  @ApiParam(TYPE_PARAM)
  @ApiParam(ID_PARAM)
  @ApiBody({ schema: jsonSchemaOf(terminateBodySchema), required: false })
  @ApiHeader({ name: 'X-Propel-Ops', required: false, description: "'1': required with the session cookie (CSRF check)" })
  @ApiResponse({ status: 200, description: '{ actor, status, version, duplicate, operator }' })
  @ApiResponse({ status: 404, description: 'no such actor' })
  @ApiResponse({ status: 409, description: 'the actor refused, e.g. NOT_IN_MANUAL_INTERVENTION or CALL_IN_FLIGHT' })
  async terminate(@Param('type') rawType: string, @Param('id') rawId: string, @Body() body: unknown, @Req() req: OpsRequest): Promise<OpsActionAnswer> {
    const ref = { type: parseParam(rawType, 'type'), id: parseParam(rawId, 'id') };
    const { reason } = parseBody(terminateBodySchema, body ?? {}, 'terminate request');
    const operator = req.opsPrincipal!.operator;
    return answerOf(await opsCall(() => terminateManual(this.ops, ref, operator, reason?.trim() || undefined)), operator);
  }

  /** Dead letters per source and the newest few, without their payloads. */
  @Get('dead')
  @ApiOperation({ summary: 'Dead letters: counts per source and the newest entries' })
  @ApiQuery({ name: 'limit', required: false, description: 'newest entries listed, 1 to 200 (default 20)' })
  async dead(@Query('limit') rawLimit?: string): Promise<{ total: number; totals: DeadList['totals']; items: DeadSummaryItem[] }> {
    const limit = positiveInt(rawLimit, 'limit', 200, 20);
    const list = await opsCall(() => listDead(this.ops, { limit }));
    return {
      total: list.totals.reduce((n, t) => n + t.count, 0),
      totals: list.totals,
      items: list.items.map((d) => ({
        source: d.source,
        id: d.id,
        at: d.at,
        code: d.code,
        ...(d.cause !== undefined ? { cause: d.cause } : {}),
        reason: d.reason,
        deliveries: d.deliveries,
        ...(d.channel !== undefined ? { channel: d.channel } : {}),
      })),
    };
  }
}

/** A refusal becomes a 409 with the actor's own code and reason; a committed turn its new status. */
function answerOf(result: OpsTurn, operator: string): OpsActionAnswer {
  if (result.rejected) throw new GatewayError(409, result.rejected.code, result.rejected.reason);
  return { actor: result.actor, status: result.turn.status, version: result.turn.version, duplicate: result.duplicate, operator };
}
