/** Helpers for reading stream replies in ops; pure. */

/** One consumer group of a stream, as XINFO GROUPS reports it. */
export interface GroupInfo {
  name: string;
  consumers: number;
  pending: number;
  lastDeliveredId: string;
  /** Entries not yet delivered to the group; null when Redis cannot tell (after deletions in the stream). */
  lag: number | null;
}

/** Parses an XINFO GROUPS reply (a list of flat field/value lists). */
export function parseGroups(reply: unknown): GroupInfo[] {
  if (!Array.isArray(reply)) return [];
  return reply.map((raw) => {
    const list = raw as unknown[];
    const get = (name: string) => {
      const i = list.indexOf(name);
      return i >= 0 ? list[i + 1] : undefined;
    };
    const lag = get('lag');
    return {
      name: String(get('name')),
      consumers: Number(get('consumers') ?? 0),
      pending: Number(get('pending') ?? 0),
      lastDeliveredId: String(get('last-delivered-id') ?? '0-0'),
      lag: lag === null || lag === undefined ? null : Number(lag),
    };
  });
}

/** A raw entry's fields as a map (the last value wins for a repeated name). */
export function fieldMap(fields: Buffer[]): Map<string, Buffer> {
  const map = new Map<string, Buffer>();
  for (let i = 0; i + 1 < fields.length; i += 2) map.set(fields[i].toString(), fields[i + 1]);
  return map;
}

/** The `{...}` hash tag a key starts with, or '' when it has none. */
export function hashTag(key: string): string {
  const m = /^\{[^{}]*\}/.exec(key);
  return m ? m[0] : '';
}

/** The millisecond part of a stream id ("1712345678901-0" → 1712345678901). */
export function idTime(id: string): number {
  return Number(id.split('-')[0]);
}

/** Compares two stream ids numerically. */
export function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(Number);
  const [bm, bs] = b.split('-').map(Number);
  return am !== bm ? am - bm : (as ?? 0) - (bs ?? 0);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Bytes shown to a person: the text when they are printable UTF-8, else their hex. */
export function printable(bytes: Buffer): { text: string } | { hex: string } {
  try {
    const text = utf8.decode(bytes);
    // Tabs and newlines are fine in a payload; other control characters mean binary (or a terminal trick).
    if (!/[\u0000-\u0008\u000b-\u001f\u007f]/.test(text)) return { text };
  } catch {
    // not UTF-8
  }
  return { hex: bytes.toString('hex') };
}
