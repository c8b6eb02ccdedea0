import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const t0 = performance.now();

/** One progress line, prefixed with the seconds since the bench started. */
export function log(message: string): void {
  process.stdout.write(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${message}\n`);
}

export function warn(message: string): void {
  process.stderr.write(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${message}\n`);
}

/** A namespace that no earlier run used (Propel allows 1-32 of [a-zA-Z0-9_.-]). */
let nsCounter = 0;
export function freshNamespace(tag: string): string {
  return `b${Date.now().toString(36)}${(nsCounter++).toString(36)}-${tag}`.slice(0, 32);
}

/** Parses `--name value` and `--flag` arguments; unknown names are an error. */
export function parseArgs<T extends Record<string, number | boolean | string>>(argv: string[], defaults: T): T {
  const out: Record<string, number | boolean | string> = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${JSON.stringify(arg)}`);
    const eq = arg.indexOf('=');
    const rawName = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    const inline = eq < 0 ? undefined : arg.slice(eq + 1); // the value may hold '=' itself
    const name = rawName.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    if (!(name in defaults)) throw new Error(`unknown option --${rawName} (known: ${Object.keys(defaults).map((k) => '--' + k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())).join(', ')})`);
    const def = defaults[name];
    if (typeof def === 'boolean') {
      out[name] = inline === undefined ? true : inline !== 'false' && inline !== '0';
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`--${rawName} needs a value`);
    if (typeof def === 'number') {
      const n = Number(value.replace(/_/g, ''));
      if (!Number.isFinite(n) || n <= 0) throw new Error(`--${rawName} must be a positive number (got ${JSON.stringify(value)})`);
      out[name] = n;
    } else out[name] = value;
  }
  return out as T;
}

/** q-quantile (0..1) of an ascending array, nearest-rank. */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export function median(values: number[]): number {
  return quantile([...values].sort((a, b) => a - b), 0.5);
}

export function fmtInt(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a';
}

export function fmtRatio(n: number): string {
  return Number.isFinite(n) ? `${n.toFixed(2)}×` : 'n/a';
}

export function fmtMs(n: number): string {
  return Number.isFinite(n) ? `${n.toFixed(n < 10 ? 1 : 0)} ms` : 'n/a';
}

/** Calls `fn` every `ms` until the returned stop function is called. */
export function every(ms: number, fn: () => void | Promise<void>): () => void {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const loop = async () => {
    if (stopped) return;
    try {
      await fn();
    } catch {
      // a progress line is best effort
    }
    if (!stopped) timer = setTimeout(loop, ms);
  };
  timer = setTimeout(loop, ms);
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}

export function renderTable(header: string[], rows: string[][], alignRight: boolean[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (alignRight[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/**
 * Writes a run's results to bench/results: `<name>-<stamp>.json`, and its chart as `<name>-<stamp>.svg` and
 * `<name>-latest.svg`. Returns what failed (a chart that could not be drawn counts), for the exit status.
 */
export function saveResults(name: string, json: unknown, svg: () => string | undefined): string[] {
  const dir = join(__dirname, '..', 'results');
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const file = join(dir, `${name}-${stamp}.json`);
  writeFileSync(file, JSON.stringify(json, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n');
  console.log(`results written to ${file}`);
  try {
    const chart = svg();
    if (chart) {
      const files = [join(dir, `${name}-${stamp}.svg`), join(dir, `${name}-latest.svg`)];
      for (const f of files) writeFileSync(f, chart);
      console.log(`chart written to ${files.join(' and ')}`);
    }
    return [];
  } catch (err) {
    return [`chart: ${(err as Error).stack ?? err}`];
  }
}

/** Prints the failures, if any, and sets a non-zero exit status for them. */
export function reportFailures(failures: string[]): void {
  if (failures.length === 0) return;
  console.log(`\n${failures.length} failure(s):\n${failures.map((f) => ` - ${f.split('\n')[0]}`).join('\n')}`);
  process.exitCode = 1;
}

/** The failures of a bench run, and `fail`, which notes one and warns of it at once. */
export function failureList(): { failures: string[]; fail: (what: string) => void } {
  const failures: string[] = [];
  return {
    failures,
    fail(what: string) {
      failures.push(what);
      warn(`FAILED: ${what}`);
    },
  };
}

/** The machine a result was measured on (saved with it: numbers from a busier or smaller box are not comparable). */
export const machine = () => ({ cpus: cpus().length, model: cpus()[0]?.model, loadavg: loadavg(), node: process.version });

/** `N CPUs, load a b c` for a bench's first line. */
export const machineLine = () => `${cpus().length} CPUs, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`;

/**
 * Runs phase `name` only when `--phases` asked for it; a throw fails the run (through `fail`) and the phase gives
 * undefined, so the phases after it still run. `before` (a quiet wait, say) runs first, inside the same catch.
 */
export function phaseRunner(phases: ReadonlySet<string>, fail: (what: string) => void, before?: (name: string) => Promise<void>): <T>(name: string, run: () => Promise<T>) => Promise<T | undefined> {
  return async (name, run) => {
    if (!phases.has(name)) return undefined;
    try {
      await before?.(name);
      return await run();
    } catch (err) {
      fail(`${name}: ${(err as Error).stack ?? err}`);
      return undefined;
    }
  };
}
