import type { z } from 'zod';
import { assertValidTypeName } from '../ids';
import type { ConfigItem, ConfigKindSpec } from './types';
import { ConfigProblem, InvalidConfigError, UnknownConfigKindError } from './errors';

/**
 * The configuration center's pure parts: kind lookup, validation on write, the stored item format and the
 * change-stream entry format. No Redis here, so each rule is unit-tested on its own.
 */

/** The kinds a store or cache serves, by name; names become parts of keys, so they follow the type-name rule. */
export class KindTable {
  private readonly byName = new Map<string, ConfigKindSpec>();

  constructor(kinds: readonly ConfigKindSpec[]) {
    for (const spec of kinds) {
      assertValidTypeName(spec.kind, 'configuration kind');
      if (this.byName.has(spec.kind)) throw new Error(`configuration kind ${JSON.stringify(spec.kind)} is given twice`);
      this.byName.set(spec.kind, spec);
    }
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  has(kind: string): boolean {
    return this.byName.has(kind);
  }

  /** The kind's spec, or an UnknownConfigKindError naming the known kinds. */
  spec(kind: string): ConfigKindSpec {
    const spec = this.byName.get(kind);
    if (!spec) throw new UnknownConfigKindError(kind, this.names());
    return spec;
  }
}

/** Every issue of a schema failure as `path: message` parts. */
export function problemsOf(error: z.ZodError): ConfigProblem[] {
  return error.issues.map((i) => ({ path: i.path.map(String).join('.') || '(root)', message: i.message }));
}

/**
 * Validates a value for a write: the kind's `idField` (filled in when left out, refused when it names another
 * id), then the schema. Returns the schema's output (defaults filled in), which is what gets stored; throws an
 * InvalidConfigError listing every problem otherwise.
 */
export function validateValue<T>(spec: ConfigKindSpec<T>, id: string, value: unknown): T {
  const problems: ConfigProblem[] = [];
  let input = value;
  if (spec.idField && typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const given = (value as Record<string, unknown>)[spec.idField];
    if (given === undefined) input = { ...(value as object), [spec.idField]: id };
    else if (given !== id) problems.push({ path: spec.idField, message: `names ${JSON.stringify(given)}, not this item's id ${JSON.stringify(id)}; change one or the other` });
  }
  const parsed = spec.schema.safeParse(input);
  if (!parsed.success) problems.push(...problemsOf(parsed.error));
  if (problems.length > 0 || !parsed.success) throw new InvalidConfigError(spec.kind, id, problems);
  return parsed.data;
}

/**
 * The stored body of an item before the write script puts `"version"` and `"updatedAt"` in front of it (see
 * putConfig-4.lua). Refuses values that are not JSON or larger than `maxBytes`.
 */
export function itemBody(kind: string, id: string, value: unknown, by: string | undefined, maxBytes: number): string {
  let body: string;
  try {
    body = JSON.stringify({ kind, id, ...(by ? { by } : {}), value });
  } catch (err) {
    throw new InvalidConfigError(kind, id, [{ path: '(root)', message: `cannot be stored as JSON: ${(err as Error).message}` }]);
  }
  const bytes = Buffer.byteLength(body);
  if (bytes > maxBytes) throw new InvalidConfigError(kind, id, [{ path: '(root)', message: `is ${bytes} bytes as JSON; at most ${maxBytes} are allowed` }]);
  return body;
}

/** Parses a stored item (the items hash and the history hold the same JSON). */
export function parseItem<T = unknown>(json: string): ConfigItem<T> {
  const raw = JSON.parse(json) as ConfigItem<T>;
  const item: ConfigItem<T> = { kind: raw.kind, id: raw.id, version: raw.version, value: raw.value, updatedAt: raw.updatedAt };
  if (raw.by !== undefined) item.by = raw.by;
  return item;
}

/** One change-stream entry: the item's new version (0: removed) and the global version the write made. */
export interface ChangeEntry {
  /** The stream entry id. */
  streamId: string;
  kind: string;
  id: string;
  version: number;
  global: number;
  at: number;
  by?: string;
}

/** Parses a change-stream entry's flat field list; undefined when it is not one (a stray entry). */
export function parseChangeEntry(streamId: string, fields: readonly string[] | null): ChangeEntry | undefined {
  if (!fields) return undefined;
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]] = fields[i + 1];
  const version = Number(f.version);
  const global = Number(f.global);
  if (!f.kind || !f.id || !Number.isInteger(version) || !Number.isInteger(global)) return undefined;
  const entry: ChangeEntry = { streamId, kind: f.kind, id: f.id, version, global, at: Number(f.at) || 0 };
  if (f.by) entry.by = f.by;
  return entry;
}
