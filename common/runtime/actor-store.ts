import { decode, encode } from '../codec';
import { DEFAULTS, GROUPS } from '../constants';
import { LeaseLostError } from '../errors';
import { Keys } from '../keys';
import { actorAddress, ActorRef } from '../partitioning';
import type { ActorRecord } from '../actor/record';
import type { AuditRecord } from '../actor/turn';
import type { RedisClient } from '../redis/connection';
import { ScriptCode, scripts } from '../redis/scripts';

/** One turn to commit: everything the commit script writes for it, already encoded. */
export interface CommitTurn {
  ref: ActorRef;
  /** Inbox entry to acknowledge with the turn ('' for none). */
  entryId: string;
  /** Version the turn was decided on; -1 acknowledges the entry without writing (duplicates). */
  expectedVersion: number;
  record?: ActorRecord;
  /** False when the turn leaves the actor's due-index score as it is (saves a write). */
  dueChanged?: boolean;
  /** The actor entered (at this time) or left ('left') MANUAL_INTERVENTION with this turn: the manual index follows. */
  manual?: number | 'left';
  outbox: Array<[stream: string, envelope: Buffer]>;
  local: Buffer[];
  audit: Buffer[];
}

/** The seam between the runtime and Redis for actor state: load a record, commit turns. */
export interface ActorStore {
  load<S>(partition: number, ref: ActorRef): Promise<ActorRecord<S> | null>;
  /** Loads several records of one partition in one round trip. */
  loadMany(partition: number, refs: ActorRef[]): Promise<Array<ActorRecord | null>>;
  /**
   * Commits turns of one partition in order, each atomically with its version check, due index, outbox,
   * audit and XACK. Returns one code per turn (new version, 0 acknowledged only, -1 stale).
   * Throws LeaseLostError, writing nothing, when `leaseToken` no longer holds the partition.
   */
  commit(partition: number, turns: CommitTurn[], leaseToken: string): Promise<number[]>;
  /** The actor's last audit records (its history), oldest first. */
  history(partition: number, ref: ActorRef): Promise<AuditRecord[]>;
}

export class RedisActorStore implements ActorStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    // Readers (gateway, ops) need only the first two; the defaults are the worker's.
    private readonly group: string = GROUPS.actors,
    private readonly auditMaxLen: number = DEFAULTS.auditMaxLen,
    private readonly historyLimit: number = DEFAULTS.historyLimit,
  ) {}

  async history(partition: number, ref: ActorRef): Promise<AuditRecord[]> {
    const items = await this.redis.lrangeBuffer(this.keys.history(partition, ref), 0, -1);
    return items.map((b) => decode<AuditRecord>(b));
  }

  async load<S>(partition: number, ref: ActorRef): Promise<ActorRecord<S> | null> {
    return toRecord<S>(await this.redis.hmgetBuffer(this.keys.actor(partition, ref), 'v', 'd'));
  }

  async loadMany(partition: number, refs: ActorRef[]): Promise<Array<ActorRecord | null>> {
    const pipeline = this.redis.pipeline();
    for (const ref of refs) pipeline.hmgetBuffer(this.keys.actor(partition, ref), 'v', 'd');
    const replies = (await pipeline.exec()) ?? [];
    return replies.map(([err, value]) => {
      if (err) throw err;
      return toRecord(value as Array<Buffer | null>);
    });
  }

  async commit(partition: number, turns: CommitTurn[], leaseToken: string): Promise<number[]> {
    const k = this.keys;
    const keyList: string[] = [k.inbox(partition), k.due(partition), k.outbox(partition), k.audit(partition), k.lease(partition), k.manual(partition)];
    const args: Array<string | Buffer | number> = [this.group, leaseToken, this.auditMaxLen, this.historyLimit, turns.length];
    for (const t of turns) {
      keyList.push(k.actor(partition, t.ref), k.history(partition, t.ref));
      const r = t.record;
      args.push(
        t.entryId,
        t.expectedVersion,
        // The version lives in field `v` (the fencing token); the blob's copy is not read back.
        r ? encode(r) : '',
        !r || t.dueChanged === false ? '-' : r.scheduleTime !== null ? r.scheduleTime : '',
        actorAddress(t.ref),
        t.manual === undefined ? '-' : t.manual === 'left' ? '' : t.manual,
        t.outbox.length,
        t.local.length,
        t.audit.length,
      );
      for (const [stream, envelope] of t.outbox) args.push(stream, envelope);
      for (const e of t.local) args.push(e);
      for (const a of t.audit) args.push(a);
    }
    const reply = await scripts(this.redis).commitTurns(keyList.length, ...keyList, ...args);
    if (reply === ScriptCode.LeaseLost) throw new LeaseLostError(partition);
    return reply as number[];
  }
}

function toRecord<S>([v, d]: Array<Buffer | null>): ActorRecord<S> | null {
  if (!d) return null;
  const record = decode<ActorRecord<S>>(d);
  record.version = Number(v?.toString() ?? 0);
  return record;
}

/**
 * Gathers the turns that become ready in one event-loop pass and commits them per partition in one script
 * call: one round trip for many actors, while each turn keeps its own version check.
 */
export class CommitBatcher {
  private readonly pending = new Map<number, Array<{ turn: CommitTurn; resolve: (c: number) => void; reject: (e: unknown) => void }>>();
  private scheduled = false;

  constructor(
    private readonly store: ActorStore,
    private readonly leaseToken: (partition: number) => string,
    private readonly maxBatch = 500,
  ) {}

  commit(partition: number, turn: CommitTurn): Promise<number> {
    return new Promise((resolve, reject) => {
      let list = this.pending.get(partition);
      if (!list) this.pending.set(partition, (list = []));
      list.push({ turn, resolve, reject });
      if (list.length >= this.maxBatch) this.flushPartition(partition);
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    for (const partition of [...this.pending.keys()]) this.flushPartition(partition);
  }

  private flushPartition(partition: number): void {
    const list = this.pending.get(partition);
    if (!list || list.length === 0) return;
    this.pending.delete(partition);
    this.store.commit(partition, list.map((i) => i.turn), this.leaseToken(partition)).then(
      (codes) => list.forEach((item, i) => item.resolve(codes[i])),
      (err) => list.forEach((item) => item.reject(err)),
    );
  }
}
