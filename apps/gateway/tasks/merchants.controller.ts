import { Body, Controller, Delete, Get, Headers, HttpCode, Param, Post, Put, Query, Req, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiHeader, ApiOperation, ApiParam, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { rewardFlowSchema, RewardFlow, TaskDefinition, taskDefinitionSchema } from '../../../actors/task/task.definition';
import { REWARD_FLOW_KIND, TASK_DEFINITION_KIND } from '../../worker/components/task';
import { AdminGuard } from '../admin.controller';
import { GatewayError } from '../gateway.errors';
import { jsonSchemaOf, parseParam } from '../gateway.validation';
import { MerchantGuard } from './merchant-auth';
import { answerOf, ItemAnswer, TASK_CENTER_ERRORS, TaskCenter } from './task-center';
import { configIdSchema, endBodySchema, parseDefinitionBody, parseFlowBody, parseIfMatch, parseOptionalBody, TASK_REQUEST_ERRORS } from './tasks.validation';

interface MerchantRequest {
  merchantPrincipal?: string;
}
interface HeaderResponse {
  status(code: number): unknown;
  setHeader(name: string, value: string): unknown;
}

const MERCHANT_PARAM = { name: 'merchantId', description: 'merchant id (letters, digits, ".", "_", "-"; at most 64)' };
const TASK_PARAM = { name: 'taskDefId', description: 'task definition id, global across merchants (letters, digits, ".", "_", "-"; at most 64)' };
const FLOW_PARAM = { name: 'flowId', description: 'reward flow id, global across merchants' };
const IF_MATCH = { name: 'If-Match', required: false, description: 'the version you read (or its ETag); 0 = create only. The write is refused with 409 VERSION_CONFLICT if the item moved on.' };

/** The body schema of a merchant's PUT in the OpenAPI document: the path gives `id` and `merchantId`. */
function ownedBodySchema(schema: typeof taskDefinitionSchema | typeof rewardFlowSchema): Record<string, unknown> {
  const json = jsonSchemaOf(schema);
  return { ...json, description: 'id and merchantId come from the path: leave them out or repeat them' };
}

/** Operators issue merchant tokens: shown once, stored as SHA-256 only. */
@ApiTags('tasks: merchants')
@ApiBearerAuth()
@ApiResponse({ status: 401, description: 'no bearer token, or not the admin token' })
@ApiResponse({ status: 503, description: 'PROPEL_ADMIN_TOKEN is not set: the admin routes are off' })
@UseGuards(AdminGuard)
@Controller('admin/merchants')
export class MerchantTokensController {
  constructor(private readonly center: TaskCenter) {}

  @Post(':merchantId/token')
  @ApiOperation({ summary: "Issue a merchant's token", description: 'The token is in this answer only; Redis keeps its SHA-256. Issuing again replaces (revokes) the previous token.' })
  @ApiParam(MERCHANT_PARAM)
  @ApiResponse({ status: 201, description: '{ merchantId, token, replaced }' })
  async issue(@Param('merchantId') raw: string): Promise<{ merchantId: string; token: string; replaced: boolean }> {
    const merchantId = parseParam(raw, 'merchantId', configIdSchema);
    return { merchantId, ...(await this.center.tokens.issue(merchantId)) };
  }

  @Delete(':merchantId/token')
  @ApiOperation({ summary: "Revoke a merchant's token" })
  @ApiParam(MERCHANT_PARAM)
  @ApiResponse({ status: 200, description: '{ merchantId, revoked }' })
  async revoke(@Param('merchantId') raw: string): Promise<{ merchantId: string; revoked: boolean }> {
    const merchantId = parseParam(raw, 'merchantId', configIdSchema);
    return { merchantId, revoked: await this.center.tokens.revoke(merchantId) };
  }
}

/**
 * The B side: a merchant defines tasks and reward flows (stored in the configuration center with a version
 * and a history; workers and gateways pick changes up within a second) and ends tasks.
 */
@ApiTags('tasks: merchants')
@ApiBearerAuth()
@ApiResponse({ status: 401, description: 'UNAUTHORIZED: no bearer token, or one that is no merchant token' })
@ApiResponse({ status: 403, description: "FORBIDDEN_MERCHANT: another merchant's token" })
@UseGuards(MerchantGuard)
@Controller('merchants/:merchantId')
export class MerchantTasksController {
  constructor(private readonly center: TaskCenter) {}

  @Put('tasks/:taskDefId')
  @ApiOperation({ summary: 'Define or change a task', description: 'Validated by the task definition schema (five types: one-shot, cumulative, staged, deadline, recurring). Answers the stored version; ETag is the version.' })
  @ApiParam(MERCHANT_PARAM)
  @ApiParam(TASK_PARAM)
  @ApiHeader(IF_MATCH)
  @ApiBody({ schema: ownedBodySchema(taskDefinitionSchema) })
  @ApiResponse({ status: 200, description: 'changed: { id, version, value, updatedAt, by }' })
  @ApiResponse({ status: 201, description: 'created' })
  @ApiResponse({ status: 400, description: 'INVALID_TASK_DEFINITION: every problem named (path: message; …), including reward flows not configured' })
  @ApiResponse({ status: 409, description: 'VERSION_CONFLICT (If-Match), ID_TAKEN (another merchant has the id), TASK_ENDED' })
  async defineTask(
    @Param('merchantId') rawMerchant: string,
    @Param('taskDefId') rawId: string,
    @Body() body: unknown,
    @Headers('if-match') ifMatch: string | undefined,
    @Req() req: MerchantRequest,
    @Res({ passthrough: true }) res: HeaderResponse,
  ): Promise<ItemAnswer<TaskDefinition>> {
    const merchantId = parseParam(rawMerchant, 'merchantId', configIdSchema);
    const taskDefId = parseParam(rawId, 'taskDefId', configIdSchema);
    const expectVersion = parseIfMatch(ifMatch);
    const def = parseDefinitionBody(body, merchantId, taskDefId);
    const missing = await this.center.missingFlows(def);
    if (missing.length > 0) {
      throw new GatewayError(400, TASK_REQUEST_ERRORS.definition, `invalid task definition: ${missing.map((f) => `flow: reward flow ${JSON.stringify(f)} is not configured for merchant ${merchantId}; PUT /merchants/${merchantId}/flows/${f} first`).join('; ')}`);
    }
    const { item, created } = await this.center.putOwned<TaskDefinition>(TASK_DEFINITION_KIND, merchantId, taskDefId, def, principal(req, merchantId), expectVersion, (current) => {
      if (current?.value.status === 'ENDED') throw new GatewayError(409, TASK_CENTER_ERRORS.ended, `task ${taskDefId} has ended and stays ended; define a new task id`);
    });
    answerWritten(res, item.version, created);
    return item;
  }

  @Get('tasks')
  @ApiOperation({ summary: "List the merchant's task definitions" })
  @ApiParam(MERCHANT_PARAM)
  @ApiResponse({ status: 200, description: '{ merchantId, tasks: [{ id, version, value, updatedAt, by }] }' })
  async listTasks(@Param('merchantId') raw: string): Promise<{ merchantId: string; tasks: ItemAnswer<TaskDefinition>[] }> {
    const merchantId = parseParam(raw, 'merchantId', configIdSchema);
    return { merchantId, tasks: await this.center.listOwned<TaskDefinition>(TASK_DEFINITION_KIND, merchantId) };
  }

  @Get('tasks/:taskDefId')
  @ApiOperation({ summary: 'Read a task definition', description: '?history=1 adds the kept versions, newest first.' })
  @ApiParam(MERCHANT_PARAM)
  @ApiParam(TASK_PARAM)
  @ApiQuery({ name: 'history', required: false, description: '1: include the kept versions' })
  @ApiResponse({ status: 404, description: 'TASK_NOT_FOUND (or another merchant’s)' })
  async getTask(@Param('merchantId') rawMerchant: string, @Param('taskDefId') rawId: string, @Query('history') history: unknown, @Res({ passthrough: true }) res: HeaderResponse): Promise<ItemAnswer<TaskDefinition> & { history?: ItemAnswer<TaskDefinition>[] }> {
    const merchantId = parseParam(rawMerchant, 'merchantId', configIdSchema);
    const taskDefId = parseParam(rawId, 'taskDefId', configIdSchema);
    return readOwned<TaskDefinition>(this.center, TASK_DEFINITION_KIND, merchantId, taskDefId, history, res, () => this.center.definitionNotFound(merchantId, taskDefId));
  }

  @Post('tasks/:taskDefId/end')
  @HttpCode(200)
  @ApiOperation({ summary: 'End a task', description: 'Stores the definition ENDED, then tells every task still enrolled (claimed and counting) to terminate. Repeating it is harmless and reaches tasks enrolled since.' })
  @ApiParam(MERCHANT_PARAM)
  @ApiParam(TASK_PARAM)
  @ApiBody({ required: false, schema: jsonSchemaOf(endBodySchema) })
  @ApiResponse({ status: 200, description: '{ taskDefId, status: "ENDED", version, terminated }: terminated = the tasks told' })
  @ApiResponse({ status: 404, description: 'TASK_NOT_FOUND' })
  async endTask(@Param('merchantId') rawMerchant: string, @Param('taskDefId') rawId: string, @Body() body: unknown, @Req() req: MerchantRequest) {
    const merchantId = parseParam(rawMerchant, 'merchantId', configIdSchema);
    const taskDefId = parseParam(rawId, 'taskDefId', configIdSchema);
    const { reason } = parseOptionalBody(endBodySchema, body, 'end request', TASK_REQUEST_ERRORS.end);
    return this.center.end(merchantId, taskDefId, principal(req, merchantId), reason);
  }

  @Put('flows/:flowId')
  @ApiOperation({ summary: 'Define or change a reward flow', description: 'Steps run in order for each stage reward: points, growth, coupon, notify, webhook. Tasks claimed earlier keep running the flow version their first reward ran.' })
  @ApiParam(MERCHANT_PARAM)
  @ApiParam(FLOW_PARAM)
  @ApiHeader(IF_MATCH)
  @ApiBody({ schema: ownedBodySchema(rewardFlowSchema) })
  @ApiResponse({ status: 400, description: 'INVALID_REWARD_FLOW: every problem named' })
  @ApiResponse({ status: 409, description: 'VERSION_CONFLICT (If-Match), ID_TAKEN' })
  async defineFlow(
    @Param('merchantId') rawMerchant: string,
    @Param('flowId') rawId: string,
    @Body() body: unknown,
    @Headers('if-match') ifMatch: string | undefined,
    @Req() req: MerchantRequest,
    @Res({ passthrough: true }) res: HeaderResponse,
  ): Promise<ItemAnswer<RewardFlow>> {
    const merchantId = parseParam(rawMerchant, 'merchantId', configIdSchema);
    const flowId = parseParam(rawId, 'flowId', configIdSchema);
    const expectVersion = parseIfMatch(ifMatch);
    const flow = parseFlowBody(body, merchantId, flowId);
    const { item, created } = await this.center.putOwned<RewardFlow>(REWARD_FLOW_KIND, merchantId, flowId, flow, principal(req, merchantId), expectVersion);
    answerWritten(res, item.version, created);
    return item;
  }

  @Get('flows')
  @ApiOperation({ summary: "List the merchant's reward flows" })
  @ApiParam(MERCHANT_PARAM)
  async listFlows(@Param('merchantId') raw: string): Promise<{ merchantId: string; flows: ItemAnswer<RewardFlow>[] }> {
    const merchantId = parseParam(raw, 'merchantId', configIdSchema);
    return { merchantId, flows: await this.center.listOwned<RewardFlow>(REWARD_FLOW_KIND, merchantId) };
  }

  @Get('flows/:flowId')
  @ApiOperation({ summary: 'Read a reward flow', description: '?history=1 adds the kept versions, newest first.' })
  @ApiParam(MERCHANT_PARAM)
  @ApiParam(FLOW_PARAM)
  @ApiQuery({ name: 'history', required: false })
  @ApiResponse({ status: 404, description: 'FLOW_NOT_FOUND' })
  async getFlow(@Param('merchantId') rawMerchant: string, @Param('flowId') rawId: string, @Query('history') history: unknown, @Res({ passthrough: true }) res: HeaderResponse): Promise<ItemAnswer<RewardFlow> & { history?: ItemAnswer<RewardFlow>[] }> {
    const merchantId = parseParam(rawMerchant, 'merchantId', configIdSchema);
    const flowId = parseParam(rawId, 'flowId', configIdSchema);
    return readOwned<RewardFlow>(this.center, REWARD_FLOW_KIND, merchantId, flowId, history, res, () => new GatewayError(404, TASK_CENTER_ERRORS.flowNotFound, `merchant ${merchantId} has no reward flow ${flowId}; create it with PUT /merchants/${merchantId}/flows/${flowId}`));
  }
}

/** Who wrote: the merchant, or `admin` when the admin token was used (kept with each version as `by`). */
function principal(req: MerchantRequest, merchantId: string): string {
  return req.merchantPrincipal ?? `merchant:${merchantId}`;
}

function answerWritten(res: HeaderResponse, version: number, created: boolean): void {
  res.setHeader('ETag', `"${version}"`);
  if (created) res.status(201);
}

function wantsHistory(raw: unknown): boolean {
  if (raw === undefined || raw === '' || raw === '0' || raw === 'false') return false;
  if (raw === '1' || raw === 'true') return true;
  throw new GatewayError(400, TASK_REQUEST_ERRORS.query, 'history must be 1 (or true) to include the kept versions, or 0');
}

/**
 * GET of a merchant's task definition or reward flow: the item with its version as ETag and, with ?history=1,
 * its kept versions newest first. `notFound` answers an item that is missing or another merchant's.
 */
async function readOwned<T extends { merchantId: string }>(
  center: TaskCenter,
  kind: string,
  merchantId: string,
  id: string,
  rawHistory: unknown,
  res: HeaderResponse,
  notFound: () => GatewayError,
): Promise<ItemAnswer<T> & { history?: ItemAnswer<T>[] }> {
  const item = await center.owned<T>(kind, merchantId, id);
  if (!item) throw notFound();
  res.setHeader('ETag', `"${item.version}"`);
  return wantsHistory(rawHistory) ? { ...answerOf(item), history: await center.history<T>(kind, id) } : answerOf(item);
}
