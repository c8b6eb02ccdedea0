import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { Keys } from '../../common';
import { uniqueNamespace } from './redis';
import { fastRuntime } from './workers';

const ROOT = join(__dirname, '..', '..');

export interface OpsRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * One ops test's namespace: fastRuntime settings for its in-process workers, its keys, and the CLI's `target`
 * (a function: `env.url` is only set once useTestRedis's beforeAll ran).
 */
export function opsScope(env: { readonly url: string }, label: string) {
  const ns = uniqueNamespace(label);
  const runtime = fastRuntime(ns);
  const partitions = runtime.partitions as number;
  return { ns, runtime, partitions, keys: new Keys(ns), target: () => ({ url: env.url, ns, partitions }) };
}

/**
 * Runs the ops CLI (apps/ops/main.ts) as a child process, as an operator would, against one test's Redis and
 * namespace. Resolves with the exit code and output whatever the code (tests assert on it).
 */
export function runOps(target: { url: string; ns: string; partitions: number }, args: string[], options: { env?: Record<string, string>; stdin?: string; timeoutMs?: number } = {}): Promise<OpsRun> {
  const env = { ...process.env, PROPEL_REDIS_URL: target.url, PROPEL_NAMESPACE: target.ns, PROPEL_PARTITIONS: String(target.partitions), PROPEL_OPERATOR: 'ops-test', NO_COLOR: '1', ...options.env };
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, ['-r', join(ROOT, 'scripts', 'register.js'), join(ROOT, 'apps', 'ops', 'main.ts'), ...args], { cwd: ROOT, env, timeout: options.timeoutMs ?? 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null) : 0;
      if (code === null) return reject(new Error(`ops ${args.join(' ')} did not finish: ${(err as Error).message}\n${stderr}`));
      resolve({ code, stdout, stderr });
    });
    child.stdin?.end(options.stdin ?? '');
  });
}

/** Runs ops with --json and parses stdout; fails with the output when the exit code is not the one expected. */
export async function opsJson<T = any>(target: { url: string; ns: string; partitions: number }, args: string[], expectCode = 0): Promise<T> {
  const r = await runOps(target, [...args, '--json']);
  if (r.code !== expectCode) throw new Error(`ops ${args.join(' ')} exited ${r.code} (expected ${expectCode}):\n${r.stderr}\n${r.stdout}`);
  return JSON.parse(r.stdout) as T;
}
