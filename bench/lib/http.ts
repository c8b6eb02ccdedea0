import * as http from 'node:http';
import { performance } from 'node:perf_hooks';

/** An HTTP answer: status, parsed JSON body (or the text), and the time from send to the last byte. */
export interface Answer {
  status: number;
  body: any;
  ms: number;
}

/** A keep-alive agent for `request` (one per caller, so each sizes and closes its own pool). */
export const keepAliveAgent = (maxSockets: number) => new http.Agent({ keepAlive: true, maxSockets });

/**
 * One JSON request on `agent`'s keep-alive connections (node:http: in this Node, fetch/undici costs the client
 * several times more CPU per request, enough to make a bench the bottleneck on 2 cores). Rejects on network
 * errors and, when `timeoutMs` is given, when no answer came within it.
 */
export function request(agent: http.Agent, base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}, timeoutMs?: number): Promise<Answer> {
  const url = new URL(path, base);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const t = performance.now();
  return new Promise<Answer>((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method,
        agent,
        ...(timeoutMs !== undefined ? { timeout: timeoutMs } : {}),
        headers: { ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // not JSON: keep the text
          }
          resolve({ status: res.statusCode ?? 0, body: parsed, ms: performance.now() - t });
        });
      },
    );
    if (timeoutMs !== undefined) req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}
