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
import type { Endpoint } from './network.js';
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
  /** Every routing info published, by version (the checker reads the history). */
  routingChanges = 0;

  constructor(
    private readonly scheduler: SimScheduler,
    private readonly timings: SimTimings,
  ) {}

  /** Builds chain table 1 from the registered storage targets (the operator's create-chain-table). */
  createChainTable(replicas: number): void {
    this.mutate((draft) => createChainTable(draft, { chainTableId: 1, replicas }));
  }

  routing(): RoutingInfo {
    return toRoutingInfo('sim', this.state, this.liveness);
  }

  /** Starts as primary: every known node gets a full timeout from now, and a new routing version. */
  start(): void {
    this.alive = true;
    this.incarnation += 1;
    const nowMs = this.scheduler.nowMs();
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

  async handle(method: string, body: unknown): Promise<unknown> {
    switch (method) {
      case 'heartbeat':
        return this.heartbeat(body as HeartbeatRequest);
      case 'getRouting':
        return this.routing();
      default:
        throw new Error(`mgmtd has no method ${method}`);
    }
  }

  private heartbeat(request: HeartbeatRequest): HeartbeatReply {
    this.liveness.lastHeartbeatMs.set(request.node.nodeId, this.scheduler.nowMs());
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
    const incarnation = this.incarnation;
    this.chainTimer = this.scheduler.setTimer(this.timings.chainUpdateMs, () => {
      if (!this.alive || this.incarnation !== incarnation) return;
      this.liveness.lastHeartbeatMs.set(mgmtdNodeId, this.scheduler.nowMs());
      this.mutate((draft) =>
        applyTimeoutsAndChains(draft, {
          nowMs: this.scheduler.nowMs(),
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
