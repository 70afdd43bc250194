// Proves that statfs' space is what files can use: each chain of the chain tables counts once, with its smallest target's capacity and its fullest target's free space, so replicas are not summed; chains outside every table and targets that never reported are left out.
import { describe, expect, it } from 'vitest';
import type { RoutingInfo } from '../../../src/mgmtd/protocol/index.js';
import { usableSpace } from '../../../src/meta/usable-space.js';

const gib = 1024 ** 3;

function target(targetId: number, chainId: number, capacityBytes: number, usedBytes: number) {
  return {
    targetId,
    nodeId: targetId,
    chainId,
    localState: 'up-to-date' as const,
    publicState: 'serving' as const,
    capacityBytes,
    usedBytes,
  };
}

function chain(chainId: number, targetIds: number[]) {
  return {
    chainId,
    chainVersion: 1,
    targets: targetIds.map((targetId) => ({ targetId, publicState: 'serving' as const })),
  };
}

function routing(parts: Pick<RoutingInfo, 'targets' | 'chains' | 'chainTables'>): RoutingInfo {
  return { clusterId: 'c', routingVersion: 1, nodes: [], ...parts };
}

describe('usableSpace', () => {
  it('counts a replication-3 chain once, not three times', () => {
    const info = routing({
      targets: [
        target(1, 1, 100 * gib, 10 * gib),
        target(2, 1, 100 * gib, 10 * gib),
        target(3, 1, 100 * gib, 10 * gib),
      ],
      chains: [chain(1, [1, 2, 3])],
      chainTables: [{ chainTableId: 1, chainTableVersion: 1, chains: [1] }],
    });
    expect(usableSpace(info)).toEqual({ capacityBytes: 100 * gib, usedBytes: 10 * gib, freeBytes: 90 * gib });
  });

  it("takes a chain's smallest capacity and least free space, and sums the chains", () => {
    const info = routing({
      targets: [
        target(1, 1, 100 * gib, 10 * gib),
        target(2, 1, 80 * gib, 50 * gib),
        target(3, 2, 40 * gib, 0),
        target(4, 2, 60 * gib, 5 * gib),
        target(5, 3, 1000 * gib, 0),
      ],
      chains: [chain(1, [1, 2]), chain(2, [3, 4]), chain(3, [5])],
      // Chain 3 is in no table: no file can be placed on it. Chain 1 is in two tables.
      chainTables: [
        { chainTableId: 1, chainTableVersion: 1, chains: [1, 2] },
        { chainTableId: 2, chainTableVersion: 1, chains: [1] },
      ],
    });
    // Chain 1: capacity 80, free min(90, 30) = 30. Chain 2: capacity 40, free min(40, 55) = 40.
    expect(usableSpace(info)).toEqual({ capacityBytes: 120 * gib, usedBytes: 50 * gib, freeBytes: 70 * gib });
  });

  it('leaves out targets that never reported and answers zero without routing info', () => {
    const info = routing({
      targets: [target(1, 1, 0, 0), target(2, 1, 50 * gib, 60 * gib)],
      chains: [chain(1, [1, 2, 9])],
      chainTables: [{ chainTableId: 1, chainTableVersion: 1, chains: [1, 7] }],
    });
    // Target 2 reports more used than its capacity: nothing is free, never a negative amount.
    expect(usableSpace(info)).toEqual({ capacityBytes: 50 * gib, usedBytes: 50 * gib, freeBytes: 0 });
    expect(usableSpace(undefined)).toEqual({ capacityBytes: 0, usedBytes: 0, freeBytes: 0 });
  });
});
