/**
 * A process's copy of routing info (DESIGN §7, §9), indexed for the data path: chains and targets
 * by id, the address of the node serving a target, the meta services. Clients, storage services
 * and the meta service's GC worker all keep theirs here. Only newer versions replace it. `refresh`
 * coalesces concurrent callers into one call to mgmtd, so a burst of failures caused by one chain
 * change costs one round trip. A client that sends no heartbeats (a library user) may also
 * refresh periodically; services and the FUSE daemon feed it from their heartbeat loops instead.
 */
import type { Clock, TimerHandle } from '../common/clock.js';
import { FsError, describeError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { ClientCode } from '../common/status-code.js';
import {
  NodeStatus,
  NodeType,
  type ChainInfo,
  type PublicState,
  type NodeInfo,
  type RoutingInfo,
  type TargetInfo,
} from '../mgmtd/protocol/index.js';
import type { MgmtdClient } from './mgmtd-client.js';

/** Where routing info comes from: MgmtdClient, or a stand-in in tests. */
export type RoutingSource = Pick<MgmtdClient, 'refreshRoutingInfo'>;

export class RoutingCache {
  private info: RoutingInfo | undefined;
  private chains = new Map<number, ChainInfo>();
  private targets = new Map<number, TargetInfo>();
  private nodes = new Map<number, NodeInfo>();
  private refreshing: Promise<RoutingInfo> | undefined;
  private timer: TimerHandle | undefined;
  private stopped = false;
  private readonly listeners: Array<(routing: RoutingInfo) => void> = [];

  constructor(
    private readonly options: {
      source: RoutingSource;
      clock: Clock;
      logger: Logger;
      /** Ask mgmtd for newer routing info this often; absent: only on demand. */
      refreshIntervalMs?: number;
    },
  ) {}

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

  /** Fetches newer routing info from mgmtd; concurrent callers share one call. */
  refresh(): Promise<RoutingInfo> {
    this.refreshing ??= this.options.source
      .refreshRoutingInfo()
      .then((routing) => {
        this.update(routing);
        return this.info ?? routing;
      })
      .finally(() => {
        this.refreshing = undefined;
      });
    return this.refreshing;
  }

  /** The routing info, fetched first when none is held yet. */
  async ready(): Promise<RoutingInfo> {
    return this.info ?? (await this.refresh());
  }

  /** Starts the periodic refresh, if an interval was given. */
  start(): void {
    const intervalMs = this.options.refreshIntervalMs;
    if (intervalMs === undefined || this.stopped) return;
    this.timer = this.options.clock.setTimer(intervalMs, () => {
      this.refresh().then(
        () => this.start(),
        (error: unknown) => {
          this.options.logger.debug({ err: error }, `routing refresh failed: ${describeError(error)}`);
          this.start();
        },
      );
    });
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
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

  /** The chain, refreshing once when it is unknown; ChainNotFound-like failure as RoutingUnavailable. */
  async requireChain(chainId: number): Promise<ChainInfo> {
    if (!this.chains.has(chainId)) await this.refresh();
    const chain = this.chains.get(chainId);
    if (chain === undefined) {
      throw new FsError(ClientCode.RoutingUnavailable, `chain ${chainId} is not in the routing info`);
    }
    return chain;
  }

  /** The address of the node serving `targetId`, when routing info knows it. */
  addressOfTarget(targetId: number): string | undefined {
    const target = this.targets.get(targetId);
    return target === undefined ? undefined : this.nodes.get(target.nodeId)?.address;
  }

  /** Addresses of the meta services, online ones first. */
  metaAddresses(): string[] {
    const metas = [...this.nodes.values()].filter((node) => node.type === NodeType.Meta);
    const online = metas.filter((node) => node.status === NodeStatus.Online);
    const offline = metas.filter((node) => node.status !== NodeStatus.Online);
    return [...online, ...offline].map((node) => node.address);
  }
}
