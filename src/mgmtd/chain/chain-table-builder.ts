/**
 * Generates chains from a cluster's targets with a replication factor. Every target joins at most
 * one chain, the targets of a chain sit on distinct nodes, chains draw from the nodes with the most
 * unassigned targets first (so load spreads evenly), and chain heads rotate across nodes because
 * the head takes every write of its chain.
 */
import { FsError } from '../../common/errors.js';
import { MgmtdCode } from '../../common/status-code.js';
import type { ChainId, ChainInfo, NodeId, TargetId } from '../protocol/index.js';
import { PublicState } from '../protocol/index.js';

export interface TargetPlacement {
  targetId: TargetId;
  nodeId: NodeId;
}

/** Builds chains of `replicas` targets on distinct nodes, numbered from `firstChainId`. */
export function buildChains(options: {
  targets: readonly TargetPlacement[];
  replicas: number;
  firstChainId: ChainId;
}): ChainInfo[] {
  const { replicas } = options;
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > 16) {
    throw new FsError(
      MgmtdCode.ChainTableInvalid,
      `replicas must be an integer from 1 to 16, got ${replicas}`,
    );
  }
  const byNode = new Map<NodeId, TargetId[]>();
  for (const { targetId, nodeId } of [...options.targets].sort((a, b) => a.targetId - b.targetId)) {
    byNode.set(nodeId, [...(byNode.get(nodeId) ?? []), targetId]);
  }
  if (byNode.size < replicas) {
    throw new FsError(
      MgmtdCode.NotEnoughTargets,
      `a chain of ${replicas} replicas needs targets on ${replicas} distinct nodes; only ${byNode.size} node(s) have targets`,
    );
  }
  const chains: ChainInfo[] = [];
  for (;;) {
    const nodes = [...byNode.entries()]
      .filter(([, remaining]) => remaining.length > 0)
      .sort(([nodeA, a], [nodeB, b]) => b.length - a.length || nodeA - nodeB)
      .slice(0, replicas);
    if (nodes.length < replicas) break;
    const members = nodes.map(([, remaining]) => remaining.shift() as TargetId);
    const rotation = chains.length % replicas;
    const ordered = [...members.slice(rotation), ...members.slice(0, rotation)];
    chains.push({
      chainId: options.firstChainId + chains.length,
      chainVersion: 1,
      targets: ordered.map((targetId) => ({ targetId, publicState: PublicState.Serving })),
    });
  }
  return chains;
}
