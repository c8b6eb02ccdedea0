import { Controller, Logger } from '@nestjs/common';
import { Ctx, EventPattern, MessagePattern, Payload } from '@nestjs/microservices';
import { StreamContext } from '../../common';

/**
 * Plain Nest handlers on the Redis Streams transport, beside the actors: `ping` shows an event handler,
 * `echo` a request-response handler (answered on the caller's reply stream).
 */
@Controller()
export class WorkerController {
  private readonly logger = new Logger('WorkerController');

  // The explicit <string> picks Nest's plain-pattern overload, so the @Ctx() parameter can be typed.
  @EventPattern<string>('ping')
  ping(@Payload() data: unknown, @Ctx() ctx: StreamContext): void {
    this.logger.log(`ping ${JSON.stringify(data)} (entry ${ctx.getEntryId()} on partition ${ctx.getPartition()})`);
  }

  @MessagePattern('echo')
  echo(@Payload() data: unknown): unknown {
    return data;
  }
}
