import { decodeEnvelope, Keys, MANUAL_INTERVENTION, RedisActorStore } from '../common';
import type { ActorRecord, AuditRecord, RedisClient } from '../common';
import { isTaskTerminal, REFERRAL_TERMINAL_STATUSES, referralActor, TASK_ACTOR } from '../actors';
import type { ReferralState } from '../actors';
import { ActivityComponent, ActivityKeys } from '../apps/worker/components/activity';
import type { Grant } from '../apps/worker/components/activity';
import { NotifierKeys } from '../apps/notifier';
import { loadRecords as loadByPartition, readAudit } from '../bench/lib/propel';
import type { Referral } from './load';
import type { ProgressSamples } from './poll';
import { actorIdsIn } from './redis';
import { loadTaskRecords, taskCallFailure, taskGrants, taskNotificationIds, taskOutcomes, taskProgress, tasksLost } from './task-checks';
import type { TaskRecords } from './task-checks';
import type { PlannedTask, TaskLoadCounts } from './tasks';

/** One invariant: whether it holds, the number it is about, and the numbers it compared. */
export interface Invariant {
  id: string;
  name: string;
  ok: boolean;
  value: string;
  evidence: string;
  /** Up to 10 offending items, for the report. */
  examples?: string[];
}

/** Counts of dead letters by source and code, with one reason each. */
export interface DeadLetterTally {
  total: number;
  bySource: Record<string, Record<string, { count: number; reason: string; messages: Record<string, number> }>>;
}

export interface CheckReport {
  invariants: Invariant[];
  /** Statuses of the accepted referrals at the end. */
  outcomes: Record<string, number>;
  /** Failed component calls and failed reply turns as the applications' audit records tell them, by error code. */
  callFailures: Record<string, number>;
  deadLetters: DeadLetterTally;
  budget: { limit: number; used: number };
  grants: number;
  auditRecords: number;
  /** Statuses of the tasks something was acknowledged for, by definition (`orders REWARDED`). */
  taskOutcomes: Record<string, number>;
  /** Failed task reward calls by error code, from the tasks' audit records, with the first record's `why` of each. */
  taskCallFailures: Record<string, number>;
  taskCallFailureExamples: Record<string, string>;
}

export interface CheckInput {
  redis: RedisClient;
  keys: Keys;
  partitions: number;
  activityId: string;
  referrals: readonly Referral[];
  /** Notification ids the webhook answered 200 to. */
  webhookDelivered: ReadonlySet<string>;
  /** Non-terminal actors overdue longer than this count as stuck (lease TTL + sweep tick + grace). */
  stuckAfterMs: number;
  /** Apps the supervisor gave up on (crash loops). */
  crashLoops: string[];
  /** What the driver's polls saw of the moving actors during the run. */
  progress?: ProgressSamples;
  /** Where the stages are announced (for a run that hangs in them). */
  trace?: (line: string) => void;
  /** The task-center load: the planned user tasks, what the polls saw of them, what was sent. */
  tasks?: readonly PlannedTask[];
  taskProgress?: ProgressSamples;
  taskLoad?: TaskLoadCounts;
  /** Step keys the merchant's webhook (the flows' webhook steps) answered 200 to. */
  merchantWebhookDelivered?: ReadonlySet<string>;
}

const TERMINAL: ReadonlySet<string> = REFERRAL_TERMINAL_STATUSES as ReadonlySet<string>;
type RefState = ReferralState & { sharer?: { outcome: string; grantId?: unknown }; invitee?: { outcome: string; grantId?: unknown }; relation?: { outcome: string } };

const fmt = (n: number) => n.toLocaleString('en-US');
const limit = <T>(list: T[], n = 10) => list.slice(0, n);

/** Reads every record of the planned referrals (and any other referral actor in the namespace). */
async function loadRecords(input: CheckInput): Promise<{ records: Map<string, ActorRecord<RefState> | null>; extra: string[] }> {
  const loaded = await loadByPartition<Referral, RefState>(new RedisActorStore(input.redis, input.keys), input.referrals, (r) => ({ partition: r.partition, type: referralActor.type, id: r.app }));
  const records = new Map(input.referrals.map((r, i) => [r.app, loaded[i]!]));
  // Referral actors nobody planned (a typo in the driver, a forged id) would escape the checks: list them.
  const extra = (await actorIdsIn(input.redis, input.keys.ns, referralActor.type)).filter((id) => !records.has(id));
  return { records, extra };
}

/** Every dead letter of the partitions, the ingest stream and the notifications stream, by code. */
async function deadLetters(input: CheckInput): Promise<DeadLetterTally> {
  const tally: DeadLetterTally = { total: 0, bySource: {} };
  const add = (source: string, fields: Record<string, Buffer>) => {
    const code = fields.code?.toString() ?? '?';
    const cause = fields.cause?.toString();
    const label = cause && cause !== code ? `${code} (${cause})` : code;
    const bucket = (tally.bySource[source] ??= {});
    const entry = (bucket[label] ??= { count: 0, reason: fields.reason?.toString() ?? '', messages: {} });
    entry.count++;
    tally.total++;
    const envelope = fields['f:e'];
    if (envelope) {
      try {
        const env = decodeEnvelope<{ message?: { type?: string }; kind?: string }>(envelope);
        const what = env.data?.message?.type ?? (env.data as { kind?: string })?.kind ?? env.pattern;
        entry.messages[what] = (entry.messages[what] ?? 0) + 1;
      } catch {
        entry.messages['(undecodable)'] = (entry.messages['(undecodable)'] ?? 0) + 1;
      }
    } else if (fields['f:type']) {
      const what = fields['f:type'].toString();
      entry.messages[what] = (entry.messages[what] ?? 0) + 1;
    }
  };
  const read = async (source: string, stream: string) => {
    const entries = (await input.redis.xrangeBuffer(stream, '-', '+')) as Array<[Buffer, Buffer[]]>;
    for (const [, raw] of entries) {
      const fields: Record<string, Buffer> = {};
      for (let i = 0; i + 1 < raw.length; i += 2) fields[raw[i]!.toString()] = raw[i + 1]!;
      add(source, fields);
    }
  };
  for (let p = 0; p < input.partitions; p++) await read('partitions', input.keys.dead(p));
  await read('ingest', input.keys.ingestDead());
  await read('notifications', new NotifierKeys(input.keys.ns).dead());
  return tally;
}

/** Notification ids in the notifications dead-letter stream. */
async function deadNotificationIds(input: CheckInput): Promise<Set<string>> {
  const entries = (await input.redis.xrange(new NotifierKeys(input.keys.ns).dead(), '-', '+')) as Array<[string, string[]]>;
  const ids = new Set<string>();
  for (const [, raw] of entries) {
    for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i] === 'notificationId') ids.add(raw[i + 1]!);
  }
  return ids;
}

/**
 * Checks every invariant of a chaos run against Redis, after the run has settled (every accepted application
 * terminal or in manual intervention, notifications delivered or dead-lettered).
 */
export async function checkInvariants(input: CheckInput): Promise<CheckReport> {
  const { redis, keys } = input;
  const now = Date.now();
  const invariants: Invariant[] = [];
  input.trace?.('checks: records');
  const { records, extra } = await loadRecords(input);
  const accepted = input.referrals.filter((r) => r.accepted);

  // ---- outcomes
  const outcomes: Record<string, number> = {};
  for (const r of accepted) {
    const s = records.get(r.app)?.status ?? 'MISSING';
    outcomes[s] = (outcomes[s] ?? 0) + 1;
  }

  // ---- 1. nothing lost: every accepted referral has a record, terminal or in manual intervention; no acknowledged completion went missing.
  {
    const missing = accepted.filter((r) => !records.get(r.app));
    const unfinished = accepted.filter((r) => {
      const s = records.get(r.app)?.status;
      return s !== undefined && !TERMINAL.has(s) && s !== MANUAL_INTERVENTION;
    });
    const lostCompletion = accepted.filter((r) => r.taskAcked && ['INIT', 'RELATION_ESTABLISHED', 'EXPIRED'].includes(records.get(r.app)?.status ?? ''));
    const terminal = accepted.filter((r) => TERMINAL.has(records.get(r.app)?.status ?? '')).length;
    const manual = accepted.filter((r) => records.get(r.app)?.status === MANUAL_INTERVENTION).length;
    const lost = new Set([...missing, ...unfinished, ...lostCompletion].map((r) => r.app));
    const unplanned = input.referrals.filter((r) => !r.accepted && records.get(r.app)).length;
    invariants.push({
      id: 'lost',
      name: 'lost referrals',
      ok: lost.size === 0 && extra.length === 0,
      value: fmt(lost.size),
      evidence:
        `${fmt(accepted.length)} accepted: ${fmt(terminal)} terminal + ${fmt(manual)} manual intervention = ${fmt(terminal + manual)}; ` +
        `${fmt(missing.length)} without a record, ${fmt(unfinished.length)} not finished, ${fmt(lostCompletion.length)} acknowledged completions not applied` +
        (unplanned ? `; ${fmt(unplanned)} accepts never acknowledged to the driver but applied anyway` : '') +
        (extra.length ? `; ${fmt(extra.length)} referral actors nobody planned` : ''),
      examples: limit([...missing.map((r) => `${r.app}: no record`), ...unfinished.map((r) => `${r.app}: ${records.get(r.app)?.status}`), ...lostCompletion.map((r) => `${r.app}: completion acknowledged, status ${records.get(r.app)?.status}`), ...extra.map((id) => `${id}: not planned`)]),
    });
  }

  // ---- 2. duplicate grants: one ledger entry per (application, side) at most; grant ids unique; the ledger and the applications agree.
  input.trace?.('checks: ledgers');
  const ledger = new Map<string, Grant[]>();
  const akeys = new ActivityKeys(keys.ns);
  {
    const users = input.referrals.flatMap((r) => [r.sharer, r.invitee]);
    for (let i = 0; i < users.length; i += 2000) {
      const slice = users.slice(i, i + 2000);
      const pipe = redis.pipeline();
      for (const u of slice) pipe.lrange(akeys.ledger(input.activityId, u), 0, -1);
      const replies = (await pipe.exec()) ?? [];
      replies.forEach(([err, list], j) => {
        if (err) throw err;
        ledger.set(slice[j]!, (list as string[]).map((g) => JSON.parse(g) as Grant));
      });
    }
  }
  const grantsByKey = new Map<string, Grant[]>();
  const grantIds = new Map<string, number>();
  let grants = 0;
  for (const list of ledger.values()) {
    for (const g of list) {
      grants++;
      grantsByKey.set(g.key, [...(grantsByKey.get(g.key) ?? []), g]);
      grantIds.set(g.grantId, (grantIds.get(g.grantId) ?? 0) + 1);
    }
  }
  {
    const dupKeys = [...grantsByKey].filter(([, list]) => list.length > 1);
    const dupIds = [...grantIds].filter(([, n]) => n > 1);
    // Both directions: a GRANTED side has exactly its ledger entry; a terminal application hides no grant.
    const notInLedger: string[] = [];
    const hidden: string[] = [];
    const awaiting: string[] = [];
    let grantedSides = 0;
    for (const r of input.referrals) {
      const rec = records.get(r.app);
      for (const side of ['sharer', 'invitee'] as const) {
        const key = `${r.app}:${side}`;
        const inLedger = grantsByKey.get(key) ?? [];
        const step = rec?.state[side];
        if (step?.outcome === 'GRANTED') {
          grantedSides++;
          if (inLedger.length !== 1 || inLedger[0]!.grantId !== step.grantId) notInLedger.push(`${key}: GRANTED ${String(step.grantId)}, ledger ${inLedger.map((g) => g.grantId).join(',') || 'empty'}`);
        } else if (inLedger.length > 0) {
          if (rec && TERMINAL.has(rec.status)) hidden.push(`${key}: ${rec.status} says ${step?.outcome ?? 'no step'}, ledger has ${inLedger[0]!.grantId}`);
          else awaiting.push(`${key}: ${rec?.status ?? 'no record'}, ledger has ${inLedger[0]!.grantId}`);
        }
      }
    }
    invariants.push({
      id: 'duplicate-grants',
      name: 'duplicate grants',
      ok: dupKeys.length === 0 && dupIds.length === 0 && notInLedger.length === 0 && hidden.length === 0,
      value: fmt(dupKeys.length + dupIds.length),
      evidence:
        `${fmt(grants)} ledger entries over ${fmt(grantsByKey.size)} (application, side) keys: ${fmt(dupKeys.length)} keys with more than one, ${fmt(dupIds.length)} grant ids used twice; ` +
        `${fmt(grantedSides)} sides GRANTED in the applications, ${fmt(notInLedger.length)} of them without their one ledger entry; ${fmt(hidden.length)} grants a terminal application does not know` +
        (awaiting.length ? `; ${fmt(awaiting.length)} grants whose application is still in manual intervention (a retry from ops finds them)` : ''),
      examples: limit([...dupKeys.map(([k, l]) => `${k}: ${l.length} entries (${l.map((g) => g.grantId).join(', ')})`), ...dupIds.map(([id, n]) => `grant ${id} ×${n}`), ...notInLedger, ...hidden]),
    });
  }

  // ---- tasks: none lost, progress = distinct events, each stage's reward steps run once.
  const tasks = input.tasks ?? [];
  let taskRecords: TaskRecords = new Map();
  if (tasks.length) {
    input.trace?.('checks: tasks (records, ledgers, balances, notifications stream)');
    const loaded = await loadTaskRecords(redis, keys, tasks);
    taskRecords = loaded.records;
    invariants.push(tasksLost(tasks, taskRecords, loaded.extra));
    invariants.push(taskProgress(tasks, taskRecords, input.taskLoad));
    invariants.push(await taskGrants(redis, keys, tasks, taskRecords, input.merchantWebhookDelivered ?? new Set()));
  }

  // ---- 3. budget: used ≤ limit, used = grants.
  input.trace?.('checks: budget');
  const budget = await new ActivityComponent(redis, akeys).budget(input.activityId);
  {
    const ok = budget.used <= budget.limit && budget.used === grants;
    const exhausted = accepted.filter((r) => (['sharer', 'invitee'] as const).some((s) => (records.get(r.app)?.state[s] as { reason?: string } | undefined)?.reason === 'BUDGET_TOTAL')).length;
    invariants.push({
      id: 'budget',
      name: 'budget overspend',
      ok,
      value: fmt(Math.max(0, budget.used - budget.limit)),
      evidence: `used ${fmt(budget.used)} of ${fmt(budget.limit)} (${budget.used <= budget.limit ? 'within' : 'OVER'} the limit); ledger entries ${fmt(grants)} (${budget.used === grants ? '=' : '≠'} used); ${fmt(exhausted)} applications had a side refused with BUDGET_TOTAL`,
    });
  }

  input.trace?.('checks: due and manual indexes');
  // ---- 4. stuck actors (referrals and tasks): moving ones in the due index and not overdue past the threshold; manual ones listed in the manual index.
  {
    const stuck: string[] = [];
    const unlisted: string[] = [];
    let open = 0;
    let idle = 0;
    let manual = 0;
    const openByType: Record<string, number> = {};
    // A referral that is not terminal always has a timer (its deadline), so it must be in the due index; a task
    // must be there when it has a timer or a call pending (one with neither waits for events: "lost" judges it).
    const byPartition = new Map<number, Array<{ label: string; member: string; rec: ActorRecord; needsDue: boolean }>>();
    const add = (p: number, label: string, member: string, rec: ActorRecord, needsDue: boolean) => {
      let list = byPartition.get(p);
      if (!list) byPartition.set(p, (list = []));
      list.push({ label, member, rec, needsDue });
    };
    for (const r of input.referrals) {
      const rec = records.get(r.app);
      if (!rec || TERMINAL.has(rec.status)) continue;
      add(r.partition, r.app, `${referralActor.type}/${r.app}`, rec, true);
    }
    for (const t of tasks) {
      const rec = taskRecords.get(t.taskId);
      if (!rec || isTaskTerminal(rec.state)) continue;
      add(t.partition, `task ${t.taskId}`, `${TASK_ACTOR}/${t.taskId}`, rec, rec.scheduleTime !== null);
    }
    for (const [p, list] of byPartition) {
      const pipe = redis.pipeline();
      for (const { member } of list) {
        pipe.zscore(keys.due(p), member);
        pipe.zscore(keys.manual(p), member);
      }
      const replies = (await pipe.exec()) ?? [];
      list.forEach(({ label, member, rec, needsDue }, i) => {
        const due = replies[2 * i]?.[1] as string | null;
        const inManual = replies[2 * i + 1]?.[1] as string | null;
        if (rec.status === MANUAL_INTERVENTION) {
          manual++;
          if (inManual === null) unlisted.push(`${label}: MANUAL_INTERVENTION but not in the manual index`);
          return;
        }
        const type = member.slice(0, member.indexOf('/'));
        openByType[type] = (openByType[type] ?? 0) + 1;
        if (!needsDue) {
          idle++;
          return;
        }
        open++;
        if (due === null) stuck.push(`${label}: ${rec.status}, not in the due index`);
        else if (Number(due) < now - input.stuckAfterMs) stuck.push(`${label}: ${rec.status}, overdue by ${fmt(now - Number(due))} ms`);
      });
    }
    const during = [...(input.progress?.outsideDueIndex ?? []), ...(input.taskProgress?.outsideDueIndex ?? [])];
    const sampled = (what: string, pr: ProgressSamples) =>
      `${what}: ${fmt(pr.samples)} samples over ${fmt(pr.polls)} polls, ${fmt(pr.outsideDueIndex.length)} outside the due index, ` +
      `longest overdue ${fmt(pr.maxOverdueMs)} ms${pr.maxOverdueActor ? ` (${pr.maxOverdueActor})` : ''}, ${fmt(pr.overdueSamples)} samples past ${fmt(pr.overdueLimitMs)} ms`;
    const samples = [input.progress ? sampled('referrals', input.progress) : '', input.taskProgress ? sampled('tasks', input.taskProgress) : ''].filter(Boolean);
    invariants.push({
      id: 'stuck',
      name: 'stuck actors',
      ok: stuck.length === 0 && unlisted.length === 0 && during.length === 0,
      value: fmt(stuck.length + unlisted.length + during.length),
      evidence:
        `at the end: ${fmt(open + idle)} non-terminal actors outside manual intervention (${Object.entries(openByType).map(([t, n]) => `${t} ${fmt(n)}`).join(', ') || 'none'}), ` +
        `${fmt(stuck.length)} of the ${fmt(open)} with a timer or call pending missing from the due index or overdue by more than ${fmt(input.stuckAfterMs)} ms${idle ? `, ${fmt(idle)} tasks with nothing pending` : ''}; ` +
        `${fmt(manual)} in manual intervention, ${fmt(unlisted.length)} missing from the manual index` +
        (samples.length ? `; during the run (record and due score in one MULTI per poll; moments past the limit are when the schedule ran late, e.g. while Redis or an owner was down): ${samples.join('; ')}` : ''),
      examples: limit([...stuck, ...unlisted, ...during]),
    });
  }

  // ---- 5. audit (referrals and tasks): per actor, audit records in version order, none for a version committed twice, none past the record's version, the final state audited.
  input.trace?.('checks: audit streams');
  const callFailures: Record<string, number> = {};
  const taskCallFailures: Record<string, number> = {};
  const taskCallFailureExamples: Record<string, string> = {};
  let auditRecords = 0;
  {
    // Every planned actor of either type, with its record and whether it is terminal.
    const actors = new Map<string, { label: string; type: string; rec: ActorRecord; terminal: boolean }>();
    for (const r of input.referrals) {
      const rec = records.get(r.app);
      if (rec) actors.set(`${referralActor.type}/${r.app}`, { label: r.app, type: 'applications', rec, terminal: TERMINAL.has(rec.status) });
    }
    for (const t of tasks) {
      const rec = taskRecords.get(t.taskId);
      if (rec) actors.set(`${TASK_ACTOR}/${t.taskId}`, { label: `task ${t.taskId}`, type: 'tasks', rec, terminal: isTaskTerminal(rec.state) });
    }
    const planned = new Set([...input.referrals.map((r) => `${referralActor.type}/${r.app}`), ...tasks.map((t) => `${TASK_ACTOR}/${t.taskId}`)]);
    const perActor = new Map<string, AuditRecord[]>();
    const recordsByType: Record<string, number> = {};
    await readAudit(redis as never, keys, input.partitions, (a) => {
      if (!planned.has(a.actor)) return;
      auditRecords++;
      let list = perActor.get(a.actor);
      if (!list) perActor.set(a.actor, (list = []));
      list.push(a);
      const type = a.actor.startsWith(`${TASK_ACTOR}/`) ? 'tasks' : 'applications';
      recordsByType[type] = (recordsByType[type] ?? 0) + 1;
      if (type === 'tasks') {
        const code = taskCallFailure(a.why);
        if (code) {
          taskCallFailures[code] = (taskCallFailures[code] ?? 0) + 1;
          taskCallFailureExamples[code] ??= `${a.actor} v${a.version}: ${a.why}`;
        }
        return;
      }
      const m = /failed(?: again)? \(([A-Z_]+)\)/.exec(a.why ?? '');
      if (m) callFailures[m[1]!] = (callFailures[m[1]!] ?? 0) + 1;
    });
    const zero = () => ({ actors: 0, versions: 0, audited: 0, silent: 0 });
    const byType: Record<string, ReturnType<typeof zero>> = { applications: zero(), ...(tasks.length ? { tasks: zero() } : {}) };
    const twice: string[] = [];
    const disorder: string[] = [];
    const beyond: string[] = [];
    const finalMissing: string[] = [];
    for (const [actor, { label, type, rec, terminal }] of actors) {
      const list = perActor.get(actor) ?? [];
      const c = (byType[type] ??= zero());
      c.actors++;
      c.versions += rec.version;
      const seen = new Map<number, AuditRecord[]>();
      let last = 0;
      for (const a of list) {
        if (a.version < last) disorder.push(`${label}: v${a.version} after v${last}`);
        last = Math.max(last, a.version);
        if (a.version > rec.version) beyond.push(`${label}: audit v${a.version}, record v${rec.version}`);
        seen.set(a.version, [...(seen.get(a.version) ?? []), a]);
      }
      for (const [v, same] of seen) {
        // Several records of one version come from ONE turn only when a timer tick delivered several due timers.
        if (same.length > 1 && !same.every((a) => /^(timer|call-timeout):/.test(a.messageId))) twice.push(`${label}: v${v} audited ${same.length}× (${same.map((a) => a.message).join(', ')})`);
      }
      c.audited += seen.size;
      c.silent += Math.max(0, rec.version - seen.size);
      if (terminal && !list.some((a) => a.to === rec.status && a.from !== rec.status)) finalMissing.push(`${label}: ${rec.status} never audited as a transition`);
    }
    const versions = Object.values(byType).reduce((n, c) => n + c.versions, 0);
    const audited = Object.values(byType).reduce((n, c) => n + c.audited, 0);
    const silent = Object.values(byType).reduce((n, c) => n + c.silent, 0);
    invariants.push({
      id: 'audit',
      name: 'audit records per committed version',
      ok: twice.length === 0 && disorder.length === 0 && beyond.length === 0 && finalMissing.length === 0,
      value: `${fmt(audited)}/${fmt(versions)}`,
      evidence:
        `${fmt(auditRecords)} audit records for ${fmt(versions)} committed versions of ` +
        Object.entries(byType)
          .map(([type, c]) => `${fmt(c.actors)} ${type} (${fmt(recordsByType[type] ?? 0)} records, ${fmt(c.audited)}/${fmt(c.versions)} versions audited)`)
          .join(' and ') +
        `: ${fmt(silent)} versions without a record (no-op turns: an early timer tick, a consumed call deadline), ${fmt(twice.length)} versions written by two turns, ` +
        `${fmt(disorder.length)} out of order, ${fmt(beyond.length)} past the record's version, ${fmt(finalMissing.length)} terminal states never audited`,
      examples: limit([...twice, ...disorder, ...beyond, ...finalMissing]),
    });
  }

  input.trace?.('checks: notifications');
  // ---- 6. notifications: every notification the applications emitted was delivered to the webhook or dead-lettered.
  {
    const dead = await deadNotificationIds(input);
    const expected: string[] = [];
    for (const r of input.referrals) {
      const rec = records.get(r.app);
      if (!rec) continue;
      if (rec.state.relation?.outcome === 'ESTABLISHED') expected.push(`${r.app}:task-assigned`);
      for (const side of ['sharer', 'invitee'] as const) if (rec.state[side]?.outcome === 'GRANTED') expected.push(`${r.app}:rewarded:${side}`);
    }
    const fromReferrals = expected.length;
    expected.push(...taskNotificationIds(tasks, taskRecords));
    const missing = expected.filter((id) => !input.webhookDelivered.has(id) && !dead.has(id));
    const deliveredExpected = expected.filter((id) => input.webhookDelivered.has(id)).length;
    // Where a missing one may sit: an outbox entry its partition's owner never relayed.
    const stranded: string[] = [];
    for (let p = 0; p < input.partitions; p++) {
      const entries = (await redis.xrangeBuffer(keys.outbox(p), '-', '+')) as Array<[Buffer, Buffer[]]>;
      for (const [id, raw] of entries) {
        let what = '?';
        try {
          what = String((decodeEnvelope<{ notificationId?: string }>(raw[3]!).data as { notificationId?: string })?.notificationId ?? raw[1]?.toString());
        } catch {
          // keep '?'
        }
        stranded.push(`outbox of partition ${p}: entry ${id.toString()} (${what}) never relayed`);
      }
    }
    invariants.push({
      id: 'notifications',
      name: 'notifications lost',
      ok: missing.length === 0 && stranded.length === 0,
      value: fmt(missing.length),
      evidence:
        `${fmt(expected.length)} notifications emitted (${fmt(fromReferrals)} by the applications: relations established, sides granted${tasks.length ? `; ${fmt(expected.length - fromReferrals)} by the tasks: each granted stage's notify step, each REWARDED task's TASK_REWARDED` : ''}): ${fmt(deliveredExpected)} delivered to the webhook, ${fmt(expected.filter((id) => !input.webhookDelivered.has(id) && dead.has(id)).length)} dead-lettered, ${fmt(missing.length)} neither; ` +
        `${fmt(stranded.length)} outbox entries left unrelayed`,
      examples: limit([...missing, ...stranded]),
    });
  }

  // ---- 7. no app in a crash loop.
  invariants.push({
    id: 'crash-loops',
    name: 'apps in a crash loop',
    ok: input.crashLoops.length === 0,
    value: fmt(input.crashLoops.length),
    evidence: input.crashLoops.length ? `given up on: ${input.crashLoops.join(', ')}` : 'every app that exited was running again at the end',
  });

  input.trace?.('checks: dead letters');
  const dl = await deadLetters(input);
  return { invariants, outcomes, callFailures, deadLetters: dl, budget, grants, auditRecords, taskOutcomes: taskOutcomes(tasks, taskRecords), taskCallFailures, taskCallFailureExamples };
}
