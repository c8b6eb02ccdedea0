import { assertValidId } from '../ids';
import { OPS_ERRORS, OpsError } from './context';

/** One stored configuration item: its kind, id, version (changes on every set) and validated value. */
export interface ConfigEntry<T = unknown> {
  kind: string;
  id: string;
  version: string;
  value: T;
}

/**
 * A kind of configuration ops can read and write (activity definitions today; task definitions and flows when
 * the task center's configuration comes). Each kind owns its schema: `set` validates and throws a PropelError
 * whose message names every problem; nothing invalid is stored.
 */
export interface ConfigKind<T = unknown> {
  readonly kind: string;
  /** One line for help texts and the dashboard. */
  readonly description: string;
  list(): Promise<string[]>;
  get(id: string): Promise<ConfigEntry<T> | null>;
  set(id: string, value: unknown): Promise<ConfigEntry<T>>;
}

/** The kinds of configuration a process knows, by name. */
export class ConfigRegistry {
  private readonly byName: Map<string, ConfigKind>;

  constructor(kinds: readonly ConfigKind[]) {
    this.byName = new Map(kinds.map((k) => [k.kind, k]));
  }

  kinds(): ConfigKind[] {
    return [...this.byName.values()];
  }

  kind(name: string): ConfigKind {
    const kind = this.byName.get(name);
    if (!kind) throw new OpsError(OPS_ERRORS.unknownKind, `no configuration kind ${JSON.stringify(name)}; known: ${[...this.byName.keys()].join(', ') || 'none'}`);
    return kind;
  }
}

/** The stored item, or a NOT_FOUND OpsError. */
export async function getConfig(registry: ConfigRegistry, kind: string, id: string): Promise<ConfigEntry> {
  const entry = await registry.kind(kind).get(assertValidId(id, `${kind} id`));
  if (!entry) throw new OpsError(OPS_ERRORS.notFound, `no ${kind} ${JSON.stringify(id)} is configured`);
  return entry;
}

/** Validates and stores an item (the kind's own schema decides); returns what was stored, with its new version. */
export async function setConfig(registry: ConfigRegistry, kind: string, id: string, value: unknown): Promise<ConfigEntry> {
  return registry.kind(kind).set(assertValidId(id, `${kind} id`), value);
}

/** Ids of every stored item of a kind, sorted. */
export async function listConfig(registry: ConfigRegistry, kind: string): Promise<string[]> {
  return (await registry.kind(kind).list()).sort();
}

/**
 * Parses configuration text (a file or stdin) as JSON; an INVALID_INPUT OpsError says where it breaks, so a
 * person can fix the file.
 */
export function parseConfigJson(text: string, what = 'the input'): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new OpsError(OPS_ERRORS.invalidInput, `${what} is not valid JSON: ${(err as Error).message}`);
  }
}
