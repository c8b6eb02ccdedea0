import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { warn } from './util';

export const ROOT = join(__dirname, '..', '..');

// Nest's logger colours its output on a TTY; strip any escape codes before matching lines.
const ANSI = /\x1b\[[0-9;]*m/g;

export interface WorkerProcess {
  label: string;
  child: ChildProcess;
  /** Resolves on the first stdout line containing `ready <workerId>`, with the worker id and the time seen. */
  ready: Promise<{ workerId: string; at: number }>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exitInfo(): { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** Last lines of output, for error reports. */
  tail(lines?: number): string;
  /** Sends `signal` and waits for the exit; SIGKILL after `timeoutMs` if it is still alive. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Spawns `node -r ./scripts/register.js apps/worker/main.ts` with the given env. Lines at WARN or ERROR
 * level (and stderr) are echoed with the worker's label when `echoWarnings` is set.
 */
export function spawnWorker(label: string, env: Record<string, string>, opts: { echoWarnings?: boolean; echoAll?: boolean } = {}): WorkerProcess {
  return spawnApp(label, 'apps/worker/main.ts', env, opts);
}

/**
 * Spawns any app entry point the same way (`apps/gateway/main.ts`, ...). `ready` resolves on its first
 * `ready <word>` line: the worker id for a worker, the URL for the gateway. `nodeArgs` go before `-r`
 * (e.g. `--cpu-prof`).
 */
export function spawnApp(label: string, script: string, env: Record<string, string>, opts: { echoWarnings?: boolean; echoAll?: boolean; nodeArgs?: string[] } = {}): WorkerProcess {
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), '-r', './scripts/register.js', script], {
    cwd: ROOT,
    env: { ...process.env, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let resolveReady!: (v: { workerId: string; at: number }) => void;
  let rejectReady!: (e: Error) => void;
  const ready = new Promise<{ workerId: string; at: number }>((res, rej) => {
    resolveReady = res;
    rejectReady = rej;
  });
  ready.catch(() => undefined);
  let isReady = false;
  const onLines = (stream: 'out' | 'err') => {
    let buffered = '';
    return (chunk: Buffer) => {
      buffered += chunk.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl).replace(ANSI, '');
        buffered = buffered.slice(nl + 1);
        lines.push(line);
        if (lines.length > 400) lines.splice(0, lines.length - 400);
        if (!isReady && stream === 'out') {
          const m = /\bready (\S+)/.exec(line);
          if (m) {
            isReady = true;
            resolveReady({ workerId: m[1], at: performance.now() });
          }
        }
        if (opts.echoAll || (opts.echoWarnings && (stream === 'err' || /\b(WARN|ERROR)\b/.test(line)))) warn(`  [${label}] ${line.trim()}`);
      }
    };
  };
  child.stdout!.on('data', onLines('out'));
  child.stderr!.on('data', onLines('err'));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      if (!isReady) rejectReady(new Error(`${label} exited (code ${code}, signal ${signal}) before it was ready:\n${lines.slice(-30).join('\n')}`));
      resolve(exit);
    });
  });
  const tail = (n = 30) => lines.slice(-n).join('\n');
  return {
    label,
    child,
    ready,
    exited,
    exitInfo: () => exit,
    tail,
    async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 20_000) {
      if (exit) return exit;
      child.kill(signal);
      let timer: NodeJS.Timeout | undefined;
      const forced = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          if (!exit) {
            warn(`  [${label}] still running ${timeoutMs} ms after ${signal}: SIGKILL`);
            child.kill('SIGKILL');
          }
          resolve();
        }, timeoutMs);
      });
      const result = await Promise.race([exited, forced.then(() => exited)]);
      if (timer) clearTimeout(timer);
      return result;
    },
  };
}

/** Waits for every worker's `ready` line; returns the time the last one was seen. */
export async function allReady(workers: WorkerProcess[], timeoutMs = 60_000): Promise<{ ids: string[]; at: number }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`workers not ready within ${timeoutMs} ms:\n${workers.map((w) => `--- ${w.label}\n${w.tail(15)}`).join('\n')}`)), timeoutMs);
  });
  try {
    const readies = await Promise.race([Promise.all(workers.map((w) => w.ready)), timeout]);
    return { ids: readies.map((r) => r.workerId), at: Math.max(...readies.map((r) => r.at)) };
  } finally {
    if (timer) clearTimeout(timer);
  }
}

/** Registry of live children so a crash or Ctrl-C still stops them (each by its own pid). */
const live = new Set<WorkerProcess>();
export function track(w: WorkerProcess): WorkerProcess {
  live.add(w);
  void w.exited.then(() => live.delete(w));
  return w;
}
export function killTracked(): void {
  for (const w of live) {
    if (!w.exitInfo()) w.child.kill('SIGKILL');
  }
}

/** On SIGINT or SIGTERM: SIGKILLs every tracked child and the servers listed now, then exits 130, so a Ctrl-C leaves no process behind. */
export function stopOnSignal(servers: () => Array<{ stop(signal: NodeJS.Signals): Promise<unknown> }>): void {
  const onSignal = () => {
    killTracked();
    void Promise.all(servers().map((s) => s.stop('SIGKILL'))).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
}

/** Runs a bench's main, then exits with its exit code; a throw is reported, every tracked child killed, exit 1. */
export function runBench(what: string, main: () => Promise<void>): void {
  main().then(
    () => process.exit(process.exitCode ?? 0),
    (err) => {
      warn(`${what} failed: ${(err as Error).stack ?? err}`);
      killTracked();
      process.exit(1);
    },
  );
}
