import { ActorRef } from './partitioning';

/**
 * Every Redis key Propel uses is built here and nowhere else. The keys of one partition share the hash
 * tag `{<ns>:<p>}` so they live in one Redis Cluster slot and one Lua script can commit a turn atomically.
 */
export class Keys {
  constructor(readonly ns: string) {}

  /** Hash tag of a partition. */
  tag(p: number): string {
    return `{${this.ns}:${p}}`;
  }
  /** The partition's inbox stream, read by the actor consumer group. */
  inbox(p: number): string {
    return `${this.tag(p)}:inbox`;
  }
  /** Actor record: hash with `v` (version, the fencing token) and `d` (msgpack record). */
  actor(p: number, ref: ActorRef): string {
    return `${this.tag(p)}:a:${ref.type}:${ref.id}`;
  }
  /** The actor's bounded history list: its last audit records, oldest first. */
  history(p: number, ref: ActorRef): string {
    return `${this.tag(p)}:h:${ref.type}:${ref.id}`;
  }
  /** Redlock resource of an actor's lease (lock_time). */
  actorLock(p: number, ref: ActorRef): string {
    return `${this.tag(p)}:lock:${ref.type}:${ref.id}`;
  }
  /** ZSET of actors by schedule_time (the due index); member is `type/id`. */
  due(p: number): string {
    return `${this.tag(p)}:due`;
  }
  /** Actors waiting for a person (status MANUAL_INTERVENTION): ZSET of actor addresses, scored by when they entered. */
  manual(p: number): string {
    return `${this.tag(p)}:manual`;
  }
  /** Messages for actors of other partitions and for named streams, relayed after commit. */
  outbox(p: number): string {
    return `${this.tag(p)}:outbox`;
  }
  audit(p: number): string {
    return `${this.tag(p)}:audit`;
  }
  /** Dead letters of the partition, written in the same script that acknowledges the entry. */
  dead(p: number): string {
    return `${this.tag(p)}:dead`;
  }
  /** Partition lease: which worker may consume and commit for the partition. */
  lease(p: number): string {
    return `${this.tag(p)}:lease`;
  }

  /** Membership registry: ZSET member → heartbeat expiry (ms); a hash of member info beside it. */
  members(): string {
    return `{${this.ns}:members}:live`;
  }
  memberInfo(): string {
    return `{${this.ns}:members}:info`;
  }
  /** Drain flags: hash of worker id → JSON `{ at, by }`. A flagged worker hands its partitions back and takes none. */
  drains(): string {
    return `{${this.ns}:members}:drain`;
  }

  /** Ingest stream that upstream services write with plain XADD, and its dead letters. */
  ingest(): string {
    return `{${this.ns}:ingest}:stream`;
  }
  ingestDead(): string {
    return `{${this.ns}:ingest}:dead`;
  }

  /** Reply stream of one client instance (request-response). */
  replies(clientId: string): string {
    return `{${this.ns}:reply:${clientId}}:stream`;
  }
  /** A named outgoing stream (notifications, audit fan-in) fed by the outbox relay. */
  named(name: string): string {
    return `{${this.ns}:out:${name}}:stream`;
  }
  /** Sweepers: the splitter's leader lease (holder token, PX). */
  sweepLeader(): string {
    return `{${this.ns}:sweep}:leader`;
  }
  /** Sweepers: sweep tasks (one per partition or group of partitions per tick), read by the loaders' group. */
  sweepTasks(): string {
    return `{${this.ns}:sweep}:tasks`;
  }
  /** Sweepers: execution items (one stalled actor each), read by the executors' group. */
  sweepItems(): string {
    return `{${this.ns}:sweep}:items`;
  }
  /** Sweepers: per partition, the oldest overdue actor a loader saw and when, to tell a stalled owner from a busy one. */
  sweepWatch(): string {
    return `{${this.ns}:sweep}:watch`;
  }
  /** Idempotency: the record of one idempotency key (hash s/f/r, PX); each key is its own hash tag. */
  idempotency(key: string): string {
    return `{${this.ns}:idem:${key}}:rec`;
  }
  /** Idempotency: dynamic configuration, a hash of operation name (or `*`) → JSON `{ store, onDuplicate }`. */
  idempotencyConfig(): string {
    return `{${this.ns}:idem}:config`;
  }

  /**
   * Configuration center: every key shares the hash tag `{<ns>:cfg}`, so one script writes an item, its
   * history, the global version and the change stream atomically in one Redis Cluster slot.
   */
  configTag(): string {
    return `{${this.ns}:cfg}`;
  }
  /** Configuration center: the current items of a kind, a hash of id → JSON item (the per-kind index; no SCAN). */
  configItems(kind: string): string {
    return `${this.configTag()}:items:${kind}`;
  }
  /** Configuration center: an item's bounded history, a ZSET of JSON items scored by version (kept after removal). */
  configHistory(kind: string, id: string): string {
    return `${this.configTag()}:hist:${kind}:${id}`;
  }
  /** Configuration center: the global version, incremented by every write of any item. */
  configVersion(): string {
    return `${this.configTag()}:version`;
  }
  /** Configuration center: the change stream (kind, id, version, global, at, by), trimmed MAXLEN ~ by its writer. */
  configChanges(): string {
    return `${this.configTag()}:changes`;
  }
}
