// Proves chain-table generation (distinct nodes per chain, even spread, rotating heads) and the
// validation of uploaded chain tables.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { buildChains } from '../../../src/mgmtd/chain/chain-table-builder.js';
import { createChainTable, uploadChainTable } from '../../../src/mgmtd/chain/chain-table-ops.js';
import { StateDraft } from '../../../src/mgmtd/cluster-state.js';
import type { NodeInfo, TargetInfo } from '../../../src/mgmtd/protocol/index.js';
import { FsError } from '../../../src/common/errors.js';
import { MgmtdCode } from '../../../src/common/status-code.js';

function node(nodeId: number, type: NodeInfo['type'] = 'storage'): NodeInfo {
  return {
    nodeId,
    type,
    address: `h${nodeId}:1`,
    hostname: `h${nodeId}`,
    status: 'online',
    lastHeartbeatMs: 0,
    tags: [],
  };
}

function target(targetId: number, nodeId: number): TargetInfo {
  return {
    targetId,
    nodeId,
    chainId: 0,
    localState: 'up-to-date',
    publicState: 'offline',
    usedBytes: 0,
    capacityBytes: 0,
  };
}

function draftWith(nodes: NodeInfo[], targets: TargetInfo[]): StateDraft {
  return new StateDraft({ routingVersion: 1, nodes, targets, chains: [], chainTables: [] });
}

describe('chain generation', () => {
  it('puts the targets of every chain on distinct nodes and uses each target at most once', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 3, maxLength: 8 }),
        fc.integer({ min: 1, max: 3 }),
        (targetsPerNode, replicas) => {
          const placements = targetsPerNode.flatMap((count, nodeIndex) =>
            Array.from({ length: count }, (_, index) => ({
              targetId: (nodeIndex + 1) * 100 + index + 1,
              nodeId: nodeIndex + 1,
            })),
          );
          const nodesWithTargets = targetsPerNode.filter((count) => count > 0).length;
          if (nodesWithTargets < replicas) {
            expect(() => buildChains({ targets: placements, replicas, firstChainId: 1 })).toThrow(FsError);
            return;
          }
          const chains = buildChains({ targets: placements, replicas, firstChainId: 1 });
          const used = new Set<number>();
          const nodeOf = new Map(placements.map((placement) => [placement.targetId, placement.nodeId]));
          for (const chain of chains) {
            expect(chain.targets).toHaveLength(replicas);
            expect(new Set(chain.targets.map((member) => nodeOf.get(member.targetId))).size).toBe(replicas);
            for (const member of chain.targets) {
              expect(used.has(member.targetId)).toBe(false);
              used.add(member.targetId);
            }
          }
          // Greedy by most remaining targets: no further chain could be built from what is left.
          const left = new Set(
            placements.filter((placement) => !used.has(placement.targetId)).map((p) => p.nodeId),
          );
          expect(left.size).toBeLessThan(replicas);
        },
      ),
    );
  });

  it('rotates chain heads across nodes', () => {
    const placements = [1, 2, 3].flatMap((nodeId) =>
      [1, 2, 3].map((index) => ({ targetId: nodeId * 10 + index, nodeId })),
    );
    const chains = buildChains({ targets: placements, replicas: 3, firstChainId: 5 });
    expect(chains.map((chain) => chain.chainId)).toEqual([5, 6, 7]);
    const headNodes = chains.map((chain) => Math.floor((chain.targets[0]?.targetId ?? 0) / 10));
    expect(new Set(headNodes).size).toBe(3);
  });

  it('refuses a replication factor larger than the number of nodes with a clear error', () => {
    expect(() =>
      buildChains({
        targets: [
          { targetId: 1, nodeId: 1 },
          { targetId: 2, nodeId: 2 },
        ],
        replicas: 3,
        firstChainId: 1,
      }),
    ).toThrow(/needs targets on 3 distinct nodes; only 2/);
  });
});

describe('chain table changes', () => {
  const nodes = [node(1), node(2), node(3), node(9, 'meta')];
  const targets = [target(11, 1), target(21, 2), target(31, 3), target(12, 1), target(22, 2), target(32, 3)];

  it("creates a table from free targets, all serving, and records each target's chain", () => {
    const draft = draftWith(nodes, targets);
    const result = createChainTable(draft, { chainTableId: 1, replicas: 3 });
    expect(result.chains).toHaveLength(2);
    expect(result.chainTable).toEqual({ chainTableId: 1, chainTableVersion: 1, chains: [1, 2] });
    for (const chain of result.chains) {
      for (const member of chain.targets) {
        expect(member.publicState).toBe('serving');
        expect(draft.targets.get(member.targetId)?.chainId).toBe(chain.chainId);
      }
    }
    expect(() => createChainTable(draft, { chainTableId: 1, replicas: 3 })).toThrow(/already exists/);
  });

  // A refused change throws; mgmtd then drops the whole draft, so a partly applied upload is never kept.
  it('refuses uploads that would put two replicas on one node or one target in two chains', () => {
    const sameNode = (): unknown =>
      uploadChainTable(draftWith(nodes, targets), {
        chainTableId: 1,
        chains: [{ chainId: 1, targetIds: [11, 12] }],
      });
    expect(sameNode).toThrow(/two targets on node 1/);
    const twice = (): unknown =>
      uploadChainTable(draftWith(nodes, targets), {
        chainTableId: 1,
        chains: [
          { chainId: 1, targetIds: [11, 21] },
          { chainId: 2, targetIds: [21, 31] },
        ],
      });
    expect(twice).toThrow(/target 21 appears in more than one chain/);
    expect(() =>
      uploadChainTable(draftWith(nodes, targets), {
        chainTableId: 1,
        chains: [{ chainId: 1, targetIds: [99] }],
      }),
    ).toThrow(/target 99 is not registered/);
  });

  it('keeps existing chains on re-upload and refuses to change their members', () => {
    const draft = draftWith(nodes, targets);
    uploadChainTable(draft, { chainTableId: 1, chains: [{ chainId: 1, targetIds: [11, 21] }] });
    const second = uploadChainTable(draft, {
      chainTableId: 1,
      chains: [
        { chainId: 1, targetIds: [21, 11] },
        { chainId: 2, targetIds: [12, 22] },
      ],
    });
    expect(second.chainTable.chainTableVersion).toBe(2);
    let caught: unknown;
    try {
      uploadChainTable(draft, { chainTableId: 1, chains: [{ chainId: 1, targetIds: [11, 31] }] });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(FsError);
    expect((caught as FsError).code).toBe(MgmtdCode.ChainTableInvalid);
  });
});
