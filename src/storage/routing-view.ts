/**
 * The newest routing info a process holds, indexed for the lookups of the data path (chain by id,
 * target by id, a target's node address). Only newer versions replace it. `refresh` asks mgmtd
 * once for anything newer, coalescing concurrent callers into one call, so a burst of requests
 * with a newer chain version than ours costs one round trip.
 */
import type { ChainInfo, NodeInfo, PublicState, RoutingInfo, TargetInfo } from '../mgmtd/protocol/index.js';

export class RoutingView {
  private info: RoutingInfo | undefined;
  private chains = new Map<number, ChainInfo>();
  private targets = new Map<number, TargetInfo>();
  private nodes = new Map<number, NodeInfo>();
  private refreshing: Promise<void> | undefined;
  private readonly listeners: Array<(routing: RoutingInfo) => void> = [];

  constructor(private readonly fetchLatest: () => Promise<RoutingInfo>) {}

  /** Takes `routing` when it is newer than what is held; returns whether it did. */
  update(routing: RoutingInfo): boolean {
    if (this.info !== undefined && routing.routingVersion <= this.info.routingVersion) return false;
    this.info = routing;
    this.chains = new Map(routing.chains.map((chain) => [chain.chainId, chain]));
    this.targets = new Map(routing.targets.map((target) => [target.targetId, target]));
    this.nodes = new Map(routing.nodes.map((node) => [node.nodeId, node]));
    for (const listener of this.listeners) listener(routing);
    return true;
  }

  /** Calls `listener` with every newer routing info taken from now on. */
  onUpdate(listener: (routing: RoutingInfo) => void): void {
    this.listeners.push(listener);
  }

  /** Fetches newer routing info from mgmtd, one call at a time. */
  refresh(): Promise<void> {
    this.refreshing ??= this.fetchLatest()
      .then((routing) => {
        this.update(routing);
      })
      .finally(() => {
        this.refreshing = undefined;
      });
    return this.refreshing;
  }

  current(): RoutingInfo | undefined {
    return this.info;
  }

  chain(chainId: number): ChainInfo | undefined {
    return this.chains.get(chainId);
  }

  target(targetId: number): TargetInfo | undefined {
    return this.targets.get(targetId);
  }

  publicState(targetId: number): PublicState | undefined {
    return this.targets.get(targetId)?.publicState;
  }

  /** The address of the node serving `targetId`, when routing info knows it. */
  addressOfTarget(targetId: number): string | undefined {
    const target = this.targets.get(targetId);
    return target === undefined ? undefined : this.nodes.get(target.nodeId)?.address;
  }
}
