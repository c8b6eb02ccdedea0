import type { Keys } from '../keys';
import type { RedisClient } from '../redis/connection';

/**
 * Time-based retention of the partitions' audit streams: trims every record older than `retentionMs` from the
 * audit stream of each partition given, with `XTRIM MINID <now − retention>` (stream ids are the commit's
 * millisecond time). Returns the records removed.
 *
 * The trim is exact, not `~`: a retention is also a promise that nothing older is kept, and an exact MINID
 * costs at most one stream node (≤ 100 entries) more than an approximate one; whole older nodes go at once.
 * The MAXLEN ~ of the commit script still caps the length in between. The actors' history lists are not
 * touched: each keeps its last records however old, for "why did this happen".
 */
export async function trimAuditStreams(redis: RedisClient, keys: Keys, partitions: readonly number[], retentionMs: number, now: number): Promise<number> {
  if (partitions.length === 0 || !(retentionMs > 0)) return 0;
  const minId = `${Math.max(0, Math.floor(now - retentionMs))}-0`;
  const removed = await Promise.all(partitions.map((p) => redis.xtrim(keys.audit(p), 'MINID', minId)));
  return removed.reduce((sum: number, n) => sum + Number(n), 0);
}
