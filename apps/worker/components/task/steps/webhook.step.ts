import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { RetryableError, TerminalError } from '../../../../../common';
import { scripts } from '../../../../../common/redis/scripts';
import type { RewardStep } from '../../../../../actors/task/task.definition';
import type { RewardStepHandler, StepContext } from '../step-registry';
import { TASK_REWARD_ERRORS } from '../task.errors';
import type { StepDeps } from './step-deps';

type WebhookStepConfig = Extract<RewardStep, { type: 'webhook' }>;

/** How long a run waits between looks at a step another run is POSTing. */
const WAIT_POLL_MS = 50;
/** The lock outlives the request's timeout by this much, so it never lapses while its holder still waits. */
const LOCK_MARGIN_MS = 2_000;

/** How a webhook's answer is taken: 2xx done; 408, 429 and 5xx passing; any other status a refusal. */
export function webhookVerdict(status: number): 'ok' | 'retryable' | 'terminal' {
  if (status >= 200 && status < 300) return 'ok';
  if (status === 408 || status === 429 || status >= 500) return 'retryable';
  return 'terminal';
}

/** A Retry-After header in ms (delay-seconds or an HTTP date), 0 when absent or unreadable. */
export function retryAfterMs(header: string | null, now: number): number {
  if (!header) return 0;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, Math.round(seconds * 1000));
  const at = Date.parse(header);
  return Number.isFinite(at) ? Math.max(0, at - now) : 0;
}

/** The JSON body a merchant's webhook receives. */
export interface WebhookBody {
  idempotencyKey: string;
  taskId: string;
  userId: string;
  merchantId: string;
  rewardKey: string;
  at: number;
}

/**
 * `webhook`: POSTs the reward as JSON to the merchant's URL with `Idempotency-Key: <step key>`, within the
 * step's timeout and the call's AbortSignal. The first 2xx is recorded as the step's result (its status) and
 * a later run returns it without POSTing again. Runs of one step key that race are serialised by a short lock
 * in the user's slot: one POSTs, the others wait for its result (or take over if it failed), so the merchant
 * sees one request per attempt; its Idempotency-Key covers what no lock can (a crash after its 2xx).
 */
export class WebhookStep implements RewardStepHandler<WebhookStepConfig> {
  readonly type = 'webhook';

  constructor(
    private readonly deps: StepDeps,
    private readonly fetchFn: typeof fetch = fetch,
  ) {}

  async run(step: WebhookStepConfig, ctx: StepContext): Promise<number> {
    const { results, keys, redis } = this.deps;
    const lock = keys.webhookLock(ctx.userId, ctx.stepKey);
    const token = randomUUID();
    const lockMs = step.timeoutMs + LOCK_MARGIN_MS;
    const giveUpAt = Date.now() + lockMs + LOCK_MARGIN_MS;
    for (;;) {
      const done = await results.get(ctx.userId, ctx.stepKey);
      if (done !== undefined) return done as number;
      if ((await scripts(redis).acquireLease(lock, token, lockMs)) === 1) break;
      if (Date.now() > giveUpAt) {
        throw new RetryableError(TASK_REWARD_ERRORS.webhookUnavailable, `webhook ${step.url}: another run of step ${ctx.stepKey} holds it past its timeout`, WAIT_POLL_MS);
      }
      await sleep(WAIT_POLL_MS, undefined, { signal: ctx.signal }).catch(() => undefined);
      if (ctx.signal.aborted) throw new RetryableError(TASK_REWARD_ERRORS.unavailable, `webhook step ${ctx.stepKey} aborted while another run held it`);
    }
    try {
      // The holder before us may have succeeded between our last look and our lock.
      const done = await results.get(ctx.userId, ctx.stepKey);
      if (done !== undefined) return done as number;
      const status = await this.post(step, ctx);
      return (await results.record(ctx.userId, ctx.stepKey, status)) as number;
    } finally {
      await scripts(redis).releaseLease(lock, token).catch(() => undefined);
    }
  }

  private async post(step: WebhookStepConfig, ctx: StepContext): Promise<number> {
    const body: WebhookBody = { idempotencyKey: ctx.stepKey, taskId: ctx.taskId, userId: ctx.userId, merchantId: ctx.merchantId, rewardKey: ctx.rewardKey, at: ctx.now };
    let res: Response;
    try {
      res = await this.fetchFn(step.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': ctx.stepKey },
        body: JSON.stringify(body),
        redirect: 'manual',
        signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(step.timeoutMs)]),
      });
    } catch (err) {
      // Refused connections, DNS, our timeout, a lost lease: all passing; the retry carries the same key.
      const what = (err as Error).name === 'TimeoutError' ? `no answer within ${step.timeoutMs} ms` : (err as Error).message;
      throw new RetryableError(TASK_REWARD_ERRORS.webhookUnavailable, `webhook ${step.url} unreachable: ${what}`, 0, { cause: err });
    }
    await res.arrayBuffer().catch(() => undefined); // drained, so the connection goes back to the pool
    const verdict = webhookVerdict(res.status);
    if (verdict === 'ok') return res.status;
    if (verdict === 'terminal') throw new TerminalError(TASK_REWARD_ERRORS.webhookRejected, `webhook ${step.url} refused the reward with HTTP ${res.status}`);
    throw new RetryableError(TASK_REWARD_ERRORS.webhookUnavailable, `webhook ${step.url} answered HTTP ${res.status}`, retryAfterMs(res.headers.get('retry-after'), Date.now()));
  }
}
