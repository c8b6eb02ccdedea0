import { decodeEnvelope, ENVELOPE_FIELD, MANUAL_INTERVENTION, RedisActorStore } from '../common';
import type { ActorRecord, Keys, RedisClient } from '../common';
import { isTaskTerminal, TASK_ACTOR } from '../actors';
import type { ActiveTaskState, TaskState } from '../actors';
import { TaskKeys } from '../apps/worker/components/task';
import type { BalanceRef, TaskLedgerEntry } from '../apps/worker/components/task';
import type { Invariant } from './checks';
import { loadRecords } from '../bench/lib/propel';
import { actorIdsIn } from './redis';
import { CLAIM_TASK, pointsOf, STEP } from './tasks';
import type { PlannedTask, TaskLoadCounts } from './tasks';

const fmt = (n: number) => n.toLocaleString('en-US');
const limit = <T>(list: T[], n = 10) => list.slice(0, n);

export type TaskRecords = Map<string, ActorRecord<TaskState> | null>;

/** A claimed task's state (not NEW), or undefined. */
export function activeState(rec: ActorRecord<TaskState> | null | undefined): ActiveTaskState | undefined {
  return rec && rec.state.status !== 'NEW' ? (rec.state as ActiveTaskState) : undefined;
}

/** Whether something was acknowledged for a task (a receipt, or its claim): then it must end terminal or in manual intervention. */
export const isTouched = (t: PlannedTask) => t.acked.size > 0 || t.claimAcked === true;

/** Step key of step `step` of stage `stage` of a task (`<taskId>#s<stage>#<step>`): what the step is idempotent on. */
export const stepKey = (taskId: string, stage: number, step: number) => `${taskId}#s${stage}#${step}`;

/** Reads every planned task's record, and lists the task actors in the namespace nobody planned (a SCAN over every master). */
export async function loadTaskRecords(redis: RedisClient, keys: Keys, tasks: readonly PlannedTask[]): Promise<{ records: TaskRecords; extra: string[] }> {
  const loaded = await loadRecords<PlannedTask, TaskState>(new RedisActorStore(redis, keys), tasks, (t) => ({ partition: t.partition, type: TASK_ACTOR, id: t.taskId }));
  const records: TaskRecords = new Map(tasks.map((t, i) => [t.taskId, loaded[i]!]));
  const extra = (await actorIdsIn(redis, keys.ns, TASK_ACTOR)).filter((id) => !records.has(id));
  return { records, extra };
}

/** Statuses of the touched tasks at the end, by definition (`orders REWARDED`). */
export function taskOutcomes(tasks: readonly PlannedTask[], records: TaskRecords): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of tasks.filter(isTouched)) {
    const label = `${t.defId} ${records.get(t.taskId)?.status ?? 'MISSING'}`;
    out[label] = (out[label] ?? 0) + 1;
  }
  return out;
}

/** Lost tasks: every task something was acknowledged for has a record, REWARDED or in manual intervention; no task actor nobody planned. */
export function tasksLost(tasks: readonly PlannedTask[], records: TaskRecords, extra: string[]): Invariant {
  const touched = tasks.filter(isTouched);
  const missing = touched.filter((t) => !activeState(records.get(t.taskId)));
  const rewarded = touched.filter((t) => records.get(t.taskId)?.status === 'REWARDED');
  const manual = touched.filter((t) => records.get(t.taskId)?.status === MANUAL_INTERVENTION);
  // Nothing in a chaos run ends a task any other way (no deadline, no period, nobody terminates): EXPIRED or TERMINATED is lost too.
  const other = touched.filter((t) => activeState(records.get(t.taskId)) && !['REWARDED', MANUAL_INTERVENTION].includes(records.get(t.taskId)!.status));
  const untouched = tasks.filter((t) => !isTouched(t) && records.get(t.taskId)).length;
  const claims = tasks.filter((t) => t.defId === CLAIM_TASK);
  const lost = missing.length + other.length;
  return {
    id: 'tasks-lost',
    name: 'lost tasks',
    ok: lost === 0 && extra.length === 0,
    value: fmt(lost),
    evidence:
      `${fmt(touched.length)} tasks with an acknowledged receipt or claim (${fmt(touched.length - claims.filter(isTouched).length)} staged auto-enrolled, ${fmt(claims.filter(isTouched).length)} claimed over HTTP): ` +
      `${fmt(rewarded.length)} REWARDED + ${fmt(manual.length)} manual intervention = ${fmt(rewarded.length + manual.length)}; ${fmt(missing.length)} without a claimed record, ${fmt(other.length)} in another state` +
      (untouched ? `; ${fmt(untouched)} tasks whose sends were never acknowledged but exist anyway` : '') +
      (extra.length ? `; ${fmt(extra.length)} task actors nobody planned` : ''),
    examples: limit([
      ...missing.map((t) => `${t.taskId}: ${records.get(t.taskId) ? `status ${records.get(t.taskId)!.status} (never claimed)` : 'no record'}`),
      ...other.map((t) => `${t.taskId}: ${records.get(t.taskId)!.status}`),
      ...extra.map((id) => `task ${id}: not planned`),
    ]),
  };
}

/**
 * Progress: each task counted exactly the distinct event ids its user's receipts carried (duplicates, receipts
 * written twice and any order count once): every acknowledged event id counted, nothing counted that was not
 * sent, no id counted twice, progress = the number of ids counted; and each stage is locked exactly when its
 * threshold is above the progress.
 */
export function taskProgress(tasks: readonly PlannedTask[], records: TaskRecords, load?: TaskLoadCounts): Invariant {
  const notCounted: string[] = [];
  const foreign: string[] = [];
  const twice: string[] = [];
  const wrongSum: string[] = [];
  const stages: string[] = [];
  let checked = 0;
  let counted = 0;
  let ackedIds = 0;
  const bad = new Set<string>();
  for (const t of tasks) {
    const s = activeState(records.get(t.taskId));
    if (!s) continue;
    checked++;
    const ids = new Set(s.counted);
    counted += ids.size;
    ackedIds += t.acked.size;
    const miss = [...t.acked].filter((id) => !ids.has(id));
    if (miss.length) notCounted.push(`${t.taskId}: acknowledged ${miss.join(', ')} not counted (progress ${s.progress})`);
    const extra = [...ids].filter((id) => !t.sent.has(id));
    if (extra.length) foreign.push(`${t.taskId}: counted ${extra.join(', ')}, never sent`);
    if (ids.size !== s.counted.length) twice.push(`${t.taskId}: ${s.counted.length} counted entries for ${ids.size} ids (${s.counted.join(', ')})`);
    if (s.progress !== ids.size) wrongSum.push(`${t.taskId}: progress ${s.progress}, ${ids.size} distinct events counted`);
    const before = stages.length;
    s.stages.forEach((st, i) => {
      if ((st.status === 'LOCKED') !== st.threshold > s.progress) stages.push(`${t.taskId}: stage ${i} (threshold ${st.threshold}) ${st.status} at progress ${s.progress}`);
    });
    if (miss.length || extra.length || ids.size !== s.counted.length || s.progress !== ids.size || stages.length > before) bad.add(t.taskId);
  }
  return {
    id: 'task-progress',
    name: 'task progress ≠ distinct events',
    ok: notCounted.length + foreign.length + twice.length + wrongSum.length + stages.length === 0,
    value: fmt(bad.size),
    evidence:
      `${fmt(checked)} claimed tasks: ${fmt(ackedIds)} distinct event ids acknowledged, ${fmt(counted)} counted` +
      (load ? ` (over ${fmt(load.deliveries)} deliveries: ${fmt(load.duplicates.sameEventAgain)} the same event again, ${fmt(load.duplicates.writtenTwice)} receipts written twice, each user's order shuffled)` : '') +
      `; ${fmt(notCounted.length)} tasks missing an acknowledged event, ${fmt(foreign.length)} counting an event never sent, ${fmt(twice.length)} counting one twice, ` +
      `${fmt(wrongSum.length)} with progress ≠ distinct events counted, ${fmt(stages.length)} stages out of line with the progress`,
    examples: limit([...notCounted, ...foreign, ...twice, ...wrongSum, ...stages]),
  };
}

/** Notification ids of the notify steps on the notifications stream, with how many entries each has (a step appends once). */
async function notifyEntries(redis: RedisClient, stream: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  let start = '-';
  for (;;) {
    const batch = (await redis.xrangeBuffer(stream, start, '+', 'COUNT', 5000)) as Array<[Buffer, Buffer[]]>;
    for (const [, raw] of batch) {
      for (let i = 0; i + 1 < raw.length; i += 2) {
        if (raw[i]!.toString() !== ENVELOPE_FIELD) continue;
        try {
          const data = decodeEnvelope<{ notificationId?: string; rewardKey?: string }>(raw[i + 1]).data;
          // A notify step's entry carries its reward key; the actor's own TASK_REWARDED (through the outbox) does not.
          if (data?.rewardKey && data.notificationId) counts.set(data.notificationId, (counts.get(data.notificationId) ?? 0) + 1);
        } catch {
          // not an envelope this check knows
        }
      }
    }
    if (batch.length < 5000) return counts;
    start = `(${batch[batch.length - 1]![0].toString()}`;
  }
}

/**
 * Duplicate stage grants: each reward step of a (task, stage) ran at most once. The points ledger has at most
 * one entry per step key `<taskId>#s<stage>#0`; every GRANTED stage has exactly its one entry with the flow's
 * amount, and no terminal task has a ledger grant for a stage it does not count as granted; every user's
 * balance is the sum of their ledger and of their granted stages' points; the notify step appended one entry to
 * the notifications stream per step key; and every granted stage's webhook step was answered 2xx by the
 * merchant's webhook (a grant recorded without it would be a lie).
 */
export async function taskGrants(redis: RedisClient, keys: Keys, tasks: readonly PlannedTask[], records: TaskRecords, merchantDelivered: ReadonlySet<string>): Promise<Invariant> {
  const tk = new TaskKeys(keys.ns);
  const users = [...new Set(tasks.map((t) => t.userId))];
  const ledgers = new Map<string, TaskLedgerEntry[]>();
  const balances = new Map<string, number>();
  for (let i = 0; i < users.length; i += 1000) {
    const slice = users.slice(i, i + 1000);
    // Per user (its own slot on a cluster): the ledger and the balance.
    const replies = await Promise.all(slice.map((u) => Promise.all([redis.lrange(tk.ledger(u), 0, -1), redis.hget(tk.balances(u), 'points')])));
    replies.forEach(([list, points], j) => {
      ledgers.set(slice[j]!, list.map((e) => JSON.parse(e) as TaskLedgerEntry));
      balances.set(slice[j]!, Number(points ?? 0));
    });
  }
  const byKey = new Map<string, TaskLedgerEntry[]>();
  let entries = 0;
  for (const list of ledgers.values()) {
    for (const e of list) {
      entries++;
      byKey.set(e.key, [...(byKey.get(e.key) ?? []), e]);
    }
  }
  const notes = await notifyEntries(redis, tk.notifications());
  const dupKeys = [...byKey].filter(([, l]) => l.length > 1);
  const dupNotes = [...notes].filter(([, n]) => n > 1);
  const notInLedger: string[] = [];
  const hidden: string[] = [];
  const awaiting: string[] = [];
  const noNote: string[] = [];
  const noHook: string[] = [];
  const granted = new Map<string, number>(); // user → points of granted stages
  const planned = new Set<string>();
  let grantedStages = 0;
  for (const t of tasks) {
    const rec = records.get(t.taskId);
    const s = activeState(rec);
    s?.stages.forEach((st, i) => {
      const key = stepKey(t.taskId, i, STEP.points);
      planned.add(key);
      const inLedger = byKey.get(key) ?? [];
      const amount = pointsOf(t.defId, i);
      if (st.status === 'GRANTED') {
        grantedStages++;
        granted.set(t.userId, (granted.get(t.userId) ?? 0) + amount);
        const ref = st.outcome?.steps[STEP.points]?.ref as BalanceRef | undefined;
        if (inLedger.length !== 1 || inLedger[0]!.amount !== amount || ref?.amount !== amount) {
          notInLedger.push(`${key}: GRANTED (${ref?.amount ?? 'no'} points in its outcome), ledger ${inLedger.map((e) => e.amount).join(', ') || 'empty'}, flow grants ${amount}`);
        }
        if ((notes.get(stepKey(t.taskId, i, STEP.notify)) ?? 0) !== 1) noNote.push(`${stepKey(t.taskId, i, STEP.notify)}: ${notes.get(stepKey(t.taskId, i, STEP.notify)) ?? 0} entries on the notifications stream`);
        if (!merchantDelivered.has(stepKey(t.taskId, i, STEP.webhook))) noHook.push(`${stepKey(t.taskId, i, STEP.webhook)}: GRANTED, never answered 2xx by the merchant's webhook`);
      } else if (inLedger.length > 0) {
        if (rec && isTaskTerminal(rec.state)) hidden.push(`${key}: ${rec.status} says stage ${st.status}, ledger has ${inLedger.length}`);
        else awaiting.push(`${key}: ${rec?.status}, stage ${st.status}, ledger has ${inLedger.length}`);
      }
    });
  }
  const foreign = [...byKey.keys()].filter((k) => !planned.has(k));
  const balanceOff: string[] = [];
  for (const u of users) {
    const ledgerSum = (ledgers.get(u) ?? []).reduce((n, e) => n + (e.type === 'points' ? (e.amount ?? 0) : 0), 0);
    const bal = balances.get(u) ?? 0;
    const want = granted.get(u) ?? 0;
    // A stage whose grant is written but whose task still waits for ops (awaiting) has points its record does not show yet.
    const pending = awaiting.some((a) => a.startsWith(`${u}:`));
    if (bal !== ledgerSum || (bal !== want && !pending)) balanceOff.push(`${u}: balance ${bal}, ledger ${ledgerSum}, granted stages ${want}`);
  }
  const doubles = dupKeys.length + dupNotes.length;
  return {
    id: 'task-grants',
    name: 'duplicate stage grants',
    ok: doubles === 0 && notInLedger.length === 0 && hidden.length === 0 && foreign.length === 0 && balanceOff.length === 0 && noNote.length === 0 && noHook.length === 0,
    value: fmt(doubles),
    evidence:
      `${fmt(entries)} ledger entries over ${fmt(byKey.size)} step keys (<task>#s<stage>#0): ${fmt(dupKeys.length)} keys with more than one, ${fmt(foreign.length)} of no planned stage; ` +
      `${fmt(grantedStages)} stages GRANTED, ${fmt(notInLedger.length)} without exactly their one entry of the flow's points, ${fmt(hidden.length)} grants a terminal task does not know; ` +
      `${fmt(users.length - balanceOff.length)}/${fmt(users.length)} balances = ledger = granted stages' points; ` +
      `notify steps: ${fmt(notes.size)} step keys on the notifications stream, ${fmt(dupNotes.length)} appended twice, ${fmt(noNote.length)} granted stages without their one entry; ` +
      `${fmt(grantedStages - noHook.length)}/${fmt(grantedStages)} granted stages' webhook steps answered 2xx by the merchant` +
      (awaiting.length ? `; ${fmt(awaiting.length)} grants whose task still waits in manual intervention` : ''),
    examples: limit([
      ...dupKeys.map(([k, l]) => `${k}: ${l.length} ledger entries`),
      ...dupNotes.map(([k, n]) => `${k}: ${n} notifications`),
      ...notInLedger,
      ...hidden,
      ...foreign.map((k) => `${k}: ledger entry of no planned stage`),
      ...balanceOff,
      ...noNote,
      ...noHook,
    ]),
  };
}

/** The notifications the tasks emitted: each granted stage's notify step (`<task>#s<i>#1`) and each REWARDED task's own (`<task>:rewarded`). */
export function taskNotificationIds(tasks: readonly PlannedTask[], records: TaskRecords): string[] {
  const ids: string[] = [];
  for (const t of tasks) {
    const rec = records.get(t.taskId);
    const s = activeState(rec);
    if (!s) continue;
    s.stages.forEach((st, i) => {
      if (st.status === 'GRANTED') ids.push(stepKey(t.taskId, i, STEP.notify));
    });
    if (rec!.status === 'REWARDED') ids.push(`${t.taskId}:rewarded`);
  }
  return ids;
}

/** Failed reward calls by error code, from a task's audit record (`stage 0 reward (flow …, attempt 2) failed (WEBHOOK_UNAVAILABLE: …)`). */
export function taskCallFailure(why: string | undefined): string | undefined {
  return /reward \(flow [^)]*\) (?:failed:? \(?|refused: )([A-Z_]+)/.exec(why ?? '')?.[1];
}
