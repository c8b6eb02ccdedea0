import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DeadLetterTally, Invariant } from './checks';
import type { Crash } from './fleet';
import type { FaultEvent, FaultKind, PlannedFault } from './faults';
import type { LoadCounts } from './load';
import type { TaskLoadCounts } from './tasks';
import type { WebhookStats } from './webhook';

/** Everything a chaos run returns: what it did, what broke, and each invariant with its evidence. */
export interface ChaosSummary {
  /** Every invariant held and no phase failed. */
  ok: boolean;
  mode: 'single' | 'cluster';
  profile: 'smoke' | 'full';
  seed: number;
  startedAt: string;
  durationMs: number;
  namespace: string;
  activityId: string;
  partitions: number;
  budgetLimit: number;
  /** The knobs of this run (fault rates, retry settings, process counts, timings). */
  settings: Record<string, unknown>;
  load: LoadCounts;
  faults: {
    planned: PlannedFault[];
    events: FaultEvent[];
    byKind: Record<FaultKind, number>;
    /** Apps that exited by themselves and were restarted (not the ones the schedule killed). */
    appCrashes: Array<Omit<Crash, 'tail'> & { lastLine: string }>;
    /** Failed component calls by error code, from the applications' audit records (injected ones included). */
    callFailures: Record<string, number>;
    webhook: WebhookStats;
  };
  drain: {
    ms: number;
    rounds: Array<{ manualBefore: number; manualByType?: Record<string, number>; retried: number; retriedByType?: Record<string, number>; refused: number; waitedMs: number }>;
    settled: boolean;
    unfinished: Record<string, number>;
  };
  outcomes: Record<string, number>;
  /** The task-center load: what was sent, how the tasks ended, their failed reward calls, the merchant's webhook. */
  tasks?: { load: TaskLoadCounts; outcomes: Record<string, number>; callFailures: Record<string, number>; callFailureExamples?: Record<string, string>; merchantWebhook: WebhookStats };
  invariants: Invariant[];
  deadLetters: DeadLetterTally;
  budget: { limit: number; used: number };
  /** Errors that stopped a phase (the run could not finish as planned). */
  failures: string[];
}

const fmt = (n: number) => n.toLocaleString('en-US');
const FAULT_LABELS: Record<FaultKind, string> = {
  'kill-worker': 'worker SIGKILL',
  'kill-sweeper': 'sweeper SIGKILL',
  'stop-redis': 'Redis SIGSTOP',
  'restart-redis': 'Redis restart',
  failover: 'cluster failover',
  'kill-master': 'master SIGKILL',
};

function entries(record: Record<string, number>): string {
  const list = Object.entries(record).sort((a, b) => b[1] - a[1]);
  return list.length ? list.map(([k, v]) => `${k} ${fmt(v)}`).join(', ') : 'none';
}

function deadLetterText(d: DeadLetterTally): string {
  if (d.total === 0) return 'none';
  const parts: string[] = [];
  for (const [source, codes] of Object.entries(d.bySource)) {
    for (const [code, e] of Object.entries(codes)) {
      const what = Object.keys(e.messages).length ? ` [${entries(e.messages)}]` : '';
      parts.push(`${source} ${code} ×${fmt(e.count)}${what}: ${e.reason.slice(0, 120)}`);
    }
  }
  return parts.join('; ');
}

/** The rows of the table: what was done, what was injected, then each invariant. */
export function rows(s: ChaosSummary): Array<{ what: string; result: string; evidence: string; ok?: boolean }> {
  const l = s.load;
  const f = s.faults;
  const crashes = f.appCrashes.length;
  const outside = f.appCrashes.filter((c) => c.outsideSignal).length;
  const byApp: Record<string, number> = {};
  for (const c of f.appCrashes) byApp[c.app] = (byApp[c.app] ?? 0) + 1;
  const injected = Object.values(f.byKind).reduce((a, b) => a + b, 0);
  const downstream = Object.values(f.callFailures).reduce((a, b) => a + b, 0);
  const t = s.tasks;
  const taskDownstream = t ? Object.values(t.callFailures).reduce((a, b) => a + b, 0) + t.merchantWebhook.failed : 0;
  const out: Array<{ what: string; result: string; evidence: string; ok?: boolean }> = [
    {
      what: 'requests sent',
      result: fmt(l.http.requests + l.ingestEntries),
      evidence:
        `${fmt(l.planned)} referrals (${fmt(l.httpAccepts)} accepted over HTTP share → accept, ${fmt(l.ingestAccepts)} through the ingest stream), ${fmt(l.accepted)} accepts acknowledged, ${fmt(l.acceptFailed)} given up; ` +
        `${fmt(l.completionsSent)} task completions (${fmt(l.completionsAcked)} acknowledged) + duplicates: ${fmt(l.duplicates.sameEvent)} same event, ${fmt(l.duplicates.otherEvent)} another event, ${fmt(l.duplicates.ingestAccepts)} accepts written twice; ` +
        `${fmt(l.http.requests)} HTTP requests (${fmt(l.http.retries)} retries, ${fmt(l.http.gaveUp)} given up), ${fmt(l.ingestEntries)} ingest XADDs (${fmt(l.ingestRetries)} retried)`,
    },
    ...(t
      ? [
          {
            what: 'task receipts sent',
            result: fmt(t.load.deliveries),
            evidence:
              `${fmt(t.load.users)} users, ${fmt(t.load.tasks)} tasks (${fmt(t.load.staged)} staged auto-enrolled, ${fmt(t.load.claimTasks)} claim-required: ${fmt(t.load.claimsAcked)} claimed over HTTP${t.load.claimsFailed ? `, ${fmt(t.load.claimsFailed)} given up` : ''}); ` +
              `${fmt(t.load.distinctEvents)} distinct events delivered ${fmt(t.load.deliveries)} times in a shuffled order per user (${fmt(t.load.viaIngest)} ingest XADDs, ${fmt(t.load.viaHttp)} POST /receipts${t.load.skippedAnswers ? `, ${fmt(t.load.skippedAnswers)} of them answered with a task skipped` : ''}), ${fmt(t.load.deliveriesAcked)} acknowledged; ` +
              `duplicates: ${fmt(t.load.duplicates.sameEventAgain)} the same event again later, ${fmt(t.load.duplicates.writtenTwice)} receipts written twice; ` +
              `${fmt(t.load.ingestEntries)} XADDs (${fmt(t.load.ingestRetries)} retried), ${fmt(t.load.http.requests)} HTTP requests (${fmt(t.load.http.retries)} retries, ${fmt(t.load.http.gaveUp)} given up)`,
          },
        ]
      : []),
    {
      what: 'faults injected',
      result: fmt(injected),
      evidence: (Object.keys(FAULT_LABELS) as FaultKind[])
        .filter((k) => f.byKind[k] > 0 || f.planned.some((p) => p.kind === k))
        .map((k) => `${FAULT_LABELS[k]} ${f.byKind[k]}${f.events.some((e) => e.kind === k && !e.ok) ? ` (${f.events.filter((e) => e.kind === k && !e.ok).length} failed)` : ''}`)
        .join(', '),
    },
    {
      what: 'app crashes (restarted)',
      result: fmt(crashes),
      evidence: crashes
        ? `${entries(byApp)}` +
          (outside ? `; ${fmt(outside)} of them stopped by a SIGTERM/SIGINT from outside this run (another process on the machine)` : '') +
          `: ${f.appCrashes.slice(0, 3).map((c) => `${c.app} ${c.code ?? c.signal}${c.beforeReady ? ' at start' : ''}${c.outsideSignal ? ' (outside signal)' : ''}: ${c.lastLine.replace(/^\[Nest\] \d+\s+-\s+[^A-Z]*\s+/, '').slice(0, 100)}`).join(' | ')}`
        : 'no app exited by itself',
    },
    {
      what: 'downstream errors',
      result: fmt(downstream + f.webhook.failed + taskDownstream),
      evidence:
        `failed activity calls by code: ${entries(f.callFailures)}; webhook answered 503 to ${fmt(f.webhook.failed)} of ${fmt(f.webhook.attempts)} attempts` +
        (t ? `; failed task reward calls by code: ${entries(t.callFailures)}; the merchant's webhook (the flows' webhook step) answered 503 to ${fmt(t.merchantWebhook.failed)} of ${fmt(t.merchantWebhook.attempts)} POSTs (${fmt(t.merchantWebhook.redelivered)} POSTs of a step already answered 2xx)` : ''),
    },
    {
      what: 'outcomes',
      result: fmt(Object.values(s.outcomes).reduce((a, b) => a + b, 0)),
      evidence: entries(s.outcomes),
    },
    ...(t ? [{ what: 'task outcomes', result: fmt(Object.values(t.outcomes).reduce((a, b) => a + b, 0)), evidence: entries(t.outcomes) }] : []),
  ];
  for (const inv of s.invariants) out.push({ what: inv.name, result: inv.value, evidence: inv.evidence, ok: inv.ok });
  out.push({ what: 'dead letters', result: fmt(s.deadLetters.total), evidence: deadLetterText(s.deadLetters) });
  if (s.drain.rounds.length) {
    out.push({
      what: 'retried from ops',
      result: fmt(s.drain.rounds.reduce((n, r) => n + r.retried, 0)),
      evidence: s.drain.rounds
        .map((r, i) => {
          const split = (m?: Record<string, number>) => (m && Object.keys(m).length ? ` (${entries(m)})` : '');
          return `round ${i + 1}: ${fmt(r.manualBefore)} in manual intervention${split(r.manualByType)}, ${fmt(r.retried)} retried${split(r.retriedByType)}, ${fmt(r.refused)} refused`;
        })
        .join('; '),
    });
  }
  return out;
}

function header(s: ChaosSummary): string {
  const verdict = s.ok ? 'PASSED' : 'FAILED';
  return `chaos ${s.profile} run on ${s.mode === 'cluster' ? 'a Redis Cluster (3 masters + 3 replicas)' : 'one Redis'}, seed ${s.seed}: ${verdict} (${(s.durationMs / 1000).toFixed(0)} s)`;
}

/** The table for a terminal, wrapped at `width` characters in the evidence column. */
export function renderText(s: ChaosSummary, width = 160): string {
  const r = rows(s);
  const w1 = Math.max(...r.map((x) => x.what.length), 5);
  const w2 = Math.max(...r.map((x) => x.result.length + (x.ok === undefined ? 0 : 2)), 6);
  const w3 = Math.max(40, width - w1 - w2 - 4);
  const wrap = (text: string) => {
    const lines: string[] = [];
    let line = '';
    for (const word of text.split(' ')) {
      if (line && line.length + word.length + 1 > w3) {
        lines.push(line);
        line = word;
      } else line = line ? `${line} ${word}` : word;
    }
    if (line) lines.push(line);
    return lines;
  };
  const out = [header(s), ''];
  out.push(`${'check'.padEnd(w1)}  ${'result'.padStart(w2)}  evidence`);
  out.push(`${'-'.repeat(w1)}  ${'-'.repeat(w2)}  ${'-'.repeat(Math.min(w3, 60))}`);
  for (const x of r) {
    const result = x.ok === undefined ? x.result : `${x.result} ${x.ok ? '✓' : '✗'}`;
    wrap(x.evidence).forEach((line, i) => out.push(i === 0 ? `${x.what.padEnd(w1)}  ${result.padStart(w2)}  ${line}` : `${''.padEnd(w1)}  ${''.padStart(w2)}  ${line}`));
  }
  for (const inv of s.invariants.filter((i) => !i.ok && i.examples?.length)) out.push('', `${inv.name}: e.g. ${inv.examples!.join('; ')}`);
  if (s.failures.length) out.push('', `phases that failed: ${s.failures.map((f) => f.split('\n')[0]).join('; ')}`);
  return out.join('\n');
}

const md = (text: string) => text.replace(/\|/g, '\\|');

/** The same table in Markdown, with the fault timeline. */
export function renderMarkdown(s: ChaosSummary): string {
  const out = [`## ${header(s)}`, ''];
  out.push(
    `Namespace \`${s.namespace}\`, activity \`${s.activityId}\` (budget ${fmt(s.budgetLimit)}), ${s.partitions} partitions; ` +
      `replay with \`npm run chaos -- --${s.mode === 'cluster' ? 'cluster' : 'single'}${s.profile === 'smoke' ? ' --smoke' : ''} --seed ${s.seed}\`. Started ${s.startedAt}.`,
    '',
    '| check | result | evidence |',
    '| --- | ---: | --- |',
  );
  for (const x of rows(s)) out.push(`| ${md(x.what)} | ${md(x.result)}${x.ok === undefined ? '' : x.ok ? ' ✓' : ' ✗'} | ${md(x.evidence)} |`);
  out.push('', '<details><summary>fault timeline</summary>', '', '| at (s into the load) | fault | target | what happened |', '| ---: | --- | --- | --- |');
  for (const e of s.faults.events) out.push(`| ${(e.at / 1000).toFixed(1)} | ${FAULT_LABELS[e.kind]} | ${md(e.target)} | ${md(e.detail)} |`);
  out.push('', '</details>');
  const failing = s.invariants.filter((i) => !i.ok && i.examples?.length);
  if (failing.length) {
    out.push('');
    for (const inv of failing) out.push(`- **${md(inv.name)}**: ${md(inv.examples!.join('; '))}`);
  }
  if (s.failures.length) out.push('', `Phases that failed: ${md(s.failures.map((f) => f.split('\n')[0]).join('; '))}`);
  out.push('', `Settings: \`${md(JSON.stringify(s.settings))}\``);
  return out.join('\n');
}

/**
 * Writes the runs of one invocation to `dir`: `chaos-<stamp>.md` (the tables) and `chaos-<stamp>.json` (the
 * summaries). Returns the two paths.
 */
export function writeResults(summaries: ChaosSummary[], dir: string): { markdown: string; json: string } {
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').replace(/-\d{3}Z$/, 'Z');
  const markdown = join(dir, `chaos-${stamp}.md`);
  const json = join(dir, `chaos-${stamp}.json`);
  const ok = summaries.every((s) => s.ok);
  const doc = [
    `# Chaos run ${stamp}: ${ok ? 'every invariant held' : 'INVARIANTS BROKEN'}`,
    '',
    'Written by `npm run chaos` (docs/chaos.md says what each check means and how it is made).',
    '',
    ...summaries.map(renderMarkdown).flatMap((m) => [m, '']),
  ].join('\n');
  writeFileSync(markdown, doc);
  writeFileSync(json, JSON.stringify({ ok, runs: summaries }, null, 2) + '\n');
  return { markdown, json };
}
