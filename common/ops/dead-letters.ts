import { decodeEnvelope, ENVELOPE_FIELD, Envelope } from '../codec';
import type { Keys } from '../keys';
import { commandBuffer } from '../redis/connection';
import { scripts } from '../redis/scripts';
import { mapLimited, nowOf, OPS_ERRORS, OpsContext, OpsError, Progress } from './context';
import { compareEntryIds } from '../actor/turn';
import { fieldMap, hashTag, idTime, printable } from './streams';

/** Where dead letters live: a partition's (actor entries), the ingest stream's, or the notifier's. */
export type DeadSource = number | 'ingest' | 'notifications';

/** Every dead-letter source of a deployment, partitions first. */
export function deadSources(partitions: number): DeadSource[] {
  return [...[...Array(partitions).keys()], 'ingest', 'notifications'];
}

/**
 * The dead-letter stream of a source. The notifier's is its stream's name with `:dead` for `:stream`, as
 * apps/notifier's NotifierKeys builds it.
 */
export function deadStreamOf(keys: Keys, source: DeadSource): string {
  if (typeof source === 'number') return keys.dead(source);
  if (source === 'ingest') return keys.ingestDead();
  return keys.named('notifications').replace(/:stream$/, ':dead');
}

/** Parses a source as people type it: a partition number, `ingest` or `notifications`. */
export function parseDeadSource(text: string, partitions: number): DeadSource {
  if (text === 'ingest' || text === 'notifications') return text;
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n < 0 || n >= partitions) {
    throw new OpsError(OPS_ERRORS.invalidInput, `a dead-letter source is a partition from 0 to ${partitions - 1}, 'ingest' or 'notifications' (got ${JSON.stringify(text)})`);
  }
  return n;
}

/** An original field of a dead-lettered entry, readable: its text, or its hex when the bytes are binary. */
export type OriginalField = { name: string; bytes: number } & ({ text: string } | { hex: string });

/** A dead letter decoded for display. */
export interface DeadLetter {
  source: DeadSource;
  /** The dead letter's id in its dead-letter stream (what replay and purge take). */
  id: string;
  /** When it was dead-lettered (ms). */
  at: number;
  code: string;
  /** The handler's own code when `code` is MAX_DELIVERIES. */
  cause?: string;
  reason: string;
  deliveries: number | null;
  consumer?: string;
  /** Where the entry came from (replay puts it back there), and its id there. */
  stream: string;
  entry: string;
  /** Notifications: the channels that failed, and the notification id. */
  channel?: string;
  notificationId?: string;
  /** The original fields, as they were. */
  original: OriginalField[];
  /** The original envelope (field `e`) decoded, when it decodes. */
  envelope?: Envelope;
  /** Why the envelope does not decode (it is then shown in hex). */
  envelopeError?: string;
}

/** Decodes one dead-letter entry (its raw fields) for display; never throws. */
export function decodeDeadLetter(source: DeadSource, id: string, fields: Buffer[]): DeadLetter {
  const f = fieldMap(fields);
  const text = (name: string) => f.get(name)?.toString();
  const original: OriginalField[] = [];
  for (const [name, value] of f) if (name.startsWith('f:')) original.push({ name: name.slice(2), bytes: value.length, ...printable(value) });
  const letter: DeadLetter = {
    source,
    id,
    at: Number(text('at') ?? idTime(id)),
    code: text('code') ?? '?',
    reason: text('reason') ?? '',
    deliveries: f.has('deliveries') ? Number(text('deliveries')) : null,
    stream: text('stream') ?? '',
    entry: text('entry') ?? '',
    original,
  };
  for (const name of ['cause', 'consumer', 'channel', 'notificationId'] as const) {
    const v = text(name);
    if (v) letter[name] = v;
  }
  const bytes = f.get(`f:${ENVELOPE_FIELD}`);
  if (bytes) {
    try {
      // No size limit here: an oversized entry is shown, not refused.
      letter.envelope = decodeEnvelope(bytes, Number.MAX_SAFE_INTEGER);
    } catch (err) {
      letter.envelopeError = (err as Error).message;
    }
  }
  return letter;
}

export interface ListDeadOptions {
  /** One source, or every source (the default). */
  source?: DeadSource | 'all';
  /** At most this many, newest first (default 50). */
  limit?: number;
  /** Only dead letters with this code (or cause). */
  code?: string;
  /** Only dead letters older than this id (paging: the last id of the previous page; one source only). */
  before?: string;
  onProgress?: Progress;
}

export interface DeadList {
  items: DeadLetter[];
  /** Dead letters per source (all of them, not only those listed). */
  totals: Array<{ source: DeadSource; count: number }>;
}

const PAGE = 200;
/** How far a filtered listing looks back per source before it stops (dead letters scanned). */
const SCAN_LIMIT = 20_000;

/** Dead letters, newest first, decoded for display; across every source unless one is named. */
export async function listDead(ctx: OpsContext, options: ListDeadOptions = {}): Promise<DeadList> {
  const limit = options.limit ?? 50;
  const sources = options.source === undefined || options.source === 'all' ? deadSources(ctx.partitions) : [options.source];
  if (options.before && sources.length > 1) throw new OpsError(OPS_ERRORS.invalidInput, 'paging with "before" needs one source: ids are only ordered within a dead-letter stream');
  const per = await mapLimited(sources, 16, async (source) => {
    const stream = deadStreamOf(ctx.keys, source);
    const count = await ctx.redis.xlen(stream);
    const items: DeadLetter[] = [];
    let end = options.before ? `(${options.before}` : '+';
    let scanned = 0;
    while (count > 0 && items.length < limit && scanned < SCAN_LIMIT) {
      const page = (await commandBuffer(ctx.redis, 'XREVRANGE', stream, end, '-', 'COUNT', options.code ? PAGE : limit - items.length)) as Array<[Buffer, Buffer[]]>;
      if (page.length === 0) break;
      scanned += page.length;
      for (const [idBuf, fields] of page) {
        const letter = decodeDeadLetter(source, idBuf.toString(), fields);
        if (!options.code || hasCode(letter, options.code)) items.push(letter);
        if (items.length >= limit) break;
      }
      end = `(${page[page.length - 1][0].toString()}`;
    }
    return { source, count, items };
  }, options.onProgress);
  const items = per.flatMap((s) => s.items).sort((a, b) => b.at - a.at || compareEntryIds(b.id, a.id)).slice(0, limit);
  return { items, totals: per.map(({ source, count }) => ({ source, count })) };
}

/** Whether a dead letter is of `code`: its own code, or the handler's code behind a MAX_DELIVERIES. */
function hasCode(letter: { code?: string; cause?: string }, code: string): boolean {
  return letter.code === code || letter.cause === code;
}

/** Ids of every dead letter of a source (optionally of one code), oldest first: what a bulk replay or purge works through. */
export async function deadLetterIds(ctx: OpsContext, source: DeadSource, filter: { code?: string } = {}): Promise<string[]> {
  const stream = deadStreamOf(ctx.keys, source);
  const ids: string[] = [];
  let start = '-';
  for (;;) {
    const page = (await commandBuffer(ctx.redis, 'XRANGE', stream, start, '+', 'COUNT', 1000)) as Array<[Buffer, Buffer[]]>;
    for (const [idBuf, fields] of page) {
      if (filter.code) {
        const f = fieldMap(fields);
        if (!hasCode({ code: f.get('code')?.toString(), cause: f.get('cause')?.toString() }, filter.code)) continue;
      }
      ids.push(idBuf.toString());
    }
    if (page.length < 1000) return ids;
    start = `(${page[page.length - 1][0].toString()}`;
  }
}

/** What happened to one dead letter asked to be replayed. */
export type ReplayResult =
  | { id: string; outcome: 'replayed'; stream: string; newId: string }
  | { id: string; outcome: 'missing' }
  | { id: string; outcome: 'refused'; reason: string };

/**
 * Puts dead letters back on the stream each came from (its original fields, bytes untouched, under a new id)
 * and deletes them, each in one script: replaying an id twice, or from two operators at once, adds it once.
 * Replay after fixing the cause (a worker that hosts the actor type, a channel that is back): the entry is
 * then handled as if it had just arrived, and receivers still drop a message they already applied (by id).
 */
export async function replayDead(ctx: OpsContext, source: DeadSource, ids: readonly string[], onProgress?: Progress): Promise<ReplayResult[]> {
  const dead = deadStreamOf(ctx.keys, source);
  return mapLimited(ids, 8, async (id): Promise<ReplayResult> => {
    if (!/^\d+-\d+$/.test(id)) return { id, outcome: 'refused', reason: `${JSON.stringify(id)} is not a stream id (like 1712345678901-0)` };
    const [entry] = (await ctx.redis.xrange(dead, id, id)) as Array<[string, string[]]>;
    if (!entry) return { id, outcome: 'missing' };
    let stream = '';
    for (let i = 0; i + 1 < entry[1].length; i += 2) if (entry[1][i] === 'stream') stream = entry[1][i + 1];
    if (!stream) return { id, outcome: 'refused', reason: 'the dead letter does not say which stream it came from' };
    // The script touches both streams, so they must share a slot; anything else is not where this source's entries come from.
    if (hashTag(stream) !== hashTag(dead)) return { id, outcome: 'refused', reason: `it came from ${stream}, which is not a stream of this source` };
    const reply = await scripts(ctx.redis).replayDead(dead, stream, id);
    if (reply === 0) return { id, outcome: 'missing' };
    if (reply === -1) return { id, outcome: 'refused', reason: `it came from another stream than ${stream}` };
    if (reply === -2) return { id, outcome: 'refused', reason: 'it holds none of the original fields' };
    return { id, outcome: 'replayed', stream, newId: String(reply) };
  }, onProgress);
}

export interface PurgeOptions {
  /** Exactly these dead letters. */
  ids?: readonly string[];
  /** Every dead letter dead-lettered more than this many ms ago. */
  olderThanMs?: number;
  /** Every dead letter of the source(s). */
  all?: boolean;
  onProgress?: Progress;
}

/** Deletes dead letters for good: by id, by age or all of them, from one source or every source. Returns how many went. */
export async function purgeDead(ctx: OpsContext, source: DeadSource | 'all', options: PurgeOptions): Promise<{ deleted: number; perSource: Array<{ source: DeadSource; deleted: number }> }> {
  const chosen = [options.ids !== undefined, options.olderThanMs !== undefined, options.all === true].filter(Boolean).length;
  if (chosen !== 1) throw new OpsError(OPS_ERRORS.invalidInput, 'purge needs exactly one of: ids, an age (olderThanMs) or all');
  if (options.olderThanMs !== undefined && !(options.olderThanMs >= 0)) throw new OpsError(OPS_ERRORS.invalidInput, 'olderThanMs must be 0 or more');
  if (options.ids) {
    if (source === 'all') throw new OpsError(OPS_ERRORS.invalidInput, 'purging by id needs one source: ids are only unique within a dead-letter stream');
    const stream = deadStreamOf(ctx.keys, source);
    const chunks: string[][] = [];
    for (let i = 0; i < options.ids.length; i += 500) chunks.push(options.ids.slice(i, i + 500));
    let done = 0;
    const counts = await mapLimited(chunks, 1, async (chunk) => {
      const n = await ctx.redis.xdel(stream, ...chunk);
      options.onProgress?.((done += chunk.length), options.ids!.length);
      return n;
    });
    const deleted = counts.reduce((a, b) => a + b, 0);
    return { deleted, perSource: [{ source, deleted }] };
  }
  const sources = source === 'all' ? deadSources(ctx.partitions) : [source];
  const minId = options.olderThanMs !== undefined ? `${Math.max(0, nowOf(ctx) - options.olderThanMs)}-0` : undefined;
  const perSource = await mapLimited(sources, 16, async (s) => {
    const stream = deadStreamOf(ctx.keys, s);
    // Exact trims (no "~"): an operator asked for these entries to go, not roughly these.
    const deleted = minId ? await ctx.redis.xtrim(stream, 'MINID', minId) : await ctx.redis.xtrim(stream, 'MAXLEN', 0);
    return { source: s, deleted: Number(deleted) };
  }, options.onProgress);
  return { deleted: perSource.reduce((n, s) => n + s.deleted, 0), perSource };
}
