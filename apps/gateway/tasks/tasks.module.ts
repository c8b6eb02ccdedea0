import { DynamicModule, Module } from '@nestjs/common';
import { IdempotencyModule } from '../../../common/idempotency';
import type { IdempotencyModuleOptions } from '../../../common/idempotency';
import { AdminGuard } from '../admin.controller';
import { GatewayContext } from '../gateway.context';
import { MerchantGuard, MerchantTokens } from './merchant-auth';
import { MerchantTasksController, MerchantTokensController } from './merchants.controller';
import { ReceiptsController } from './receipts.controller';
import { TaskCenter, TaskCenterOptions } from './task-center';
import { TaskClaims } from './task-claims';
import { UserTasksController } from './users.controller';

/** The task center's gateway options: its configuration cache, and the idempotency component of claims. */
export interface TasksModuleOptions extends TaskCenterOptions {
  /** The claims' idempotency stores and dynamic configuration (Redis store on the gateway's connection by default; MariaDB when given). */
  idempotency?: Omit<IdempotencyModuleOptions, 'redis' | 'namespace'>;
}

/**
 * The task center's HTTP routes: merchant tokens (admin), task definitions and reward flows (merchants),
 * claims, tasks and rewards (users), synchronous completion receipts. Built around the gateway's context.
 */
@Module({})
export class TasksModule {
  static forContext(ctx: GatewayContext, options: TasksModuleOptions = {}): DynamicModule {
    const center = new TaskCenter(ctx, options);
    return {
      module: TasksModule,
      imports: [IdempotencyModule.forRoot({ redis: ctx.redis, namespace: ctx.config.runtime.namespace, ...options.idempotency })],
      controllers: [MerchantTokensController, MerchantTasksController, UserTasksController, ReceiptsController],
      providers: [
        { provide: GatewayContext, useValue: ctx },
        // A factory, so Nest runs its lifecycle hooks: the configuration cache starts with the app and stops with it.
        { provide: TaskCenter, useFactory: () => center },
        { provide: MerchantTokens, useValue: center.tokens },
        TaskClaims,
        MerchantGuard,
        AdminGuard,
      ],
      // The gateway's one TaskCenter (its store and cache) for routes outside the module: a share's preset task.
      exports: [TaskCenter],
    };
  }
}
