import { createHash } from 'node:crypto';

/**
 * A canonical JSON text of a value: object keys sorted, `undefined` members dropped (as JSON does), Dates as
 * ISO strings, bigints and binary tagged so they never collide with a plain string. Two payloads that mean the
 * same thing give the same text whatever their key order.
 */
export function canonicalJson(value: unknown): string {
  return walk(value, new Set());
}

function walk(value: unknown, seen: Set<object>): string {
  if (value === null || value === undefined) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : JSON.stringify({ $num: String(value) });
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return JSON.stringify({ $bigint: value.toString() });
    case 'function':
    case 'symbol':
      throw new TypeError(`cannot fingerprint a ${typeof value}`);
  }
  const obj = value as object;
  if (obj instanceof Date) return JSON.stringify(obj.toISOString());
  if (obj instanceof Uint8Array) return JSON.stringify({ $bytes: Buffer.from(obj).toString('base64') });
  if (seen.has(obj)) throw new TypeError('cannot fingerprint a circular structure');
  seen.add(obj);
  try {
    if (Array.isArray(obj)) return `[${obj.map((v) => walk(v, seen)).join(',')}]`;
    if (obj instanceof Map) return walk(Object.fromEntries([...obj.entries()].map(([k, v]) => [String(k), v])), seen);
    if (obj instanceof Set) return walk([...obj].map((v) => walk(v, seen)).sort(), seen);
    const entries = Object.keys(obj)
      .filter((k) => (obj as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${walk((obj as Record<string, unknown>)[k], seen)}`);
    return `{${entries.join(',')}}`;
  } finally {
    seen.delete(obj);
  }
}

/** sha256 (hex) of the canonical JSON of a payload: equal payloads, equal fingerprints. */
export function fingerprint(payload: unknown): string {
  return createHash('sha256').update(canonicalJson(payload)).digest('hex');
}
