import { ErrorCode, TerminalError } from '../errors';
import { actorAddress, ActorRef } from '../partitioning';
import { ActorDefinition, CallReply, isRejection, TurnContext } from './define-actor';
import { ActorRecord, CallEffect, HistoryEntry } from './record';
import { fnv1a } from '../partitioning';

/** The payload of an `actor:<type>` entry: a message for actor `id`, or a timer tick. */
export interface ActorDelivery {
  id: string;
  message?: unknown;
  /** Set on timer ticks fired from the due index: deliver every timer due by now. */
  timer?: number;
  /** Set on call replies the runtime delivers: a reply whose call is no longer pending is dropped. */
  reply?: boolean;
}

export interface TurnMeta {
  self: ActorRef;
  now: number;
  messageId: string;
}

export interface TurnLimits {
  seenLimit: number;
  callTimeoutMs: number;
}

/** One record per decided message: the audit stream and the actor's history list both get it. */
export interface AuditRecord {
  at: number;
  actor: string;
  version: number;
  message: string;
  messageId: string;
  from: string;
  to: string;
  why?: string;
  rejected?: { code: string; reason: string };
  effects: string[];
}

export interface TurnResult<S> {
  /** duplicate: already applied, acknowledge only; noop: nothing to apply (e.g. an early timer tick). */
  kind: 'applied' | 'duplicate' | 'noop';
  record: ActorRecord<S>;
  sends: Array<{ to: ActorRef; message: unknown; id: string }>;
  emits: Array<{ stream: string; payload: unknown; id: string }>;
  calls: CallEffect[];
  audit: AuditRecord[];
  rejected?: { code: string; reason: string };
}

/** Stream ids are "ms-seq"; compares two of them numerically. */
export function compareEntryIds(a: string, b: string): number {
  const [am, as] = a.split('-');
  const [bm, bs] = b.split('-');
  const dm = Number(am) - Number(bm);
  return dm !== 0 ? dm : Number(as ?? 0) - Number(bs ?? 0);
}

function statusOf<S>(def: ActorDefinition<S, any>, state: S): string {
  if (def.status) return def.status(state);
  const s = (state as { status?: unknown } | null)?.status;
  return typeof s === 'string' ? s : 'active';
}

function messageType(message: unknown): string {
  const t = (message as { type?: unknown } | null)?.type;
  return typeof t === 'string' ? t : 'unknown';
}

function earliest(record: ActorRecord): number | null {
  let min: number | null = null;
  for (const t of Object.values(record.timers)) if (min === null || t.at < min) min = t.at;
  for (const c of Object.values(record.calls)) if (min === null || c.at < min) min = c.at;
  return min;
}

/** Messages this delivery brings: the message itself, or every timer and call deadline due by now. */
function messagesOf(record: ActorRecord, delivery: ActorDelivery, now: number): Array<{ message: unknown; id: string }> | 'late-reply' {
  if (delivery.timer !== undefined) {
    const due: Array<{ at: number; message: unknown; id: string }> = [];
    for (const [key, t] of Object.entries(record.timers)) {
      if (t.at <= now) {
        due.push({ at: t.at, message: t.message, id: `timer:${key}@${t.at}` });
        delete record.timers[key];
      }
    }
    for (const [key, c] of Object.entries(record.calls)) {
      if (c.at <= now) {
        const timeout: CallReply = {
          type: c.reply,
          key,
          ok: false,
          error: { code: 'CALL_TIMEOUT', message: `no reply to call ${key} by its deadline`, retryable: true },
        };
        due.push({ at: c.at, message: timeout, id: `call-timeout:${key}@${c.at}` });
        delete record.calls[key];
      }
    }
    return due.sort((a, b) => a.at - b.at).map(({ message, id }) => ({ message, id }));
  }
  if (delivery.reply) {
    const key = (delivery.message as { key?: unknown } | null)?.key;
    if (typeof key !== 'string' || !record.calls[key]) return 'late-reply';
    delete record.calls[key];
  }
  return [{ message: delivery.message, id: '' }];
}

function cloneRecord<S>(record: ActorRecord<S>): ActorRecord<S> {
  return {
    ...record,
    timers: { ...record.timers },
    calls: { ...record.calls },
    seen: record.seen.slice(),
  };
}

/**
 * One actor turn, pure: dedup, the messages the delivery brings, `decide` for each, effects folded into
 * the next record and the outputs the runtime commits and carries out. No I/O and no clock.
 */
export function runTurn<S, M extends { type: string }>(
  def: ActorDefinition<S, M>,
  current: ActorRecord<S>,
  delivery: ActorDelivery,
  meta: TurnMeta,
  limits: TurnLimits,
): TurnResult<S> {
  const empty = { sends: [], emits: [], calls: [], audit: [] };
  // Dedup is by message id only. An inbox entry is acknowledged in the same script that commits it, so
  // a redelivered entry was never committed; dropping it by stream position could lose it.
  const seenHash = messageHash(meta.messageId);
  if (current.seen.includes(seenHash)) return { kind: 'duplicate', record: current, ...empty };

  const record = cloneRecord(current);
  record.seen.push(seenHash);
  if (record.seen.length > limits.seenLimit) record.seen.splice(0, record.seen.length - limits.seenLimit);

  const result: TurnResult<S> = { kind: 'applied', record, sends: [], emits: [], calls: [], audit: [] };
  const address = actorAddress(meta.self);
  const nextVersion = current.version + 1;
  const incoming = messagesOf(record, delivery, meta.now);
  if (incoming === 'late-reply' || incoming.length === 0) {
    // Nothing to decide, but the dedup marks and any consumed timers must still be written.
    result.kind = incoming === 'late-reply' ? 'applied' : 'noop';
    if (incoming === 'late-reply') {
      const note: HistoryEntry = { at: meta.now, message: messageType(delivery.message), messageId: meta.messageId, from: record.status, to: record.status, why: 'late call reply ignored: the call was no longer pending' };
      result.audit.push({ ...note, actor: address, version: nextVersion, effects: [] });
    }
    record.scheduleTime = earliest(record);
    record.updatedAt = meta.now;
    return result;
  }

  let n = 0;
  let progressed = false;
  // Timer ticks and call replies are produced by the runtime; everything else came from outside.
  const fromOutside = delivery.timer === undefined && delivery.reply !== true;
  for (const item of incoming) {
    const message = parseMessage(def, item.message);
    if (fromOutside && def.internal?.includes(message.type)) {
      throw new TerminalError(ErrorCode.InvalidMessage, `${def.type} message ${message.type} is internal: only the actor's own timers and call replies deliver it`);
    }
    const ctx: TurnContext = { now: meta.now, self: meta.self, messageId: item.id || meta.messageId };
    const decision = def.decide(record.state, message, ctx);
    const from = record.status;
    const type = messageType(message);
    if (isRejection(decision)) {
      result.rejected = decision.rejected;
      const entry: HistoryEntry = { at: meta.now, message: type, messageId: ctx.messageId, from, to: from, rejected: decision.rejected };
      result.audit.push({ ...entry, actor: address, version: nextVersion, effects: [] });
      continue;
    }
    record.state = decision.state;
    record.status = statusOf(def, decision.state);
    progressed = true;
    const summary: string[] = [];
    for (const effect of decision.effects ?? []) {
      switch (effect.type) {
        case 'send':
          result.sends.push({ to: effect.to, message: effect.message, id: `${address}@${nextVersion}#${n++}` });
          summary.push(`send ${actorAddress(effect.to)} ${messageType(effect.message)}`);
          break;
        case 'emit':
          result.emits.push({ stream: effect.stream, payload: effect.payload, id: `${address}@${nextVersion}#${n++}` });
          summary.push(`emit ${effect.stream}`);
          break;
        case 'timer':
          record.timers[effect.key] = { at: effect.at, message: effect.message };
          summary.push(`timer ${effect.key} at ${effect.at}`);
          break;
        case 'cancelTimer':
          delete record.timers[effect.key];
          summary.push(`cancel timer ${effect.key}`);
          break;
        case 'call':
          record.calls[effect.key] = { at: meta.now + limits.callTimeoutMs, reply: effect.reply };
          result.calls.push(effect);
          summary.push(`call ${effect.component} ${effect.key}`);
          break;
      }
    }
    const entry: HistoryEntry = { at: meta.now, message: type, messageId: ctx.messageId, from, to: record.status };
    if (decision.why) entry.why = decision.why;
    result.audit.push({ ...entry, actor: address, version: nextVersion, effects: summary });
  }
  // The actor moved on its own: the sweepers' count of re-drives without progress starts over.
  if (progressed) record.retryCount = 0;
  record.scheduleTime = earliest(record);
  record.updatedAt = meta.now;
  return result;
}

/**
 * A 53-bit hash of a message id for the dedup window: two FNV-1a variants, so a false "duplicate" needs
 * a 53-bit collision within one actor's window (about 1 in 10^14 per message for a window of 64).
 */
export function messageHash(id: string): number {
  return fnv1a(id) * 0x200000 + (fnv1a(`~${id}`) & 0x1fffff);
}

/** A message that fails the actor's own parse can never apply: it is terminal (dead-lettered, not retried). */
function parseMessage<S, M extends { type: string }>(def: ActorDefinition<S, M>, raw: unknown): M {
  if (typeof raw !== 'object' || raw === null || typeof (raw as { type?: unknown }).type !== 'string') {
    throw new TerminalError(ErrorCode.InvalidMessage, `a ${def.type} message must be an object with a string "type"`);
  }
  if (!def.parse) return raw as M;
  try {
    return def.parse(raw);
  } catch (err) {
    throw new TerminalError(ErrorCode.InvalidMessage, `invalid ${def.type} message: ${(err as Error).message}`, { cause: err });
  }
}
