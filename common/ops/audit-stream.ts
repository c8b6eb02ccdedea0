import { decode, ENVELOPE_FIELD } from '../codec';
import type { AuditRecord } from '../actor/turn';
import { commandBuffer } from '../redis/connection';
import type { OpsContext } from './context';
import { fieldMap } from './streams';

const PAGE = 1000;

/** How far a scan of an audit stream got: entries looked at, and whether it read through to the stream's start. */
export interface AuditScan {
  scanned: number;
  exhausted: boolean;
}

/**
 * Reads a partition's audit stream newest first from `end` (an XREVRANGE bound: `+`, an id or a `(`-exclusive
 * one), at most `scanLimit` entries, and gives each record this build can decode to `visit` until it answers
 * true. Entries written by another build are counted and skipped, so an old record never fails an ops read.
 * Shared by `inspect` (an actor's timeline) and `auditOf` (whether older records remain).
 */
export async function scanAuditNewestFirst(
  ctx: OpsContext,
  partition: number,
  end: string,
  scanLimit: number,
  visit: (id: string, record: AuditRecord) => boolean | void,
): Promise<AuditScan> {
  const stream = ctx.keys.audit(partition);
  let scanned = 0;
  while (scanned < scanLimit) {
    const want = Math.min(PAGE, scanLimit - scanned);
    const page = (await commandBuffer(ctx.redis, 'XREVRANGE', stream, end, '-', 'COUNT', want)) as Array<[Buffer, Buffer[]]>;
    const exhausted = page.length < want;
    for (const [idBuf, fields] of page) {
      scanned++;
      const bytes = fieldMap(fields).get(ENVELOPE_FIELD);
      if (!bytes) continue;
      let record: AuditRecord;
      try {
        record = decode<AuditRecord>(bytes);
      } catch {
        continue; // not an audit record this build can read
      }
      if (visit(idBuf.toString(), record) === true) return { scanned, exhausted };
    }
    if (exhausted) return { scanned, exhausted };
    end = `(${page[page.length - 1][0].toString()}`;
  }
  return { scanned, exhausted: false };
}
