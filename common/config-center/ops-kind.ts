import type { ConfigEntry, ConfigKind } from '../ops/config';
import type { ConfigStore } from './store';
import type { ConfigItem, ConfigKindSpec } from './types';

/**
 * A configuration-center kind as a kind of the ops registry (common/ops/config.ts), so `ops config list|get|set
 * <kind> <id>` and the dashboard read and write it like any other: the kind's schema validates every `set`
 * (INVALID_CONFIG listing each problem, nothing stored) and each `set` stores the next version. Versions are
 * strings there, as the registry's other kinds have them. `by` names the writer recorded with each `set`.
 */
export function configCenterKind<T = unknown>(store: ConfigStore, spec: ConfigKindSpec<T>, options: { by?: string } = {}): ConfigKind<T> {
  // The store's own spec of the kind: refuses at once a kind the store was not given.
  const { kind } = store.spec(spec.kind);
  const entry = (item: ConfigItem<T>): ConfigEntry<T> => ({ kind, id: item.id, version: String(item.version), value: item.value });
  return {
    kind,
    description: spec.description,
    list: () => store.list(kind),
    async get(id) {
      const item = await store.get<T>(kind, id);
      return item ? entry(item) : null;
    },
    async set(id, value) {
      return entry(await store.put<T>(kind, id, value, options.by === undefined ? undefined : { by: options.by }));
    },
  };
}
