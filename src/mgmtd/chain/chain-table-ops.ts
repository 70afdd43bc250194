/**
 * Creating and uploading chain tables on a state draft. New chains start with every target
 * `serving` (fresh targets hold no data, so they agree); the next chain update moves targets that
 * are down to the end of their chain.
 */
import { FsError } from '../../common/errors.js';
import { MgmtdCode } from '../../common/status-code.js';
import { NodeType, PublicState, type ChainInfo, type ChainTable } from '../protocol/index.js';
import type { StateDraft } from '../cluster-state.js';
import { buildChains } from './chain-table-builder.js';

export interface ChainTableResult {
  chainTable: ChainTable;
  chains: ChainInfo[];
}

function storageTargetNode(draft: StateDraft, targetId: number): number {
  const target = draft.targets.get(targetId);
  if (target === undefined)
    throw new FsError(MgmtdCode.TargetNotFound, `target ${targetId} is not registered`);
  const node = draft.nodes.get(target.nodeId);
  if (node?.type !== NodeType.Storage) {
    throw new FsError(MgmtdCode.ChainTableInvalid, `target ${targetId} is not on a storage node`);
  }
  return target.nodeId;
}

function addChain(draft: StateDraft, chain: ChainInfo): void {
  draft.putChain(chain);
  for (const member of chain.targets) {
    const target = draft.targets.get(member.targetId);
    if (target !== undefined)
      draft.putTarget({ ...target, chainId: chain.chainId, publicState: member.publicState });
  }
}

function nextChainId(draft: StateDraft): number {
  return Math.max(0, ...draft.chains.keys()) + 1;
}

/** Generates a chain table of `replicas`-way chains from free targets (or the given ones). */
export function createChainTable(
  draft: StateDraft,
  request: { chainTableId: number; replicas: number; targetIds?: number[] | undefined },
): ChainTableResult {
  if (draft.chainTables.has(request.chainTableId)) {
    throw new FsError(MgmtdCode.ChainTableExists, `chain table ${request.chainTableId} already exists`);
  }
  const candidates =
    request.targetIds ??
    [...draft.targets.values()].filter((target) => target.chainId === 0).map((t) => t.targetId);
  const placements = candidates.map((targetId) => {
    const nodeId = storageTargetNode(draft, targetId);
    const chainId = draft.targets.get(targetId)?.chainId ?? 0;
    if (chainId !== 0)
      throw new FsError(MgmtdCode.ChainTableInvalid, `target ${targetId} is already in chain ${chainId}`);
    return { targetId, nodeId };
  });
  const chains = buildChains({
    targets: placements,
    replicas: request.replicas,
    firstChainId: nextChainId(draft),
  });
  if (chains.length === 0) {
    throw new FsError(
      MgmtdCode.NotEnoughTargets,
      `no chain of ${request.replicas} replicas can be built from the free targets`,
    );
  }
  for (const chain of chains) addChain(draft, chain);
  const chainTable: ChainTable = {
    chainTableId: request.chainTableId,
    chainTableVersion: 1,
    chains: chains.map((chain) => chain.chainId),
  };
  draft.putChainTable(chainTable);
  return { chainTable, chains };
}

/**
 * Creates or replaces a chain table from an explicit list of chains. Chains that exist already
 * must keep their members (moving data between targets is not what an upload does); new chains
 * must use free targets on distinct storage nodes.
 */
export function uploadChainTable(
  draft: StateDraft,
  request: { chainTableId: number; chains: { chainId: number; targetIds: number[] }[] },
): ChainTableResult {
  const seenChains = new Set<number>();
  const seenTargets = new Set<number>();
  const result: ChainInfo[] = [];
  for (const { chainId, targetIds } of request.chains) {
    if (seenChains.has(chainId))
      throw new FsError(MgmtdCode.ChainTableInvalid, `chain ${chainId} is listed twice`);
    seenChains.add(chainId);
    const nodes = new Set<number>();
    for (const targetId of targetIds) {
      if (seenTargets.has(targetId)) {
        throw new FsError(MgmtdCode.ChainTableInvalid, `target ${targetId} appears in more than one chain`);
      }
      seenTargets.add(targetId);
      const nodeId = storageTargetNode(draft, targetId);
      if (nodes.has(nodeId)) {
        throw new FsError(MgmtdCode.ChainTableInvalid, `chain ${chainId} has two targets on node ${nodeId}`);
      }
      nodes.add(nodeId);
    }
    const existing = draft.chains.get(chainId);
    if (existing !== undefined) {
      const members = existing.targets.map((target) => target.targetId).sort((a, b) => a - b);
      const wanted = [...targetIds].sort((a, b) => a - b);
      if (members.join(',') !== wanted.join(',')) {
        throw new FsError(
          MgmtdCode.ChainTableInvalid,
          `chain ${chainId} exists with targets ${members.join(',')}; an upload cannot change them to ${wanted.join(',')}`,
        );
      }
      result.push(existing);
      continue;
    }
    for (const targetId of targetIds) {
      const chainOfTarget = draft.targets.get(targetId)?.chainId ?? 0;
      if (chainOfTarget !== 0) {
        throw new FsError(
          MgmtdCode.ChainTableInvalid,
          `target ${targetId} is already in chain ${chainOfTarget}`,
        );
      }
    }
    const chain: ChainInfo = {
      chainId,
      chainVersion: 1,
      targets: targetIds.map((targetId) => ({ targetId, publicState: PublicState.Serving })),
    };
    addChain(draft, chain);
    result.push(chain);
  }
  const previous = draft.chainTables.get(request.chainTableId);
  const chainTable: ChainTable = {
    chainTableId: request.chainTableId,
    chainTableVersion: (previous?.chainTableVersion ?? 0) + 1,
    chains: request.chains.map((chain) => chain.chainId),
  };
  draft.putChainTable(chainTable);
  return { chainTable, chains: result };
}
