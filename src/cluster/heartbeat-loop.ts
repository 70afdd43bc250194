/**
 * The heartbeat every service sends to the mgmtd primary: registration, liveness, and (for
 * storage) the local state and usage of each target. It also keeps the node's routing info fresh
 * (fetched whenever the primary reports a newer version) and tells its owner how long mgmtd has
 * been unreachable, which storage uses for fencing.
 */
import type { Clock, TimerHandle } from '../common/clock.js';
import { describeError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import {
  mgmtdMethods,
  type HeartbeatTarget,
  type NodeType,
  type RoutingInfo,
} from '../mgmtd/protocol/index.js';
import type { MgmtdClient } from './mgmtd-client.js';

export interface HeartbeatLoopOptions {
  mgmtd: MgmtdClient;
  clock: Clock;
  logger: Logger;
  clusterId: string;
  node: { nodeId: number; type: NodeType; address: string; hostname: string; tags: string[] };
  intervalMs: number;
  /** The targets to report on each beat (storage); absent for other node types. */
  targets?: () => HeartbeatTarget[];
  /** Called with fresh routing info whenever its version grows. */
  onRoutingInfo?: (routing: RoutingInfo) => void;
}

export class HeartbeatLoop {
  private timer: TimerHandle | undefined;
  private stopped = false;
  private lastSuccessMonotonicMs: number;
  private inFlight: Promise<void> | undefined;

  constructor(private readonly options: HeartbeatLoopOptions) {
    this.lastSuccessMonotonicMs = options.clock.monotonicMs();
  }

  /** Sends the first heartbeat at once, then one per interval. */
  start(): void {
    this.schedule(0);
  }

  /** Stops beating and waits for a beat in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    await this.inFlight;
  }

  /** Milliseconds since the last heartbeat mgmtd acknowledged (or since start). */
  unreachableForMs(): number {
    return this.options.clock.monotonicMs() - this.lastSuccessMonotonicMs;
  }

  /** Sends one heartbeat now and refreshes routing info if it is stale. */
  async beat(): Promise<void> {
    const { mgmtd, clusterId, node } = this.options;
    const { routingVersion } = await mgmtd.call(
      mgmtdMethods.heartbeat,
      { clusterId, node, targets: this.options.targets?.() ?? [] },
      { timeoutMs: this.options.intervalMs * 2 },
    );
    this.lastSuccessMonotonicMs = this.options.clock.monotonicMs();
    const cached = mgmtd.cachedRoutingInfo();
    if (cached === undefined || cached.routingVersion < routingVersion) {
      const routing = await mgmtd.refreshRoutingInfo();
      this.options.onRoutingInfo?.(routing);
    }
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = this.options.clock.setTimer(delayMs, () => {
      this.inFlight = this.beat().then(
        () => this.schedule(this.options.intervalMs),
        (error: unknown) => {
          this.options.logger.warn({ err: error }, `heartbeat to mgmtd failed: ${describeError(error)}`);
          this.schedule(this.options.intervalMs);
        },
      );
    });
  }
}
