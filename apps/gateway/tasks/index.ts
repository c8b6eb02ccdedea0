export { MERCHANT_AUTH_ERRORS, MerchantGuard, MerchantTokens, tokenHash } from './merchant-auth';
export { MerchantTasksController, MerchantTokensController } from './merchants.controller';
export { ReceiptsController } from './receipts.controller';
export type { ReceiptAnswer, ReceiptSkip } from './receipts.controller';
export { answerOf, DEFAULT_CLAIM_TTL_MS, TASK_CENTER_ERRORS, TaskCenter } from './task-center';
export type { ClaimAnswer, ItemAnswer, TaskCenterOptions } from './task-center';
export { CLAIM_OPERATION, claimKey, TaskClaims } from './task-claims';
export type { ClaimRequest } from './task-claims';
export { TasksModule } from './tasks.module';
export type { TasksModuleOptions } from './tasks.module';
export {
  claimBodySchema,
  configIdSchema,
  endBodySchema,
  idempotencyKeySchema,
  parseDefinitionBody,
  parseFlowBody,
  parseIdempotencyKey,
  parseIfMatch,
  parseReceiptBody,
  TASK_REQUEST_ERRORS,
  taskUserIdSchema,
} from './tasks.validation';
export { UserTasksController } from './users.controller';
export type { DuplicateClaimAnswer, TaskDetail } from './users.controller';
