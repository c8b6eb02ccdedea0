import type { ConfigEntry, ConfigKind } from '../../../../common/ops';
import { OPS_ERRORS, OpsError } from '../../../../common/ops';
import type { ActivityComponent } from './activity.component';
import type { Activity } from './activity.types';

/**
 * Activity definitions as a configuration kind for ops (`ops config get|set activity <id>`, the dashboard):
 * read with `load`, written with `define`, so the activity schema validates every change and the stored
 * version goes up by one. A definition may leave its `id` out (the id given is used) but not name another.
 */
export function activityConfigKind(activity: ActivityComponent): ConfigKind<Activity> {
  const entry = (loaded: { activity: Activity; ver: string }): ConfigEntry<Activity> => ({ kind: 'activity', id: loaded.activity.id, version: loaded.ver, value: loaded.activity });
  return {
    kind: 'activity',
    description: 'referral activity definitions: audience, risk, caps, budget, prize (apps/worker/components/activity)',
    list: () => activity.ids(),
    async get(id) {
      const loaded = await activity.load(id);
      return loaded ? entry(loaded) : null;
    },
    async set(id, value) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new OpsError(OPS_ERRORS.invalidInput, 'an activity definition is a JSON object');
      }
      const given = (value as { id?: unknown }).id;
      if (given !== undefined && given !== id) {
        throw new OpsError(OPS_ERRORS.invalidInput, `the definition's id ${JSON.stringify(given)} is not ${JSON.stringify(id)}; change one or the other`);
      }
      await activity.define({ ...(value as object), id } as Parameters<ActivityComponent['define']>[0]);
      const loaded = await activity.load(id);
      if (!loaded) throw new OpsError(OPS_ERRORS.notFound, `activity ${id} vanished right after it was stored`);
      return entry(loaded);
    },
  };
}
