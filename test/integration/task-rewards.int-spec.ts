import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRedis, decodeEnvelope, ENVELOPE_FIELD, PropelError, RetryableError, TerminalError, type Component, type RedisClient } from '../../common';
import { commandBuffer } from '../../common/redis/connection';
import { rewardFlowSchema, type RewardFlowInput } from '../../actors/task/task.definition';
import type { RewardCallInput, RewardCallValue } from '../../actors/task/task.types';
import { toNotification } from '../../apps/notifier/channel';
import { SubscriptionIndex, TASK_REWARD_ERRORS, TaskKeys, TaskRewards, taskComponents, type FlowSource, type FlowVersion } from '../../apps/worker/components/task';
import { uniqueNamespace, useTestRedis } from '../harness/redis';

const NOW = Date.parse('2024-06-03T12:00:00Z');
const MERCHANT = 'shop-1';

/** Flows in memory, with a history: `put` stores the next version, as the configuration center would. */
class MemoryFlows implements FlowSource {
  private readonly versions = new Map<string, FlowVersion[]>();
  put(flow: RewardFlowInput): number {
    const list = this.versions.get(flow.id) ?? [];
    list.push({ version: list.length + 1, value: rewardFlowSchema.parse(flow) });
    this.versions.set(flow.id, list);
    return list.length;
  }
  current(flowId: string): FlowVersion | undefined {
    return this.versions.get(flowId)?.at(-1);
  }
  async at(flowId: string, version: number): Promise<FlowVersion | null> {
    return this.versions.get(flowId)?.[version - 1] ?? null;
  }
}

/** A merchant webhook on a free local port: `answers` are the statuses of successive requests (the last repeats). */
interface Hook {
  url: string;
  requests: Array<{ key: string; body: Record<string, unknown> }>;
  answers: number[];
  close(): Promise<void>;
}

async function startHook(answers: number[]): Promise<Hook> {
  const hook = { requests: [], answers } as unknown as Hook;
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      hook.requests.push({ key: String(req.headers['idempotency-key']), body: JSON.parse(raw) });
      const status = hook.answers[Math.min(hook.requests.length, hook.answers.length) - 1];
      res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  hook.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/rewards`;
  hook.close = async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  };
  return hook;
}

function rewardInput(userId: string, flow: string, stage = 0): RewardCallInput {
  return { taskId: `${userId}:daily-order:once`, userId, merchantId: MERCHANT, taskDefId: 'daily-order', period: 'once', stage, threshold: 1, flow };
}

/** The code and the step-naming message of a rejected call, for assertions. */
async function failure(p: Promise<unknown>): Promise<{ code: string; retryable: boolean; message: string }> {
  try {
    await p;
  } catch (err) {
    if (err instanceof PropelError) return { code: String(err.code), retryable: err instanceof RetryableError, message: err.message };
    throw err;
  }
  throw new Error('the call succeeded');
}

// Provokes concurrent runs of one reward key, a flow changed between retries, a failing merchant webhook, a
// coupon template running out of stock and expired subscriptions (invariant 3: each reward at most once per key).
describe('task rewards: step handlers, reward flows and the subscription index (invariant 3)', () => {
  const env = useTestRedis();
  let redis: RedisClient;
  const hooks: Hook[] = [];
  beforeAll(() => {
    redis = createRedis({ url: env.url, tls: false }, 'task-rewards-test');
  });
  afterAll(async () => {
    await Promise.all(hooks.map((h) => h.close()));
    redis.disconnect();
  });

  const hook = async (answers: number[]) => {
    const h = await startHook(answers);
    hooks.push(h);
    return h;
  };
  const setup = (opts: { codes?: () => string } = {}) => {
    const keys = new TaskKeys(uniqueNamespace('task'));
    const flows = new MemoryFlows();
    const components = taskComponents({ redis, keys, flows, clock: () => NOW, options: opts.codes ? { newCouponCode: opts.codes } : {} });
    const call = (name: string, input: unknown, key: string, signal = new AbortController().signal) =>
      (components[name] as Component)(input, { idempotencyKey: key, signal, actor: { type: 'task', id: (input as { taskId: string }).taskId } });
    const reward = (input: RewardCallInput, key = `${input.taskId}#s${input.stage}`) => call('task.reward', input, key) as Promise<RewardCallValue>;
    return { keys, flows, call, reward, rewards: new TaskRewards(redis, keys) };
  };

  it('5 concurrent runs of one reward key grant each step once: one balance increase each, one coupon, one notification, one POST', async () => {
    const { keys, flows, reward, rewards } = setup();
    const h = await hook([200]);
    flows.put({
      id: 'welcome',
      merchantId: MERCHANT,
      steps: [
        { type: 'points', amount: 10 },
        { type: 'growth', amount: 3 },
        { type: 'coupon', template: 'tea-5off', stock: 100 },
        { type: 'notify', template: 'rewarded' },
        { type: 'webhook', url: h.url, timeoutMs: 2_000 },
      ],
    });
    const input = rewardInput('alice', 'welcome');
    const values = await Promise.all(Array.from({ length: 5 }, () => reward(input)));
    for (const v of values) expect(v).toEqual(values[0]); // every run reports the first run's references
    const key = 'alice:daily-order:once#s0';
    expect(values[0].flowVersion).toBe(1);
    expect(values[0].steps.map((s) => s.type)).toEqual(['points', 'growth', 'coupon', 'notify', 'webhook']);
    expect(values[0].steps[0].ref).toEqual({ amount: 10, balance: 10 });
    expect(values[0].steps[4].ref).toBe(200);

    expect(await rewards.balances('alice')).toEqual({ points: 10, growth: 3 });
    const ledger = await rewards.ledger('alice');
    expect(ledger.map((e) => [e.type, e.key])).toEqual([['points', `${key}#0`], ['growth', `${key}#1`], ['coupon', `${key}#2`]]);
    expect(ledger[2].code).toBe((values[0].steps[2].ref as { code: string }).code);
    expect(await redis.get(keys.couponIssued(MERCHANT, 'tea-5off'))).toBe('1');

    const entries = (await commandBuffer<Array<[Buffer, Buffer[]]>>(redis, 'XRANGE', keys.notifications(), '-', '+'));
    expect(entries).toHaveLength(1);
    const fields = entries[0][1];
    const envelope = decodeEnvelope(fields[fields.findIndex((f) => f.toString() === ENVELOPE_FIELD) + 1]);
    const n = toNotification(envelope, entries[0][0].toString()); // what the notifier makes of it
    expect(n).toMatchObject({ id: `${key}#3`, kind: 'TASK_REWARDED', userId: 'alice', data: { template: 'rewarded', taskId: 'alice:daily-order:once' } });

    expect(h.requests).toHaveLength(1);
    expect(h.requests[0].key).toBe(`${key}#4`); // Idempotency-Key: the step key
    expect(h.requests[0].body).toMatchObject({ idempotencyKey: `${key}#4`, userId: 'alice', merchantId: MERCHANT, at: NOW });

    // A sixth run long after: nothing new anywhere.
    expect(await reward(input)).toEqual(values[0]);
    expect(await rewards.balances('alice')).toEqual({ points: 10, growth: 3 });
    expect(await redis.xlen(keys.notifications())).toBe(1);
    expect(h.requests).toHaveLength(1);
  });

  it('a retryable failure in step 1 keeps step 0; the re-run grants step 1 only; a later retry after success does not POST again', async () => {
    const { flows, reward, rewards, keys } = setup();
    const h = await hook([500, 200]);
    flows.put({ id: 'hooked', merchantId: MERCHANT, steps: [{ type: 'points', amount: 7 }, { type: 'webhook', url: h.url, timeoutMs: 2_000 }] });
    const input = rewardInput('bob', 'hooked');
    const first = await failure(reward(input));
    expect(first).toMatchObject({ code: TASK_REWARD_ERRORS.webhookUnavailable, retryable: true });
    expect(first.message).toContain('step 1 (webhook)');
    expect(await rewards.balances('bob')).toEqual({ points: 7, growth: 0 });
    expect(await redis.exists(keys.stepResult('bob', 'bob:daily-order:once#s0#1'))).toBe(0); // no success recorded yet

    const second = await reward(input);
    expect(second.steps).toEqual([{ index: 0, type: 'points', ref: { amount: 7, balance: 7 } }, { index: 1, type: 'webhook', ref: 200 }]);
    expect(await rewards.balances('bob')).toEqual({ points: 7, growth: 0 }); // step 0 not granted twice
    expect(await rewards.ledger('bob')).toHaveLength(1);
    expect(h.requests.map((r) => r.key)).toEqual(['bob:daily-order:once#s0#1', 'bob:daily-order:once#s0#1']);

    expect(await reward(input)).toEqual(second);
    expect(h.requests).toHaveLength(2); // the recorded success answers; no third POST
  });

  it('a reward retried after the merchant changed the flow runs the version it was pinned to; a new reward runs the new one', async () => {
    const { flows, reward, rewards } = setup();
    const h = await hook([503, 200]);
    flows.put({ id: 'vip', merchantId: MERCHANT, steps: [{ type: 'points', amount: 10 }, { type: 'webhook', url: h.url, timeoutMs: 2_000 }] });
    const carol = rewardInput('carol', 'vip');
    expect(await failure(reward(carol))).toMatchObject({ retryable: true });
    expect(flows.put({ id: 'vip', merchantId: MERCHANT, steps: [{ type: 'points', amount: 99 }, { type: 'growth', amount: 5 }] })).toBe(2);

    const retried = await reward(carol); // v1 is no longer current: read from the history
    expect(retried.flowVersion).toBe(1);
    expect(retried.steps.map((s) => s.type)).toEqual(['points', 'webhook']);
    expect(await rewards.balances('carol')).toEqual({ points: 10, growth: 0 });

    const dave = await reward(rewardInput('dave', 'vip'));
    expect(dave.flowVersion).toBe(2);
    expect(await rewards.balances('dave')).toEqual({ points: 99, growth: 5 });
  });

  it('coupon stock K = 5 with 12 concurrent rewards: exactly 5 issued, 7 refused with COUPON_OUT_OF_STOCK', async () => {
    let n = 0;
    const { flows, reward, keys } = setup({ codes: () => `C${++n}` });
    flows.put({ id: 'scarce', merchantId: MERCHANT, steps: [{ type: 'coupon', template: 'gift', stock: 5 }] });
    const outcomes = await Promise.all(
      Array.from({ length: 12 }, (_, i) => reward(rewardInput(`u${i}`, 'scarce')).then((v) => ({ ok: true as const, v }), (err: unknown) => ({ ok: false as const, err }))),
    );
    const issued = outcomes.filter((o) => o.ok);
    const refused = outcomes.filter((o) => !o.ok);
    expect(issued).toHaveLength(5);
    expect(refused).toHaveLength(7);
    for (const r of refused) {
      expect(r.err).toBeInstanceOf(TerminalError);
      expect((r.err as TerminalError).code).toBe(TASK_REWARD_ERRORS.couponOutOfStock);
    }
    expect(new Set(issued.map((o) => (o.v.steps[0].ref as { code: string }).code)).size).toBe(5);
    expect(await redis.get(keys.couponIssued(MERCHANT, 'gift'))).toBe('5');
    // An issued reward run again keeps its coupon though the stock is spent.
    const lucky = outcomes.findIndex((o) => o.ok);
    expect(await reward(rewardInput(`u${lucky}`, 'scarce'))).toEqual((outcomes[lucky] as { v: RewardCallValue }).v);
  });

  it('a missing flow and another merchant\'s flow are refused before anything is pinned; a replay after the fix succeeds', async () => {
    const { flows, reward, rewards } = setup();
    const input = rewardInput('erin', 'later');
    expect(await failure(reward(input))).toMatchObject({ code: TASK_REWARD_ERRORS.flowNotFound, retryable: false });
    flows.put({ id: 'later', merchantId: 'other-shop', steps: [{ type: 'points', amount: 1 }] }); // v1: the wrong merchant
    expect(await failure(reward(input))).toMatchObject({ code: TASK_REWARD_ERRORS.flowMerchantMismatch, retryable: false });
    flows.put({ id: 'later', merchantId: MERCHANT, steps: [{ type: 'points', amount: 4 }] });
    expect((await reward(input)).flowVersion).toBe(2); // the version current when the replay ran
    expect(await rewards.balances('erin')).toEqual({ points: 4, growth: 0 });
  });

  it('a webhook answering 404 refuses with WEBHOOK_REJECTED; one that never answers in time is retryable', async () => {
    const { flows, reward } = setup();
    const rejecting = await hook([404]);
    flows.put({ id: 'bad-hook', merchantId: MERCHANT, steps: [{ type: 'webhook', url: rejecting.url, timeoutMs: 1_000 }] });
    expect(await failure(reward(rewardInput('fay', 'bad-hook')))).toMatchObject({ code: TASK_REWARD_ERRORS.webhookRejected, retryable: false });
    const silent = createServer(() => undefined); // accepts and never answers
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      flows.put({ id: 'slow-hook', merchantId: MERCHANT, steps: [{ type: 'webhook', url: `http://127.0.0.1:${(silent.address() as AddressInfo).port}/`, timeoutMs: 200 }] });
      const slow = await failure(reward(rewardInput('gus', 'slow-hook')));
      expect(slow).toMatchObject({ code: TASK_REWARD_ERRORS.webhookUnavailable, retryable: true });
      expect(slow.message).toContain('no answer within 200 ms');
    } finally {
      silent.closeAllConnections();
      await new Promise((r) => silent.close(r));
    }
  });

  it('an aborted call stops before its next step and is retryable', async () => {
    const { flows, call, rewards } = setup();
    flows.put({ id: 'plain', merchantId: MERCHANT, steps: [{ type: 'points', amount: 2 }] });
    const ac = new AbortController();
    ac.abort();
    const input = rewardInput('hal', 'plain');
    expect(await failure(call('task.reward', input, `${input.taskId}#s0`, ac.signal))).toMatchObject({ code: TASK_REWARD_ERRORS.unavailable, retryable: true });
    expect(await rewards.balances('hal')).toEqual({ points: 0, growth: 0 });
  });

  it('the subscription index finds the tasks counting an event at its time and prunes entries expired past the grace', async () => {
    const { keys, call } = setup();
    const T = NOW + 3_600_000;
    const sub = (taskId: string, events: string[], until: number | null) => call('task.subscribe', { userId: 'ivy', taskId, events, until }, `sub:${taskId}`);
    await sub('ivy:always:once', ['order.paid'], null);
    await sub('ivy:hourly:once', ['order.paid', 'sign.in'], T);
    await sub('ivy:old:once', ['sign.in'], NOW - 2 * 86_400_000); // ended two days ago: past the 1-day grace
    await sub('ivy:recent:once', ['sign.in'], NOW - 3_600_000); // ended an hour ago: kept for late events
    const index = new SubscriptionIndex(redis, keys, { clock: () => NOW });

    expect(await index.lookup('ivy', 'order.paid', T - 1)).toEqual(['ivy:always:once', 'ivy:hourly:once']);
    expect(await index.lookup('ivy', 'order.paid', T)).toEqual(['ivy:always:once', 'ivy:hourly:once']); // until is inclusive
    expect(await index.lookup('ivy', 'order.paid', T + 1)).toEqual(['ivy:always:once']);
    expect(await index.lookup('ivy', 'sign.in', NOW - 4 * 3_600_000)).toEqual(['ivy:hourly:once', 'ivy:recent:once']);
    expect(await index.lookup('ivy', 'coupon.used', NOW)).toEqual([]);
    expect(await redis.hkeys(keys.subscriptions('ivy'))).toEqual(expect.not.arrayContaining(['ivy:old:once'])); // pruned by the lookups
    expect(await redis.hexists(keys.subscriptions('ivy'), 'ivy:recent:once')).toBe(1);
    expect(await index.enrolled('always')).toEqual(['ivy:always:once']);

    await call('task.unsubscribe', { userId: 'ivy', taskId: 'ivy:always:once' }, 'unsub:always');
    expect(await index.lookup('ivy', 'order.paid', T - 1)).toEqual(['ivy:hourly:once']);
    expect(await index.enrolled('always')).toEqual([]);
    expect(await failure(call('task.subscribe', { userId: 'ivy', taskId: 'jo:always:once', events: ['order.paid'], until: null }, 'x'))).toMatchObject({
      code: 'INVALID_MESSAGE',
      retryable: false,
    });
  });
});
