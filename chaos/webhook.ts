import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Rng } from './rng';

/** What the chaos webhook saw: every attempt, the failures it answered on purpose, and the notifications it accepted. */
export interface WebhookStats {
  attempts: number;
  /** 503 answers by choice (the failing share); the notifier retries these. */
  failed: number;
  /** Distinct notification ids (the Idempotency-Key header) answered 200 at least once. */
  delivered: number;
  /** Deliveries of a notification id that had been answered 200 before (at-least-once duplicates). */
  redelivered: number;
}

/**
 * The notifier's webhook endpoint in a chaos run: answers 503 to a `failRate` share of requests (seeded), 200
 * to the others, and remembers which notification ids it accepted, so the run can check that every
 * notification was delivered or dead-lettered.
 */
export class ChaosWebhook {
  readonly delivered = new Set<string>();
  readonly stats: WebhookStats = { attempts: 0, failed: 0, delivered: 0, redelivered: 0 };
  private server?: Server;
  url = '';

  constructor(
    private readonly rng: Rng,
    private readonly failRate: number,
  ) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', () => resolve()));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    req.resume();
    req.on('end', () => {
      this.stats.attempts++;
      const id = String(req.headers['idempotency-key'] ?? '');
      if (this.rng.chance(this.failRate)) {
        this.stats.failed++;
        res.writeHead(503, { 'content-type': 'text/plain' }).end('chaos: failing on purpose');
        return;
      }
      if (this.delivered.has(id)) this.stats.redelivered++;
      else {
        this.delivered.add(id);
        this.stats.delivered++;
      }
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
