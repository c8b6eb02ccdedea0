import type { ActorAudit, DeadLetter, DeadList, DrainResult, Inspection, ManualPage, MemberStatus, OpsTurn, ReplayResult, SystemStatus } from '../../common/ops';

/**
 * Human output of the ops CLI: aligned tables and short lines, pure (strings in, strings out), so it is unit
 * tested and the dashboard can borrow it. `--json` bypasses all of this.
 */

type Cell = string | number | null | undefined;

/** An aligned table: a header row and rows, numbers right-aligned, two spaces between columns. */
export function table(headers: readonly string[], rows: ReadonlyArray<readonly Cell[]>): string {
  const text = rows.map((r) => headers.map((_, i) => cell(r[i])));
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number' || r[i] === null || r[i] === undefined || r[i] === '-'));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => r[i].length)));
  const line = (r: readonly string[]) =>
    r
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]) : i === r.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(headers.map((h, i) => (numeric[i] ? h.padStart(widths[i]) : h))), ...text.map(line)].join('\n');
}

function cell(v: Cell): string {
  return v === null || v === undefined ? '-' : String(v);
}

/** A duration for people: 850ms, 12s, 5m, 3h, 2d (rounded down). */
export function age(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '-';
  const a = Math.max(0, ms);
  if (a < 1000) return `${Math.round(a)}ms`;
  if (a < 60_000) return `${Math.floor(a / 1000)}s`;
  if (a < 3_600_000) return `${Math.floor(a / 60_000)}m`;
  if (a < 86_400_000) return `${Math.floor(a / 3_600_000)}h`;
  return `${Math.floor(a / 86_400_000)}d`;
}

/** A time (ms since the epoch) as ISO 8601 UTC to the second. */
export function time(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '-';
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Cuts text to `max` characters with an ellipsis, on one line. */
export function clip(text: string, max: number): string {
  const one = text.replace(/\s+/g, ' ');
  return one.length <= max ? one : `${one.slice(0, Math.max(0, max - 1))}…`;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/** Parses a duration like 500ms, 30s, 15m, 12h, 7d or 2w (a bare number is ms); throws with the accepted forms. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)?$/.exec(text.trim());
  if (!m) throw new Error(`${JSON.stringify(text)} is not a duration: write e.g. 500ms, 30s, 15m, 12h, 7d or 2w`);
  return Math.round(Number(m[1]) * UNITS[m[2] ?? 'ms']);
}

/** A list of partition numbers, with runs shortened: 0-3 5 7-8. */
export function ranges(ps: readonly number[]): string {
  if (ps.length === 0) return '-';
  const sorted = [...ps].sort((a, b) => a - b);
  const out: string[] = [];
  let start = sorted[0];
  let prev = start;
  for (const p of [...sorted.slice(1), NaN]) {
    if (p === prev + 1) {
      prev = p;
      continue;
    }
    out.push(start === prev ? `${start}` : `${start}-${prev}`);
    start = prev = p;
  }
  return out.join(' ');
}

export function formatMembers(members: readonly MemberStatus[], unowned: readonly number[]): string {
  const rows = members.map((m) => [m.id, age(m.heartbeatAgeMs), m.draining ? `yes (by ${m.drain?.by ?? '?'}, ${time(m.drain?.at)})` : 'no', m.partitions.length, ranges(m.partitions)]);
  return [table(['WORKER', 'HEARTBEAT', 'DRAINING', 'OWNS', 'PARTITIONS'], rows), `unowned partitions: ${unowned.length ? ranges(unowned) : 'none'}`].join('\n');
}

/** `status`: workers, partitions (all of them, or only those with something to see when there are many), streams and totals. */
export function formatStatus(s: SystemStatus, options: { allPartitions?: boolean } = {}): string {
  const out: string[] = [];
  out.push(`namespace ${s.namespace}, ${s.partitions} partitions, ${s.totals.members} live workers${s.totals.draining ? ` (${s.totals.draining} draining)` : ''}, at ${time(s.at)}`);
  out.push('');
  out.push(formatMembers(s.members, s.perPartition.filter((p) => p.owner === null).map((p) => p.partition)));
  if (s.staleDrains.length) out.push(`drain flags of workers that are gone (ops undrain <id> clears them): ${s.staleDrains.map((d) => d.id).join(', ')}`);
  out.push('');
  const busy = (p: SystemStatus['perPartition'][number]) => p.owner === null || (p.lag ?? 1) > 0 || p.pending > 0 || p.overdue > 0 || p.dead > 0 || p.manual > 0 || p.outbox > 0;
  const shown = options.allPartitions || s.partitions <= 32 ? s.perPartition : s.perPartition.filter(busy);
  out.push(
    table(
      ['P', 'OWNER', 'INBOX', 'LAG', 'PENDING', 'DUE', 'OVERDUE', 'OUTBOX', 'DEAD', 'MANUAL'],
      shown.map((p) => [p.partition, p.owner ?? '(none)', p.inbox, p.lag, p.pending, p.due, p.overdue, p.outbox, p.dead, p.manual]),
    ),
  );
  if (shown.length < s.perPartition.length) out.push(`(${s.perPartition.length - shown.length} quiet partitions not shown; --all-partitions shows them)`);
  const t = s.totals;
  out.push(`total: inbox ${t.inbox}, lag ${t.lag}, pending ${t.pending}, due ${t.due} (${t.overdue} overdue), outbox ${t.outbox}, dead ${t.dead}, manual ${t.manual}; ${t.ownedPartitions} owned, ${t.unownedPartitions} unowned`);
  for (const st of s.streams) {
    const groups = st.groups.map((g) => `${g.name}: lag ${g.lag ?? '?'}, pending ${g.pending}`).join('; ');
    out.push(`${st.name}: ${st.length} entries${groups ? ` (${groups})` : ''}, ${st.dead} dead letter${st.dead === 1 ? '' : 's'}`);
  }
  return out.join('\n');
}

export function formatInspection(i: Inspection): string {
  const r = i.record!;
  const out: string[] = [];
  out.push(`${i.actor}  partition ${i.partition}  version ${r.version}  status ${r.status}  schedule_time ${r.scheduleTime ?? '-'}  retry_count ${r.retryCount}`);
  const facts = [`created ${time(r.createdAt)}`, `updated ${time(r.updatedAt)}`];
  if (i.dueAt !== null) facts.push(`due ${time(i.dueAt)}`);
  if (i.manualSince !== null) facts.push(`in manual intervention since ${time(i.manualSince)}`);
  if (i.leaseHeld) facts.push('actor lease held (a call is running)');
  out.push(facts.join('  '));
  const timers = Object.entries(r.timers).map(([k, t]) => `${k} at ${time(t.at)}`);
  const calls = Object.entries(r.calls).map(([k, c]) => `${k} (deadline ${time(c.at)})`);
  if (timers.length) out.push(`timers: ${timers.join(', ')}`);
  if (calls.length) out.push(`calls in flight: ${calls.join(', ')}`);
  out.push(`state: ${JSON.stringify(r.state)}`);
  if (i.why) {
    out.push('', `why ${r.status}:`);
    for (const c of i.why.codes) out.push(`  ${c.where.padEnd(18)} ${c.code}${c.detail ? `  ${c.detail}` : ''}`);
    for (const s of i.why.steps) {
      const what = s.kind === 'rejected' ? `refused ${s.code}: ${s.text}` : s.text;
      out.push(`  ${time(s.at)}  ${s.message.padEnd(20)} ${s.from} → ${s.to}  ${what}`);
    }
  }
  out.push('', `history (${i.history.length}):`);
  for (const h of i.history) {
    const why = h.rejected ? `rejected ${h.rejected.code}: ${h.rejected.reason}` : (h.why ?? '');
    out.push(`  ${time(h.at)}  ${h.message.padEnd(20)} ${h.from} → ${h.to}  ${why}`);
  }
  const a = i.audit;
  out.push('', `audit stream (${a.entries.length} records of this actor${a.complete ? '' : `; looked through the newest ${a.scanned} entries`}):`);
  if (a.entries.length) {
    out.push(
      table(
        ['ID', 'TIME', 'V', 'MESSAGE', 'FROM → TO', 'EFFECTS'],
        a.entries.map((e) => [e.id, time(e.at), e.version, e.rejected ? `${e.message} (refused ${e.rejected.code})` : e.message, `${e.from} → ${e.to}`, e.effects.join('; ')]),
      )
        .split('\n')
        .map((l) => `  ${l}`)
        .join('\n'),
    );
  }
  return out.join('\n');
}

/** `audit`: the actor's timeline as a table, oldest first, then "Why not rewarded" with its chain of reasons. */
export function formatAudit(a: ActorAudit): string {
  const out: string[] = [];
  out.push(`${a.actor}  partition ${a.partition}  version ${a.version}  status ${a.status}  ${a.rewarded ? 'rewarded' : 'not rewarded'}`);
  out.push('', `timeline (${a.timeline.length} record${a.timeline.length === 1 ? '' : 's'}, oldest first):`);
  const first = a.timeline[0];
  if (a.truncated) out.push(`  (older records are left out: ops inspect ${a.ref.type} ${a.ref.id} --audit <n> reads them from the audit stream)`);
  else if (first && first.version > 1) out.push(`  (the history starts at version ${first.version}: older records are no longer kept)`);
  if (a.timeline.length) {
    const rows = a.timeline.map((h) => [time(h.at), h.version, h.message, `${h.from} → ${h.to}`, h.rejected ? `refused ${h.rejected.code}: ${h.rejected.reason}` : (h.why ?? '')]);
    out.push(indent(table(['TIME', 'V', 'MESSAGE', 'FROM → TO', 'WHY'], rows)));
  }
  if (a.rewarded) {
    out.push('', 'Rewarded: nothing is missing.');
    return out.join('\n');
  }
  out.push('', 'Why not rewarded:');
  if (a.reasons.length === 0) {
    out.push(a.explained ? `  nothing is missing, but ${a.status} is not a rewarded status` : `  no explanation: ops knows no ${a.ref.type} definition with explain (see the timeline)`);
  }
  a.reasons.forEach((r, n) => out.push(`  ${n + 1}. ${r.code}  ${r.detail}${r.at !== undefined ? `  (${time(r.at)})` : ''}`));
  return out.join('\n');
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}

export function formatManualPage(page: ManualPage, now: number): string {
  if (page.items.length === 0) return page.total === 0 ? 'no actor is waiting in manual intervention' : 'no more actors in manual intervention';
  const rows = page.items.map((m) => [m.actor, m.partition, `${time(m.since)} (${age(now - m.since)} ago)`, m.stage ?? '-', m.reason, clip(m.detail ?? '', 80)]);
  const out = [table(['ACTOR', 'P', 'SINCE', 'STAGE', 'REASON', 'DETAIL'], rows), `${page.items.length} shown of ${page.total} in manual intervention`];
  if (page.nextCursor) out.push(`next page: --cursor ${page.nextCursor}`);
  return out.join('\n');
}

/** One line for a retry or terminate that the actor applied (a rejection is written to stderr by the caller). */
export function formatOpsTurn(verb: 'retried' | 'terminated', r: OpsTurn, operator: string): string {
  if (r.duplicate) return `${r.actor}: this ${verb === 'retried' ? 'retry' : 'termination'} was already applied; now ${r.turn.status} (version ${r.turn.version})`;
  return `${r.actor} ${verb} by ${operator}: now ${r.turn.status} (version ${r.turn.version})`;
}

function sourceName(s: DeadLetter['source']): string {
  return typeof s === 'number' ? `p${s}` : s;
}

/** The original message of a dead letter in one line: the envelope's pattern, key and data, else its fields. */
export function describeOriginal(d: DeadLetter): string {
  if (d.envelope) {
    const e = d.envelope;
    return `${e.pattern}${e.key ? ` ${e.key}` : ''} ${JSON.stringify(e.data)}`;
  }
  return d.original.map((f) => `${f.name}=${'text' in f ? f.text : `0x${f.hex}`}`).join(' ');
}

export function formatDeadList(list: DeadList, options: { full?: boolean } = {}): string {
  const total = list.totals.reduce((n, t) => n + t.count, 0);
  if (list.items.length === 0) return total === 0 ? 'no dead letters' : `no dead letters match (${total} in all)`;
  const out: string[] = [];
  if (options.full) {
    for (const d of list.items) {
      out.push(`${sourceName(d.source)} ${d.id}  ${time(d.at)}  ${d.code}${d.cause && d.cause !== d.code ? ` (cause ${d.cause})` : ''}  deliveries ${d.deliveries ?? '-'}  consumer ${d.consumer ?? '-'}`);
      out.push(`  reason: ${d.reason}`);
      out.push(`  from: ${d.stream} ${d.entry}${d.channel ? `  channel ${d.channel}` : ''}${d.notificationId ? `  notification ${d.notificationId}` : ''}`);
      if (d.envelope) out.push(`  envelope: ${JSON.stringify(d.envelope)}`);
      if (d.envelopeError) out.push(`  envelope does not decode: ${d.envelopeError}`);
      for (const f of d.original) out.push(`  f:${f.name} (${f.bytes} bytes): ${'text' in f ? f.text : `0x${f.hex}`}`);
    }
  } else {
    const rows = list.items.map((d) => [sourceName(d.source), d.id, time(d.at), d.code, d.deliveries, clip(d.reason, 60), clip(describeOriginal(d), 70)]);
    out.push(table(['SOURCE', 'ID', 'AT', 'CODE', 'TRIES', 'REASON', 'ORIGINAL'], rows));
  }
  const nonEmpty = list.totals.filter((t) => t.count > 0).map((t) => `${sourceName(t.source)} ${t.count}`);
  out.push(`${list.items.length} shown of ${total} dead letters${nonEmpty.length ? ` (${nonEmpty.join(', ')})` : ''}`);
  return out.join('\n');
}

export function formatReplay(results: readonly ReplayResult[]): string {
  const lines = results.map((r) =>
    r.outcome === 'replayed' ? `${r.id} replayed to ${r.stream} as ${r.newId}` : r.outcome === 'missing' ? `${r.id} not found (already replayed or purged)` : `${r.id} not replayed: ${r.reason}`,
  );
  const n = (o: ReplayResult['outcome']) => results.filter((r) => r.outcome === o).length;
  const summary = `replayed ${n('replayed')} of ${results.length}${n('missing') ? `, ${n('missing')} not found` : ''}${n('refused') ? `, ${n('refused')} refused` : ''}`;
  return results.length > 20 ? [...lines.filter((_, i) => results[i].outcome !== 'replayed'), summary].join('\n') : [...lines, summary].join('\n');
}

export function formatDrain(r: DrainResult): string {
  const head = r.already ? `${r.workerId} was already draining (flag set by ${r.flag.by} at ${time(r.flag.at)})` : `drain flag set on ${r.workerId}`;
  const live = r.live ? '' : ' (it is not live now: the flag waits for it)';
  return `${head}${live}; ${r.holding.length ? `it holds ${r.holding.length} partitions (${ranges(r.holding)})` : 'it holds no partitions'}; taking over: ${r.takers.join(', ') || 'nobody'}`;
}
