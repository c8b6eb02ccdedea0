import { assignedPartitions } from '../partitioning';
import { assignableMembers } from './membership';

describe('assignableMembers (drain flags)', () => {
  it('leaves draining members out and keeps the order of the live ones', () => {
    expect(assignableMembers({ live: ['a', 'b', 'c'], draining: ['b'] })).toEqual(['a', 'c']);
  });

  it('ignores flags of workers that are not live', () => {
    expect(assignableMembers({ live: ['a', 'c'], draining: ['gone'] })).toEqual(['a', 'c']);
  });

  it('is empty when every live member drains: nobody takes partitions', () => {
    expect(assignableMembers({ live: ['a'], draining: ['a'] })).toEqual([]);
  });

  it("a draining member's partitions all go to the others, and only its partitions move", () => {
    const live = ['w-a', 'w-b', 'w-c'];
    const before = new Map(live.map((m) => [m, assignedPartitions(m, live, 64)]));
    const after = assignableMembers({ live, draining: ['w-b'] });
    expect(assignedPartitions('w-b', after, 64)).toEqual([]);
    for (const m of ['w-a', 'w-c']) {
      const now = assignedPartitions(m, after, 64);
      expect(now).toEqual(expect.arrayContaining(before.get(m)!));
    }
    const taken = [...assignedPartitions('w-a', after, 64), ...assignedPartitions('w-c', after, 64)].sort((x, y) => x - y);
    expect(taken).toEqual([...Array(64).keys()]);
  });
});
