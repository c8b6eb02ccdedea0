/**
 * Reading XINFO replies (pure). ioredis returns them as flat `[name, value, name, value, ...]` lists; these
 * helpers are the one place that knows it, for the runtime, the sweepers and ops alike.
 */

/** One consumer group of a stream, as XINFO GROUPS reports it. */
export interface GroupInfo {
  name: string;
  consumers: number;
  pending: number;
  lastDeliveredId: string;
  /** Entries not yet delivered to the group; null when Redis cannot tell (after deletions in the stream). */
  lag: number | null;
}

/** A field of a flat XINFO reply, or undefined when the reply has no such field. */
export function infoField(reply: unknown, name: string): unknown {
  if (!Array.isArray(reply)) return undefined;
  for (let i = 0; i + 1 < reply.length; i += 2) if (reply[i] === name) return reply[i + 1];
  return undefined;
}

/** Parses an XINFO GROUPS reply (a list of flat field/value lists). */
export function parseGroups(reply: unknown): GroupInfo[] {
  if (!Array.isArray(reply)) return [];
  return reply.map((raw) => {
    const lag = infoField(raw, 'lag');
    return {
      name: String(infoField(raw, 'name')),
      consumers: Number(infoField(raw, 'consumers') ?? 0),
      pending: Number(infoField(raw, 'pending') ?? 0),
      lastDeliveredId: String(infoField(raw, 'last-delivered-id') ?? '0-0'),
      lag: lag === null || lag === undefined || lag === '' ? null : Number(lag),
    };
  });
}

/** The named group of an XINFO GROUPS reply, or undefined. */
export function groupOf(reply: unknown, group: string): GroupInfo | undefined {
  return parseGroups(reply).find((g) => g.name === group);
}
