/** FNV-1a 32-bit: stable across processes and languages, cheap, well spread for short keys. */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** The address of an actor: its type and id. */
export interface ActorRef {
  type: string;
  id: string;
}

export function actorAddress(ref: ActorRef): string {
  return `${ref.type}/${ref.id}`;
}

export function parseActorAddress(address: string): ActorRef {
  const slash = address.indexOf('/');
  return { type: address.slice(0, slash), id: address.slice(slash + 1) };
}

/** partition = hash(type, id) mod P. P is fixed per deployment, like Kafka partitions. */
export function partitionOf(ref: ActorRef, partitions: number): number {
  return fnv1a(actorAddress(ref)) % partitions;
}

/** A 32-bit mix of two values, for rendezvous scores. */
function mix(a: number, b: number): number {
  let h = Math.imul(a ^ (b + 0x9e3779b9), 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Rendezvous (highest random weight) hashing: each partition goes to the member with the highest score.
 * When a member joins or leaves, only the partitions it wins or held move.
 */
export function rendezvousOwner(partition: number, members: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = -1;
  for (const member of members) {
    const score = mix(fnv1a(member), partition);
    if (score > bestScore || (score === bestScore && best !== undefined && member < best)) {
      best = member;
      bestScore = score;
    }
  }
  return best;
}

/** The partitions a member should own given the live members. */
export function assignedPartitions(member: string, members: readonly string[], partitions: number): number[] {
  const mine: number[] = [];
  for (let p = 0; p < partitions; p++) if (rendezvousOwner(p, members) === member) mine.push(p);
  return mine;
}
