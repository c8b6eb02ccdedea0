/** Helpers for reading stream entries in ops; pure (XINFO replies: common/redis/stream-info.ts). */

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
