import 'reflect-metadata';
import { Controller, INestMicroservice, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Ctx, EventPattern, MessagePattern, Payload } from '@nestjs/microservices';
import { Redis } from 'ioredis';
import { firstValueFrom } from 'rxjs';
import { Keys, RedisStreamsClient, RedisStreamsServer, StreamContext } from '../../common';
import { counterActor } from '../../actors';
import { startTestRedis, TestRedis, uniqueNamespace } from '../harness/redis';
import { fastRuntime, waitFor } from '../harness/workers';

const received: Array<{ data: unknown; deliveries: number }> = [];
let failuresLeft = 0;

@Controller()
class ProbeController {
  @EventPattern<string>('audit.note')
  note(@Payload() data: unknown, @Ctx() ctx: StreamContext): void {
    if (failuresLeft > 0) {
      failuresLeft--;
      throw new Error('not yet');
    }
    received.push({ data, deliveries: ctx.getDeliveries() });
  }

  @MessagePattern('sum')
  sum(@Payload() data: { a: number; b: number }): Promise<number> {
    return Promise.resolve(data.a + data.b);
  }
}

@Module({ controllers: [ProbeController] })
class ProbeModule {}

// Provokes the Nest side: decorated handlers on the custom transport, a ClientProxy, a failing event handler.
describe('NestJS transport (CustomTransportStrategy + ClientProxy)', () => {
  let server: TestRedis;
  let redis: Redis;
  let app: INestMicroservice;
  let client: RedisStreamsClient;
  let ns: string;
  beforeAll(async () => {
    server = await startTestRedis();
    redis = new Redis(server.url);
    ns = uniqueNamespace('nest');
    const runtime = fastRuntime(ns, { maxDeliveries: 5 });
    const strategy = new RedisStreamsServer({ config: { redis: { url: server.url }, runtime }, actors: [counterActor] });
    app = await NestFactory.createMicroservice(ProbeModule, { strategy, logger: false });
    await app.listen();
    client = new RedisStreamsClient({ redis: { url: server.url }, runtime });
    await client.connect();
  });
  afterAll(async () => {
    await client.close();
    await app.close();
    redis.disconnect();
    await server.stop();
  });

  it('@MessagePattern answers a ClientProxy send() on the client reply stream', async () => {
    await expect(firstValueFrom(client.send('sum', { a: 2, b: 40 }))).resolves.toBe(42);
  });

  it('@EventPattern receives a ClientProxy emit()', async () => {
    received.length = 0;
    await firstValueFrom(client.emit('audit.note', { hello: 'world' }), { defaultValue: undefined });
    await waitFor(() => received.length === 1, 5000, 'the event');
    expect(received[0]).toEqual({ data: { hello: 'world' }, deliveries: 1 });
  });

  it('a failed event handler does not lead to XACK: the entry stays pending and is redelivered until it succeeds', async () => {
    received.length = 0;
    failuresLeft = 2;
    await firstValueFrom(client.emit('audit.note', { n: 1 }), { defaultValue: undefined });
    await waitFor(() => received.length === 1, 5000, 'the third attempt');
    expect(received[0].deliveries).toBe(3);
  });

  it('an event handler that keeps failing is dead-lettered, never acknowledged as done', async () => {
    received.length = 0;
    failuresLeft = 100;
    await firstValueFrom(client.emit('audit.note', { n: 2 }), { defaultValue: undefined });
    const keys = new Keys(ns);
    const dead = await waitFor(async () => {
      for (let p = 0; p < 8; p++) {
        const d = await redis.xrange(keys.dead(p), '-', '+');
        if (d.length) return d;
      }
      return null;
    }, 10_000, 'the dead letter');
    expect(dead[0][1]).toEqual(expect.arrayContaining(['code', 'MAX_DELIVERIES', 'deliveries', '5']));
    expect(received).toHaveLength(0);
    failuresLeft = 0;
  });

  it('actors answer typed requests through the same transport', async () => {
    const reply = await client.ask(counterActor, 'n1', { type: 'increment', by: 4 });
    expect(reply).toMatchObject({ actor: 'counter/n1', version: 1, state: { count: 4 } });
    const rejected = await client.ask(counterActor, 'n2', { type: 'reset' });
    expect(rejected.rejected?.code).toBe('ALREADY_ZERO');
  });
});
