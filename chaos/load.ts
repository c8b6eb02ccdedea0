import { Keys, MANUAL_INTERVENTION, partitionOf } from '../common';
import type { RedisClient } from '../common';
import { REFERRAL_TERMINAL_STATUSES, referralActor } from '../actors';
import type { ReferralSettings } from '../actors';
import { HttpTally, requestWithRetry } from './http';
import { IngestWriter, newProgress, pollRecords, Pump, sampleDue } from './poll';
import type { ProgressSamples } from './poll';
import type { Rng } from './rng';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** How the referrals of a run are driven. */
export interface LoadOptions {
  referrals: number;
  /** Accepts are spread evenly over this many seconds. */
  seconds: number;
  /**
   * Share of referrals accepted over HTTP (share → accept through the gateway). The rest are accepted through
   * the ingest stream (a plain XADD), with short retry settings so their compensation fits in a run.
   */
  httpShare: number;
  /** Share of completions delivered twice with the same event id (over the same path or the other one). */
  duplicateShare: number;
  /** Share of completions followed by a second completion with another event id (ALREADY_COMPLETED). */
  otherEventShare: number;
  /** Share of accepts from the sharer's own device (the risk check rejects them: REJECTED). */
  sameDeviceShare: number;
  /** Share of ingest accepts an upstream writes twice (at-least-once producers). */
  ingestDuplicateShare: number;
  /** Referral settings sent with ingest accepts (retry rounds and backoff). */
  settings: Partial<ReferralSettings>;
  /** HTTP requests in flight at most. */
  httpConcurrency: number;
}

/** One planned referral: sharer cs<k> invites invitee ci<k> into the chaos activity. */
export interface Referral {
  k: number;
  app: string;
  sharer: string;
  invitee: string;
  partition: number;
  path: 'http' | 'ingest';
  sameDevice: boolean;
  /** The accept was acknowledged: 202 (or 409 ALREADY_ACCEPTED) from the gateway, or an XADD id from Redis. */
  accepted: boolean;
  /** The accept was given up on after its retries (never acknowledged). */
  acceptFailed: boolean;
  /** A TaskCompleted was sent, and acknowledged (202/409 from the gateway, an XADD id). */
  taskSent: boolean;
  taskAcked: boolean;
  /** The record's status at the last poll. */
  status?: string;
}

export interface LoadCounts {
  planned: number;
  httpAccepts: number;
  ingestAccepts: number;
  accepted: number;
  acceptFailed: number;
  completionsSent: number;
  completionsAcked: number;
  duplicates: { sameEvent: number; otherEvent: number; ingestAccepts: number };
  ingestEntries: number;
  ingestRetries: number;
  http: { requests: number; retries: number; gaveUp: number; byRoute: Record<string, Record<string, number>> };
}

export interface LoadContext {
  redis: RedisClient;
  keys: Keys;
  partitions: number;
  activityId: string;
  gateway: () => string;
  rng: Rng;
  log: (line: string) => void;
}

const TERMINAL: ReadonlySet<string> = REFERRAL_TERMINAL_STATUSES as ReadonlySet<string>;
export const isFinal = (status: string | undefined) => status !== undefined && (TERMINAL.has(status) || status === 'MANUAL_INTERVENTION');

/**
 * Drives the referrals of a chaos run: accepts paced over the load phase (HTTP or ingest), then, as each
 * application reaches RELATION_ESTABLISHED (polled from Redis), its task completion (HTTP or ingest), some of
 * them delivered twice. Every send is retried until acknowledged, through gateway restarts and Redis outages.
 */
export class LoadDriver {
  readonly referrals: Referral[];
  readonly http = new HttpTally();
  private readonly dup = { sameEvent: 0, otherEvent: 0, ingestAccepts: 0 };
  private readonly ingest: IngestWriter;
  private readonly pump: Pump;
  private readonly inFlight = new Set<Promise<unknown>>();
  readonly progress: ProgressSamples;

  constructor(
    private readonly ctx: LoadContext,
    private readonly opts: LoadOptions,
    overdueLimitMs = 10_000,
  ) {
    this.progress = newProgress(overdueLimitMs);
    this.ingest = new IngestWriter(ctx, ctx.log, 'to the ingest stream');
    this.pump = new Pump(() => this.pumpOnce(), ctx.log, 'status poll');
    const rng = ctx.rng.fork('plan');
    this.referrals = Array.from({ length: opts.referrals }, (_, k) => {
      const invitee = `ci${k}`;
      const app = `${ctx.activityId}:${invitee}`;
      return {
        k,
        app,
        sharer: `cs${k}`,
        invitee,
        partition: partitionOf({ type: referralActor.type, id: app }, ctx.partitions),
        path: rng.chance(opts.httpShare) ? 'http' : 'ingest',
        sameDevice: rng.chance(opts.sameDeviceShare),
        accepted: false,
        acceptFailed: false,
        taskSent: false,
        taskAcked: false,
      } satisfies Referral;
    });
  }

  counts(): LoadCounts {
    const r = this.referrals;
    return {
      planned: r.length,
      httpAccepts: r.filter((x) => x.path === 'http').length,
      ingestAccepts: r.filter((x) => x.path === 'ingest').length,
      accepted: r.filter((x) => x.accepted).length,
      acceptFailed: r.filter((x) => x.acceptFailed).length,
      completionsSent: r.filter((x) => x.taskSent).length,
      completionsAcked: r.filter((x) => x.taskAcked).length,
      duplicates: { ...this.dup },
      ingestEntries: this.ingest.entries,
      ingestRetries: this.ingest.retries,
      http: { requests: this.http.sent, retries: this.http.retries, gaveUp: this.http.gaveUp, byRoute: this.http.toJSON() },
    };
  }

  /** Statuses of the accepted referrals at the last poll (`unknown` before the first). */
  histogram(): Record<string, number> {
    const h: Record<string, number> = {};
    for (const r of this.referrals) {
      if (!r.accepted) continue;
      const s = r.status ?? 'unknown';
      h[s] = (h[s] ?? 0) + 1;
    }
    return h;
  }

  /** Accepted referrals not yet terminal or in manual intervention at the last poll. */
  unfinished(): Referral[] {
    return this.referrals.filter((r) => r.accepted && !isFinal(r.status));
  }

  /** Sends every accept, paced over `seconds`; resolves when each was acknowledged or given up on. */
  async runAccepts(): Promise<void> {
    const started = Date.now();
    const rate = this.opts.referrals / this.opts.seconds;
    const httpQueue: Referral[] = [];
    let next = 0;
    let lanesDone = false;
    const lane = async () => {
      for (;;) {
        const r = httpQueue.shift();
        if (r) await this.acceptHttp(r);
        else if (lanesDone) return;
        else await sleep(20);
      }
    };
    const lanes = Array.from({ length: this.opts.httpConcurrency }, lane);
    const ingestSends: Promise<void>[] = [];
    while (next < this.referrals.length) {
      const due = Math.min(this.referrals.length, Math.floor(((Date.now() - started) / 1000) * rate) + 1);
      const batch: Referral[] = [];
      for (; next < due; next++) {
        const r = this.referrals[next]!;
        if (r.path === 'http') httpQueue.push(r);
        else batch.push(r);
      }
      if (batch.length) ingestSends.push(this.acceptIngest(batch));
      await sleep(50);
    }
    lanesDone = true;
    await Promise.all([...lanes, ...ingestSends]);
  }

  /** Starts polling the accepted referrals and sending completions to the established ones. */
  startPump(intervalMs = 500): void {
    this.pump.start(intervalMs);
  }

  /** Stops polling and waits for the completions in flight. */
  async stopPump(): Promise<void> {
    await this.pump.stop();
    await Promise.allSettled([...this.inFlight]);
  }

  /** Polls the statuses of every accepted referral that is not terminal; sends the completions now due. */
  async pumpOnce(): Promise<void> {
    this.progress.polls++;
    const open = this.referrals.filter((r) => r.accepted && !(r.status && TERMINAL.has(r.status)));
    await pollRecords(this.ctx, open, (r) => ({ partition: r.partition, type: referralActor.type, id: r.app }), (r, rec, due, now) => {
      r.status = rec?.status ?? 'missing';
      if (rec && !TERMINAL.has(rec.status) && rec.status !== MANUAL_INTERVENTION) {
        this.progress.samples++;
        sampleDue(this.progress, due, now, `${r.app} (${rec.status})`, () => `${r.app}: ${rec.status}, not in the due index`);
      }
      if (r.status === 'RELATION_ESTABLISHED' && !r.taskSent) this.track(this.complete(r));
    });
  }

  private track(p: Promise<unknown>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  private acceptBody(r: Referral) {
    return {
      sharerDevice: `dev-${r.sharer}`,
      device: r.sameDevice ? `dev-${r.sharer}` : `dev-${r.invitee}`,
      ip: `10.${(r.k >> 16) & 255}.${(r.k >> 8) & 255}.${r.k & 255}`,
    };
  }

  private async acceptHttp(r: Referral): Promise<void> {
    const { sharerDevice, device, ip } = this.acceptBody(r);
    const share = await requestWithRetry(this.http, 'share', this.ctx.gateway, 'POST', `/activities/${this.ctx.activityId}/shares`, { sharerId: r.sharer, device: sharerDevice });
    if (!share || share.status !== 201) {
      r.acceptFailed = true;
      if (share) this.ctx.log(`load: share for ${r.app} answered ${share.status}: ${JSON.stringify(share.body).slice(0, 200)}`);
      return;
    }
    const accept = await requestWithRetry(this.http, 'accept', this.ctx.gateway, 'POST', `/shares/${share.body.code}/accept`, { inviteeId: r.invitee, device, ip });
    if (accept && (accept.status === 202 || (accept.status === 409 && accept.body?.error?.code === 'ALREADY_ACCEPTED'))) r.accepted = true;
    else {
      r.acceptFailed = true;
      if (accept) this.ctx.log(`load: accept of ${r.app} answered ${accept.status}: ${JSON.stringify(accept.body).slice(0, 200)}`);
    }
  }

  /** XADDs accepts to the ingest stream (direct form), some of them twice; each retried until Redis takes it. */
  private async acceptIngest(batch: Referral[]): Promise<void> {
    const rng = this.ctx.rng.fork(`ingest-${batch[0]!.k}`);
    await Promise.all(
      batch.map(async (r) => {
        const { sharerDevice, device, ip } = this.acceptBody(r);
        const payload = JSON.stringify({ activityId: this.ctx.activityId, sharerId: r.sharer, inviteeId: r.invitee, sharerDevice, device, ip, settings: this.opts.settings });
        const fields = ['actor', referralActor.type, 'id', r.app, 'type', 'Accept', 'eventId', `accept-${r.app}`, 'payload', payload];
        const twice = rng.chance(this.opts.ingestDuplicateShare);
        if (await this.ingest.xadd(fields)) r.accepted = true;
        else r.acceptFailed = true;
        if (twice && (await this.ingest.xadd(fields))) this.dup.ingestAccepts++;
      }),
    );
  }

  /** The task completion of an established referral, over its own path or the other one; some delivered twice. */
  private async complete(r: Referral): Promise<void> {
    r.taskSent = true;
    const rng = this.ctx.rng.fork(`task-${r.k}`);
    const eventId = `task-${r.k}`;
    const path: 'http' | 'ingest' = rng.chance(0.5) ? r.path : r.path === 'http' ? 'ingest' : 'http';
    if (await this.sendTask(r, path, eventId)) r.taskAcked = true;
    if (rng.chance(this.opts.duplicateShare)) {
      await sleep(rng.int(50, 1500));
      this.dup.sameEvent++;
      await this.sendTask(r, rng.chance(0.5) ? path : path === 'http' ? 'ingest' : 'http', eventId);
    }
    if (rng.chance(this.opts.otherEventShare)) {
      await sleep(rng.int(50, 1500));
      this.dup.otherEvent++;
      await this.sendTask(r, path, `${eventId}-again`);
    }
  }

  private async sendTask(r: Referral, path: 'http' | 'ingest', eventId: string): Promise<boolean> {
    const occurredAt = Date.now();
    if (path === 'ingest') {
      return this.ingest.xadd(['actor', referralActor.type, 'id', r.app, 'type', 'TaskCompleted', 'eventId', eventId, 'payload', JSON.stringify({ occurredAt, eventId })]);
    }
    const a = await requestWithRetry(this.http, 'task-completed', this.ctx.gateway, 'POST', `/applications/${encodeURIComponent(r.app)}/task-completed`, { eventId, occurredAt });
    if (!a) return false;
    // 409: a duplicate (DUPLICATE_EVENT, ALREADY_COMPLETED, ALREADY_TERMINAL): the first one was applied.
    if (a.status === 202 || a.status === 409) return true;
    this.ctx.log(`load: task-completed of ${r.app} answered ${a.status}: ${JSON.stringify(a.body).slice(0, 200)}`);
    return false;
  }
}
