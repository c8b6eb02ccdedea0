import { BaseRpcContext } from '@nestjs/microservices';
import type { Envelope } from '../codec';

/** One entry as read from a partition stream, with its raw fields kept for dead letters. */
export interface StreamEntry {
  partition: number;
  stream: string;
  id: string;
  /** Field/value list exactly as stored (the original bytes). */
  fields: Buffer[];
  /** Redis delivery count when it was read or claimed. */
  deliveries: number;
}

/**
 * Context handed to `@EventPattern` / `@MessagePattern` handlers (`@Ctx()`). A handler that acknowledges the
 * entry inside its own atomic write (the actor commit does) calls `markAcked()` so the transport skips XACK.
 */
export class StreamContext extends BaseRpcContext<[StreamEntry, Envelope]> {
  private acked = false;

  constructor(entry: StreamEntry, envelope: Envelope) {
    super([entry, envelope]);
  }
  getEntry(): StreamEntry {
    return this.args[0];
  }
  getEnvelope(): Envelope {
    return this.args[1];
  }
  getPartition(): number {
    return this.args[0].partition;
  }
  getEntryId(): string {
    return this.args[0].id;
  }
  getDeliveries(): number {
    return this.args[0].deliveries;
  }
  markAcked(): void {
    this.acked = true;
  }
  isAcked(): boolean {
    return this.acked;
  }
}

/** The value of one field of a raw entry. */
export function fieldOf(fields: Buffer[], name: string): Buffer | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i].toString() === name) return fields[i + 1];
  return undefined;
}
