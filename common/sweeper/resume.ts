import { decode, encode, encodeEnvelope } from '../codec';
import { DEFAULTS } from '../constants';
import { Keys } from '../keys';
import { actorAddress } from '../partitioning';
import type { ActorRef } from '../partitioning';
import type { ActorRecord } from '../actor/record';
import type { RedisClient } from '../redis/connection';
import { ScriptCode, scripts } from '../redis/scripts';
import { MANUAL_INTERVENTION } from '../runtime/actor-host';
import { planResume } from './plan';

/** What became of a resume: the actor's new version, or why nothing was written. */
export type ResumeOutcome =
  | { outcome: 'resumed'; version: number; status: string }
  | { outcome: 'missing' }
  | { outcome: 'not-manual'; status: string }
  | { outcome: 'stale' };

/**
 * Ops: re-drives an actor in MANUAL_INTERVENTION whatever its type knows about ops (a generic `ops retry`):
 * one `redriveActor` write at the version read, so a turn that moved the actor meanwhile wins and this is
 * refused as stale. Meant for actors the sweepers sent there (their own state never went to manual
 * intervention, so an actor-specific retry message may not apply); an actor that went there by its own
 * decision should get its own retry message, which knows what to re-drive.
 */
export async function resumeFromManual(
  redis: RedisClient,
  keys: Keys,
  partition: number,
  ref: ActorRef,
  opts: { operator: string; now?: number; auditMaxLen?: number; historyLimit?: number },
): Promise<ResumeOutcome> {
  const [v, d] = await redis.hmgetBuffer(keys.actor(partition, ref), 'v', 'd');
  if (!d) return { outcome: 'missing' };
  const record = decode<ActorRecord>(d);
  record.version = Number(v?.toString() ?? 0);
  if (record.status !== MANUAL_INTERVENTION) return { outcome: 'not-manual', status: record.status };
  const now = opts.now ?? Date.now();
  const member = actorAddress(ref);
  const plan = planResume(record, member, now, opts.operator);
  const tick = encodeEnvelope({ id: plan.tickId, pattern: `actor:${ref.type}`, key: member, data: { id: ref.id, timer: now }, ts: now });
  const p = partition;
  const code = await scripts(redis).redriveActor(
    keys.actor(p, ref), keys.due(p), keys.inbox(p), keys.audit(p), keys.history(p, ref), keys.manual(p), keys.actorLock(p, ref),
    'resume', record.version, '', member, encode(plan.record), now, tick, encode(plan.audit),
    opts.auditMaxLen ?? DEFAULTS.auditMaxLen, opts.historyLimit ?? DEFAULTS.historyLimit, '',
  );
  if (code === ScriptCode.StaleVersion) return { outcome: 'stale' };
  if (code <= 0) throw new Error(`redriveActor (resume) returned an unexpected code ${code}`);
  return { outcome: 'resumed', version: code, status: plan.record.status };
}
