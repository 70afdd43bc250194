/**
 * The space statfs reports: what files can use, not what the disks hold. Every chunk is stored
 * once on each target of its chain, so a chain holds as much as its smallest target and has as
 * much free as its fullest one; the file system's space is the sum over the chains of the chain
 * tables files are placed on. Summing the targets instead would count every byte once per
 * replica (three times over with replication 3). Pure, for statfs and its tests.
 */
import type { RoutingInfo, TargetInfo } from '../mgmtd/protocol/index.js';

/** Usable bytes: what the chains can hold, what is in use, and what is free. */
export interface UsableSpace {
  capacityBytes: number;
  usedBytes: number;
  freeBytes: number;
}

/** The usable space of the chains in `routing`'s chain tables (zero without routing info). */
export function usableSpace(routing: RoutingInfo | undefined): UsableSpace {
  const space: UsableSpace = { capacityBytes: 0, usedBytes: 0, freeBytes: 0 };
  if (routing === undefined) return space;
  const targets = new Map(routing.targets.map((target) => [target.targetId, target]));
  const chains = new Map(routing.chains.map((chain) => [chain.chainId, chain]));
  const counted = new Set<number>();
  for (const table of routing.chainTables) {
    for (const chainId of table.chains) {
      if (counted.has(chainId)) continue;
      counted.add(chainId);
      const members = (chains.get(chainId)?.targets ?? [])
        .map((member) => targets.get(member.targetId))
        .filter((target): target is TargetInfo => target !== undefined && target.capacityBytes > 0);
      if (members.length === 0) continue;
      const capacityBytes = Math.min(...members.map((target) => target.capacityBytes));
      const freeBytes = Math.min(
        capacityBytes,
        ...members.map((target) => Math.max(0, target.capacityBytes - target.usedBytes)),
      );
      space.capacityBytes += capacityBytes;
      space.freeBytes += freeBytes;
      space.usedBytes += capacityBytes - freeBytes;
    }
  }
  return space;
}
