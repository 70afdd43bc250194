/**
 * The primary's view of the cluster: structural state (nodes, targets, chains, chain tables,
 * routing version), which is persisted before anyone sees it, and liveness (heartbeat times,
 * disk usage), which lives in memory only and is merged into routing info when served.
 *
 * Changes are made on a draft copy: a change that throws leaves nothing behind, and one that
 * changes anything yields the changed records and a routing version one higher.
 */
import { FsError } from '../common/errors.js';
import { MgmtdCode } from '../common/status-code.js';
import {
  LocalState,
  NodeStatus,
  PublicState,
  type ChainInfo,
  type ChainTable,
  type HeartbeatTarget,
  type NodeInfo,
  type NodeType,
  type RoutingInfo,
  type TargetInfo,
} from './protocol/index.js';
import { updateChain } from './chain/chain-update.js';
import type { StateChanges, StoredState } from './store/mgmtd-store.js';

/** A node as it presents itself in a heartbeat. */
export interface HeartbeatNode {
  nodeId: number;
  type: NodeType;
  address: string;
  hostname: string;
  tags: string[];
}

/** A mutable copy of the structural state that remembers what was touched. */
export class StateDraft {
  readonly nodes: Map<number, NodeInfo>;
  readonly targets: Map<number, TargetInfo>;
  readonly chains: Map<number, ChainInfo>;
  readonly chainTables: Map<number, ChainTable>;
  private readonly touched = {
    nodes: new Set<number>(),
    targets: new Set<number>(),
    chains: new Set<number>(),
    chainTables: new Set<number>(),
  };

  constructor(private readonly base: StoredState) {
    this.nodes = new Map(base.nodes.map((node) => [node.nodeId, structuredClone(node)]));
    this.targets = new Map(base.targets.map((target) => [target.targetId, structuredClone(target)]));
    this.chains = new Map(base.chains.map((chain) => [chain.chainId, structuredClone(chain)]));
    this.chainTables = new Map(base.chainTables.map((table) => [table.chainTableId, structuredClone(table)]));
  }

  putNode(node: NodeInfo): void {
    this.nodes.set(node.nodeId, node);
    this.touched.nodes.add(node.nodeId);
  }

  putTarget(target: TargetInfo): void {
    this.targets.set(target.targetId, target);
    this.touched.targets.add(target.targetId);
  }

  putChain(chain: ChainInfo): void {
    this.chains.set(chain.chainId, chain);
    this.touched.chains.add(chain.chainId);
  }

  putChainTable(table: ChainTable): void {
    this.chainTables.set(table.chainTableId, table);
    this.touched.chainTables.add(table.chainTableId);
  }

  /** The records to persist, or undefined when nothing changed. */
  changes(): StateChanges | undefined {
    const pick = <T>(ids: Set<number>, map: Map<number, T>): T[] =>
      [...ids].sort((a, b) => a - b).map((id) => map.get(id) as T);
    const changes: StateChanges = {
      routingVersion: this.base.routingVersion + 1,
      nodes: pick(this.touched.nodes, this.nodes),
      targets: pick(this.touched.targets, this.targets),
      chains: pick(this.touched.chains, this.chains),
      chainTables: pick(this.touched.chainTables, this.chainTables),
    };
    const count =
      changes.nodes.length + changes.targets.length + changes.chains.length + changes.chainTables.length;
    return count === 0 ? undefined : changes;
  }

  /** The structural state with the changes applied. */
  toState(routingVersion: number): StoredState {
    const sorted = <T>(map: Map<number, T>): T[] =>
      [...map.entries()].sort(([a], [b]) => a - b).map(([, value]) => value);
    return {
      routingVersion,
      nodes: sorted(this.nodes),
      targets: sorted(this.targets),
      chains: sorted(this.chains),
      chainTables: sorted(this.chainTables),
    };
  }
}

/** Memory-only facts from heartbeats. */
export interface Liveness {
  lastHeartbeatMs: Map<number, number>;
  usage: Map<number, { usedBytes: number; capacityBytes: number }>;
}

/** Applies a heartbeat's structural facts (registration, addresses, local target states) to a draft. */
export function applyHeartbeat(
  draft: StateDraft,
  node: HeartbeatNode,
  targets: readonly HeartbeatTarget[],
): void {
  const known = draft.nodes.get(node.nodeId);
  if (known !== undefined && known.type !== node.type) {
    throw new FsError(
      MgmtdCode.NodeTypeMismatch,
      `node ${node.nodeId} is registered as ${known.type}, but a ${node.type} at ${node.address} claims its id`,
    );
  }
  const next: NodeInfo = {
    nodeId: node.nodeId,
    type: node.type,
    address: node.address,
    hostname: node.hostname,
    status: NodeStatus.Online,
    lastHeartbeatMs: 0,
    tags: node.tags,
  };
  if (known === undefined || !sameNode(known, next)) draft.putNode(next);

  for (const reported of targets) {
    const target = draft.targets.get(reported.targetId);
    if (target !== undefined && target.nodeId !== node.nodeId) {
      throw new FsError(
        MgmtdCode.HeartbeatRejected,
        `target ${reported.targetId} belongs to node ${target.nodeId}, not to node ${node.nodeId}`,
      );
    }
    if (target === undefined) {
      draft.putTarget({
        targetId: reported.targetId,
        nodeId: node.nodeId,
        chainId: 0,
        localState: reported.localState,
        publicState: PublicState.Offline,
        usedBytes: 0,
        capacityBytes: 0,
      });
    } else if (target.localState !== reported.localState) {
      draft.putTarget({ ...target, localState: reported.localState });
    }
  }
}

function sameNode(a: NodeInfo, b: NodeInfo): boolean {
  return (
    a.address === b.address &&
    a.hostname === b.hostname &&
    a.status === b.status &&
    a.tags.length === b.tags.length &&
    a.tags.every((tag, index) => tag === b.tags[index])
  );
}

/**
 * Declares nodes without a heartbeat for `heartbeatTimeoutMs` offline (their targets too), then
 * applies the state table to every chain. `selfNodeId` (the primary) is never timed out.
 */
export function applyTimeoutsAndChains(
  draft: StateDraft,
  options: {
    nowMs: number;
    heartbeatTimeoutMs: number;
    lastHeartbeatMs: ReadonlyMap<number, number>;
    selfNodeId: number;
  },
): void {
  for (const node of draft.nodes.values()) {
    if (node.nodeId === options.selfNodeId || node.status === NodeStatus.Offline) continue;
    const last = options.lastHeartbeatMs.get(node.nodeId) ?? 0;
    if (options.nowMs - last <= options.heartbeatTimeoutMs) continue;
    draft.putNode({ ...node, status: NodeStatus.Offline });
    for (const target of draft.targets.values()) {
      if (target.nodeId === node.nodeId && target.localState !== LocalState.Offline) {
        draft.putTarget({ ...target, localState: LocalState.Offline });
      }
    }
  }
  const localStates = new Map(
    [...draft.targets.values()].map((target) => [target.targetId, target.localState]),
  );
  for (const chain of draft.chains.values()) {
    const update = updateChain(chain, localStates);
    if (!update.changed) continue;
    draft.putChain(update.chain);
    for (const member of update.chain.targets) {
      const target = draft.targets.get(member.targetId);
      if (target !== undefined && target.publicState !== member.publicState) {
        draft.putTarget({ ...target, publicState: member.publicState });
      }
    }
  }
}

/** Builds routing info from structural state plus memory-only liveness. */
export function toRoutingInfo(clusterId: string, state: StoredState, liveness: Liveness): RoutingInfo {
  return {
    clusterId,
    routingVersion: state.routingVersion,
    nodes: state.nodes.map((node) => ({
      ...node,
      lastHeartbeatMs: liveness.lastHeartbeatMs.get(node.nodeId) ?? 0,
    })),
    targets: state.targets.map((target) => ({ ...target, ...liveness.usage.get(target.targetId) })),
    chains: state.chains,
    chainTables: state.chainTables,
  };
}
