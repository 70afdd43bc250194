// The simulated cluster manager: the real state code of mgmtd (StateDraft, applyHeartbeat,
// applyTimeoutsAndChains with the target state table, toRoutingInfo, createChainTable) behind
// simulated calls. Structural state is durable (it lives in the KV); liveness is memory only, so a
// restarted mgmtd gives every node a full heartbeat timeout again, as a new primary does.
import {
  applyHeartbeat,
  applyTimeoutsAndChains,
  StateDraft,
  toRoutingInfo,
  type HeartbeatNode,
  type Liveness,
} from '../../../src/mgmtd/cluster-state.js';
import { createChainTable } from '../../../src/mgmtd/chain/chain-table-ops.js';
import type { HeartbeatTarget, NodeInfo, RoutingInfo } from '../../../src/mgmtd/protocol/index.js';
import type { StoredState } from '../../../src/mgmtd/store/mgmtd-store.js';
import type { Endpoint, SimMessage } from './network.js';
import { ProcessClock, type ClockSkew } from './process-clock.js';
import type { SimScheduler } from './scheduler.js';
import type { SimTimings } from './timings.js';

export const mgmtdId = 'mgmtd';
const mgmtdNodeId = 1_000;

export interface HeartbeatRequest {
  node: HeartbeatNode;
  targets: HeartbeatTarget[];
  knownVersion: number;
}

export interface HeartbeatReply {
  routingVersion: number;
  /** Newer routing info when the caller's is older (the real loop fetches it with a second call). */
  routing: RoutingInfo | undefined;
}

export class SimMgmtd implements Endpoint {
  readonly id = mgmtdId;
  incarnation = 0;
  alive = true;
  private state: StoredState = { routingVersion: 1, nodes: [], targets: [], chains: [], chainTables: [] };
  private liveness: Liveness = { lastHeartbeatMs: new Map(), usage: new Map() };
  private chainTimer: { cancel(): void } | undefined;
  private routingOf: { state: StoredState; routing: RoutingInfo } | undefined;
  /** Every routing info published, by version (the checker reads the history). */
  routingChanges = 0;

  private clock: ProcessClock;

  constructor(
    private readonly scheduler: SimScheduler,
    private readonly timings: SimTimings,
    private readonly skew: ClockSkew,
  ) {
    this.clock = new ProcessClock(scheduler, skew, () => false);
  }

  /** Builds chain table 1 from the registered storage targets (the operator's create-chain-table). */
  createChainTable(replicas: number): void {
    this.mutate((draft) => createChainTable(draft, { chainTableId: 1, replicas }));
  }

  /**
   * The routing info of the current state. Built once per state: only the nodes' last heartbeat
   * times would differ, and nothing in the simulation reads them.
   */
  routing(): RoutingInfo {
    if (this.routingOf?.state !== this.state) {
      this.routingOf = { state: this.state, routing: toRoutingInfo('sim', this.state, this.liveness) };
    }
    return this.routingOf.routing;
  }

  /** Starts as primary: every known node gets a full timeout from now, and a new routing version. */
  start(): void {
    this.alive = true;
    this.incarnation += 1;
    const incarnation = this.incarnation;
    this.clock = new ProcessClock(
      this.scheduler,
      this.skew,
      () => this.alive && this.incarnation === incarnation,
    );
    const nowMs = this.clock.monotonicMs();
    this.liveness = {
      lastHeartbeatMs: new Map(this.state.nodes.map((node) => [node.nodeId, nowMs])),
      usage: new Map(),
    };
    this.mutate((draft) => {
      const self: NodeInfo = {
        nodeId: mgmtdNodeId,
        type: 'mgmtd',
        address: mgmtdId,
        hostname: 'sim',
        status: 'online',
        lastHeartbeatMs: 0,
        tags: ['primary', `term-${this.incarnation}`],
      };
      draft.putNode(self);
    });
    this.scheduleChainUpdate();
  }

  crash(): void {
    this.alive = false;
    this.chainTimer?.cancel();
  }

  async handle(method: string, message: SimMessage): Promise<SimMessage> {
    switch (method) {
      case 'heartbeat':
        return { body: this.heartbeat(message.body as HeartbeatRequest) };
      case 'getRouting':
        return { body: this.routing() };
      default:
        throw new Error(`mgmtd has no method ${method}`);
    }
  }

  private heartbeat(request: HeartbeatRequest): HeartbeatReply {
    this.liveness.lastHeartbeatMs.set(request.node.nodeId, this.clock.monotonicMs());
    const known = this.state.nodes.find((node) => node.nodeId === request.node.nodeId);
    const unchanged =
      known !== undefined &&
      known.status === 'online' &&
      request.targets.every(
        (reported) =>
          this.state.targets.find((target) => target.targetId === reported.targetId)?.localState ===
          reported.localState,
      );
    // An identical heartbeat changes nothing; the real primary runs the same code and finds no change.
    if (!unchanged) this.mutate((draft) => applyHeartbeat(draft, request.node, request.targets));
    const routingVersion = this.state.routingVersion;
    return { routingVersion, routing: request.knownVersion < routingVersion ? this.routing() : undefined };
  }

  private scheduleChainUpdate(): void {
    this.chainTimer = this.clock.setTimer(this.timings.chainUpdateMs, () => {
      this.liveness.lastHeartbeatMs.set(mgmtdNodeId, this.clock.monotonicMs());
      this.mutate((draft) =>
        applyTimeoutsAndChains(draft, {
          nowMs: this.clock.monotonicMs(),
          heartbeatTimeoutMs: this.timings.heartbeatTimeoutMs,
          lastHeartbeatMs: this.liveness.lastHeartbeatMs,
          selfNodeId: mgmtdNodeId,
        }),
      );
      this.scheduleChainUpdate();
    });
  }

  private mutate(change: (draft: StateDraft) => void): void {
    const draft = new StateDraft(this.state);
    change(draft);
    const changes = draft.changes();
    if (changes === undefined) return;
    this.state = draft.toState(changes.routingVersion);
    this.routingChanges += 1;
  }
}
