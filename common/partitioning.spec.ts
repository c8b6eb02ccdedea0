import { assignedPartitions, fnv1a, partitionOf, rendezvousOwner } from './partitioning';

describe('partitioning', () => {
  it('fnv1a matches the published test vectors', () => {
    expect(fnv1a('')).toBe(0x811c9dc5);
    expect(fnv1a('a')).toBe(0xe40c292c);
    expect(fnv1a('foobar')).toBe(0xbf9cf968);
  });

  it('an actor always lands in the same partition, and actors spread over all partitions', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 1000; i++) {
      const p = partitionOf({ type: 'counter', id: `a${i}` }, 16);
      expect(partitionOf({ type: 'counter', id: `a${i}` }, 16)).toBe(p);
      seen.add(p);
    }
    expect(seen.size).toBe(16);
  });

  it('every partition has exactly one owner among the members', () => {
    const members = ['w1', 'w2', 'w3'];
    const all = members.flatMap((m) => assignedPartitions(m, members, 64));
    expect(all.sort((a, b) => a - b)).toEqual([...Array(64).keys()]);
  });

  it('a member joining moves only partitions to itself; one leaving moves only its own', () => {
    const before = ['w1', 'w2', 'w3'];
    const after = [...before, 'w4'];
    for (let p = 0; p < 256; p++) {
      const a = rendezvousOwner(p, before);
      const b = rendezvousOwner(p, after);
      if (a !== b) expect(b).toBe('w4');
    }
    const moved = [...Array(256).keys()].filter((p) => rendezvousOwner(p, before) !== rendezvousOwner(p, after)).length;
    expect(moved).toBeGreaterThan(256 / 4 / 2);
    expect(moved).toBeLessThan(256 / 4 * 2);
    for (let p = 0; p < 256; p++) {
      if (rendezvousOwner(p, before) !== 'w2') expect(rendezvousOwner(p, ['w1', 'w3'])).toBe(rendezvousOwner(p, before));
    }
  });

  it('no members, no owner', () => {
    expect(rendezvousOwner(0, [])).toBeUndefined();
  });
});
