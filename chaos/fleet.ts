import { createWriteStream, mkdirSync, WriteStream } from 'node:fs';
import { join } from 'node:path';
import { spawnApp, WorkerProcess } from '../bench/lib/workers';

export type AppKind = 'gateway' | 'worker' | 'sweeper' | 'notifier';

/** Why a process ended: on purpose (the chaos schedule or the end of the run), or by itself (a crash). */
export interface Crash {
  app: string;
  at: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when it died before printing its ready line (e.g. Redis unreachable at start: it fails fast). */
  beforeReady: boolean;
  /** True when it shut down on a SIGTERM or SIGINT this run did not send (another process on the machine did). */
  outsideSignal: boolean;
  /** Its last lines of output. */
  tail: string;
}

/** One supervised app: a name (`worker-2`), what it runs, its environment, and the process running it now. */
interface Slot {
  name: string;
  kind: AppKind;
  env: Record<string, string>;
  proc?: WorkerProcess;
  /** The current process is being stopped on purpose: its exit is not a crash. */
  expectingExit: boolean;
  /** Stopped on purpose and not to be restarted until `start` is called (a SIGKILL from the schedule). */
  held: boolean;
  starts: number;
  crashes: number[];
  gaveUp: boolean;
  ready?: string;
  restartTimer?: NodeJS.Timeout;
}

const CRASH_LOOP_COUNT = 6;
const CRASH_LOOP_WINDOW_MS = 60_000;
const READY_TIMEOUT_MS = 60_000;

/**
 * Runs the apps of a chaos deployment as real OS processes (apps/<kind>/main.ts) and keeps them running: a
 * process that exits by itself is a crash, counted and restarted after a short backoff, unless it crashes
 * CRASH_LOOP_COUNT times within a minute (a crash loop: given up on, and reported). Kills from the fault
 * schedule go through `kill`, which marks the exit as expected and leaves the restart to the caller.
 */
export class Fleet {
  private readonly slots = new Map<string, Slot>();
  readonly crashes: Crash[] = [];
  private stopping = false;
  private readonly logs = new Map<string, WriteStream>();

  constructor(
    private readonly baseEnv: Record<string, string>,
    private readonly opts: { log: (line: string) => void; logDir?: string; echo?: boolean },
  ) {
    if (opts.logDir) mkdirSync(opts.logDir, { recursive: true });
  }

  add(name: string, kind: AppKind, env: Record<string, string> = {}): void {
    this.slots.set(name, { name, kind, env, expectingExit: false, held: false, starts: 0, crashes: [], gaveUp: false });
  }

  names(kind?: AppKind): string[] {
    return [...this.slots.values()].filter((s) => !kind || s.kind === kind).map((s) => s.name);
  }

  /** The process ids of the apps now, by name (for CPU accounting and logs). */
  pids(): Record<string, number | undefined> {
    return Object.fromEntries([...this.slots.values()].map((s) => [s.name, s.proc && !s.proc.exitInfo() ? s.proc.child.pid : undefined]));
  }

  /** What `ready <x>` said the last time the app started (the gateway's URL, a worker's id). */
  readyOf(name: string): string | undefined {
    return this.slot(name).ready;
  }

  running(name: string): boolean {
    const s = this.slot(name);
    return !!s.proc && !s.proc.exitInfo();
  }

  /** Crash-loop verdicts: apps given up on. */
  gaveUp(): string[] {
    return [...this.slots.values()].filter((s) => s.gaveUp).map((s) => s.name);
  }

  starts(): Record<string, number> {
    return Object.fromEntries([...this.slots.values()].map((s) => [s.name, s.starts]));
  }

  /** Starts every app at once and waits for all of them to be ready. */
  async startAll(): Promise<void> {
    await Promise.all([...this.slots.keys()].map((name) => this.start(name)));
  }

  /** Starts an app (again) and waits for its ready line; a start that crashes is retried by the supervisor. */
  async start(name: string): Promise<void> {
    const slot = this.slot(name);
    slot.held = false;
    if (slot.restartTimer) clearTimeout(slot.restartTimer);
    slot.restartTimer = undefined;
    if (slot.proc && !slot.proc.exitInfo()) return;
    this.spawn(slot);
    await this.waitReady(slot);
  }

  /** Sends `signal` to an app (SIGKILL by default) as part of the schedule and waits for it to exit; no restart follows. */
  async kill(name: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const slot = this.slot(name);
    const proc = slot.proc;
    slot.held = true;
    if (!proc || proc.exitInfo()) return;
    slot.expectingExit = true;
    proc.child.kill(signal);
    await proc.exited;
  }

  /** Stops every app (SIGTERM, then SIGKILL after `timeoutMs`), for the end of the run. */
  async stopAll(timeoutMs = 15_000): Promise<Record<string, { code: number | null; signal: NodeJS.Signals | null } | undefined>> {
    this.stopping = true;
    const out: Record<string, { code: number | null; signal: NodeJS.Signals | null } | undefined> = {};
    await Promise.all(
      [...this.slots.values()].map(async (slot) => {
        if (slot.restartTimer) clearTimeout(slot.restartTimer);
        const proc = slot.proc;
        if (!proc || proc.exitInfo()) return;
        slot.expectingExit = true;
        out[slot.name] = await proc.stop('SIGTERM', timeoutMs);
      }),
    );
    for (const stream of this.logs.values()) stream.end();
    return out;
  }

  /** Kills whatever still runs, at once (Ctrl-C, a failed run). */
  killAll(): void {
    this.stopping = true;
    for (const slot of this.slots.values()) {
      if (slot.restartTimer) clearTimeout(slot.restartTimer);
      if (slot.proc && !slot.proc.exitInfo()) {
        slot.expectingExit = true;
        slot.proc.child.kill('SIGKILL');
      }
    }
  }

  /** Waits (bounded) until every app that is not held down runs and is ready. */
  async waitAllUp(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const notReady = [...this.slots.values()].filter((s) => !s.held && !s.gaveUp && !(s.proc && !s.proc.exitInfo() && s.ready !== undefined)).map((s) => s.name);
      if (notReady.length === 0) return;
      if (Date.now() > deadline) throw new Error(`apps not up within ${timeoutMs} ms: ${notReady.join(', ')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  tail(name: string, lines = 30): string {
    return this.slot(name).proc?.tail(lines) ?? '';
  }

  private slot(name: string): Slot {
    const s = this.slots.get(name);
    if (!s) throw new Error(`no app ${name}`);
    return s;
  }

  private spawn(slot: Slot): void {
    slot.starts++;
    slot.expectingExit = false;
    slot.ready = undefined;
    const proc = spawnApp(slot.name, `apps/${slot.kind}/main.ts`, { ...this.baseEnv, ...slot.env }, { echoWarnings: this.opts.echo });
    slot.proc = proc;
    if (this.opts.logDir) {
      let stream = this.logs.get(slot.name);
      if (!stream) this.logs.set(slot.name, (stream = createWriteStream(join(this.opts.logDir, `${slot.name}.log`), { flags: 'a' })));
      const s = stream;
      s.write(`\n===== start #${slot.starts} pid ${proc.child.pid} at ${new Date().toISOString()}\n`);
      proc.child.stdout!.on('data', (c: Buffer) => s.write(c));
      proc.child.stderr!.on('data', (c: Buffer) => s.write(c));
    }
    void proc.ready.then(
      (r) => {
        if (slot.proc === proc) slot.ready = r.workerId;
      },
      () => undefined,
    );
    void proc.exited.then((exit) => {
      if (slot.proc !== proc) return;
      if (this.logs.has(slot.name)) this.logs.get(slot.name)!.write(`===== exit ${JSON.stringify(exit)} at ${new Date().toISOString()}\n`);
      if (slot.expectingExit || this.stopping) return;
      const tail = proc.tail(40);
      // The apps log "<signal>: draining/closing/stopping" when a SIGTERM or SIGINT reaches them, and exit 0.
      const outsideSignal = exit.code === 0 && /\b(SIGTERM|SIGINT): /.test(tail);
      const crash: Crash = { app: slot.name, at: Date.now(), code: exit.code, signal: exit.signal, beforeReady: slot.ready === undefined, outsideSignal, tail: proc.tail(15) };
      this.crashes.push(crash);
      slot.crashes.push(crash.at);
      const recent = slot.crashes.filter((t) => t > crash.at - CRASH_LOOP_WINDOW_MS);
      const lastLine = proc.tail(3).split('\n').filter(Boolean).pop() ?? '';
      if (recent.length >= CRASH_LOOP_COUNT) {
        slot.gaveUp = true;
        this.opts.log(`CRASH LOOP: ${slot.name} exited ${recent.length} times within ${CRASH_LOOP_WINDOW_MS / 1000} s; not restarting it (last: ${lastLine})`);
        return;
      }
      const delay = Math.min(5_000, 500 * 2 ** (recent.length - 1));
      const why = outsideSignal ? 'was stopped by a signal this run did not send' : 'exited by itself';
      this.opts.log(`app crash: ${slot.name} ${why} (code ${exit.code}, signal ${exit.signal}${crash.beforeReady ? ', before it was ready' : ''}): ${lastLine.trim().slice(0, 200)}; restarting in ${delay} ms`);
      if (slot.held) return;
      slot.restartTimer = setTimeout(() => {
        slot.restartTimer = undefined;
        if (this.stopping || slot.held || (slot.proc && !slot.proc.exitInfo())) return;
        this.spawn(slot);
      }, delay);
    });
  }

  /** Waits for the slot's current process (or its replacements after crashes) to be ready. */
  private async waitReady(slot: Slot): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      const proc = slot.proc;
      if (proc && !proc.exitInfo() && slot.ready !== undefined) return;
      if (slot.gaveUp) throw new Error(`${slot.name} is in a crash loop:\n${proc?.tail(20) ?? ''}`);
      if (Date.now() > deadline) throw new Error(`${slot.name} not ready within ${READY_TIMEOUT_MS} ms:\n${proc?.tail(20) ?? ''}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
