/**
 * mgmtd: one primary by lease in the KV, standbys ready to take over. The primary holds the
 * cluster state in memory, persists every structural change (under its lease term) before it
 * becomes visible, times out silent nodes, applies the target state table to every chain and
 * serves versioned routing info. A standby answers NotPrimary and heartbeats to the primary.
 */
import { hostname } from 'node:os';
import type { Clock, TimerHandle } from '../common/clock.js';
import { FsError, assert, describeError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { metricDefs, type MetricsRegistry } from '../common/metrics/index.js';
import { MgmtdCode } from '../common/status-code.js';
import type { KvEngine } from '../kv/index.js';
import type { RpcClient, RpcServer } from '../rpc/index.js';
import {
  applyHeartbeat,
  applyTimeoutsAndChains,
  StateDraft,
  toRoutingInfo,
  type Liveness,
} from './cluster-state.js';
import { createChainTable, uploadChainTable } from './chain/chain-table-ops.js';
import { rotateLastServingTarget } from './chain/last-serving-rotation.js';
import type { MgmtdConfig } from './config.js';
import { registerUserHandlers } from './users/user-handlers.js';
import { NodeStatus, NodeType, PublicState, mgmtdMethods, type NodeInfo } from './protocol/index.js';
import {
  acquireOrRenewLease,
  loadState,
  readCluster,
  readLease,
  releaseLease,
  saveChanges,
  type LeaseHolder,
  type StoredState,
} from './store/mgmtd-store.js';

/** The node types a user token may heartbeat as: clients and gateways, never a server. */
const clientNodeTypes: ReadonlySet<string> = new Set([NodeType.Client, NodeType.Fuse, 'nfs', 's3']);

interface PrimaryRole {
  holder: LeaseHolder;
  state: StoredState;
  liveness: Liveness;
  /** Monotonic time until which this process may act as primary without a renewal. */
  validUntilMonotonicMs: number;
}

export interface MgmtdServerOptions {
  config: MgmtdConfig;
  kv: KvEngine;
  rpcServer: RpcServer;
  rpcClient: RpcClient;
  clock: Clock;
  logger: Logger;
  /** The address other nodes reach this mgmtd at. */
  address: string;
  /** Where the cluster-state gauges and heartbeat counts go; none when absent. */
  metrics?: MetricsRegistry;
}

export class MgmtdServer {
  private primary: PrimaryRole | undefined;
  private clusterId: string;
  private mutations: Promise<unknown> = Promise.resolve();
  private leaseTimer: TimerHandle | undefined;
  private chainTimer: TimerHandle | undefined;
  private stopped = false;
  private warnedUninitialized = false;
  private readonly settings: MgmtdConfig['mgmtd'];
  private readonly nodeId: number;
  private readonly logger: Logger;
  private heartbeatCount: ((type: string) => void) | undefined;

  constructor(private readonly options: MgmtdServerOptions) {
    this.settings = options.config.mgmtd;
    this.nodeId = options.config.node.id;
    this.clusterId = options.config.cluster.id;
    this.logger = options.logger.child({ nodeId: this.nodeId });
  }

  /** Registers the RPC handlers and starts the lease and chain-update loops. */
  start(): void {
    this.registerHandlers();
    this.registerMetrics();
    this.scheduleLease(0);
  }

  /** Gauges computed from the primary's state when read; a standby reports no cluster state. */
  private registerMetrics(): void {
    const registry = this.options.metrics;
    if (registry === undefined) return;
    const heartbeats = registry.counter(metricDefs.mgmtdHeartbeats);
    this.heartbeatCount = (type) => heartbeats.inc({ type });
    // The gauge with the collect function is registered first, so its collect runs before the
    // others are read: one collect sets them all, from one consistent state.
    registry.gauge(metricDefs.mgmtdPrimary, (primary) => {
      primary.set(this.primary === undefined ? 0 : 1);
      for (const gauge of stateGauges) gauge.reset();
      const state = this.primary?.state;
      if (state === undefined) return;
      routingVersion.set(state.routingVersion);
      for (const node of state.nodes) nodes.inc({ type: node.type, status: node.status });
      for (const target of state.targets) {
        targets.inc({ state: target.publicState });
        const labels = { target: String(target.targetId), chain: String(target.chainId) };
        targetState.set({ ...labels, state: target.publicState }, 1);
      }
      for (const health of ['full', 'degraded', 'unavailable']) chains.set({ health }, 0);
      for (const chain of state.chains) {
        const serving = chain.targets.filter((target) => target.publicState === PublicState.Serving).length;
        const health = serving === chain.targets.length ? 'full' : serving > 0 ? 'degraded' : 'unavailable';
        chains.inc({ health });
      }
    });
    const stateGauges = [
      registry.gauge(metricDefs.mgmtdRoutingVersion),
      registry.gauge(metricDefs.mgmtdNodes),
      registry.gauge(metricDefs.mgmtdTargets),
      registry.gauge(metricDefs.mgmtdTargetState),
      registry.gauge(metricDefs.mgmtdChains),
    ] as const;
    const [routingVersion, nodes, targets, targetState, chains] = stateGauges;
  }

  /** Stops the loops, waits for pending writes and gives the lease up for a fast takeover. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.leaseTimer?.cancel();
    this.chainTimer?.cancel();
    await this.mutations.catch(() => undefined);
    const primary = this.primary;
    this.primary = undefined;
    if (primary !== undefined) {
      await releaseLease(this.options.kv, primary.holder).catch((error: unknown) =>
        this.logger.warn({ err: error }, 'could not release the lease; a standby takes over when it expires'),
      );
    }
  }

  /** True while this process acts as primary. */
  isPrimary(): boolean {
    return this.currentPrimary() !== undefined;
  }

  private currentPrimary(): PrimaryRole | undefined {
    const primary = this.primary;
    if (primary === undefined) return undefined;
    if (this.options.clock.monotonicMs() > primary.validUntilMonotonicMs) {
      this.stepDown('the lease was not renewed in time');
      return undefined;
    }
    return primary;
  }

  private requirePrimary(): PrimaryRole {
    const primary = this.currentPrimary();
    if (primary === undefined) {
      throw new FsError(
        MgmtdCode.NotPrimary,
        `mgmtd ${this.nodeId} at ${this.options.address} is not the primary`,
      );
    }
    return primary;
  }

  private stepDown(reason: string): void {
    if (this.primary === undefined) return;
    this.logger.warn({ reason }, 'stepping down as primary');
    this.primary = undefined;
    this.chainTimer?.cancel();
  }

  // --- lease ----------------------------------------------------------------------------

  private scheduleLease(delayMs: number): void {
    if (this.stopped) return;
    this.leaseTimer = this.options.clock.setTimer(delayMs, () => {
      this.leaseRound().then(
        () => this.scheduleLease(this.settings.lease_renew_ms),
        (error: unknown) => {
          this.logger.error({ err: error }, `lease round failed: ${describeError(error)}`);
          this.scheduleLease(this.settings.lease_renew_ms);
        },
      );
    });
  }

  private async leaseRound(): Promise<void> {
    const { kv, clock } = this.options;
    const cluster = await kv.read((tx) => readCluster(tx));
    if (cluster === undefined) {
      if (!this.warnedUninitialized)
        this.logger.warn('the cluster is not initialized yet: run "admin init-cluster"');
      this.warnedUninitialized = true;
      return;
    }
    if (cluster.clusterId !== this.clusterId) {
      this.logger.fatal(
        { configured: this.clusterId, stored: cluster.clusterId },
        'the metadata store belongs to another cluster; check [cluster] id and [kv]',
      );
      this.stepDown('cluster id mismatch');
      return;
    }
    const startedMonotonicMs = clock.monotonicMs();
    const lease = await acquireOrRenewLease(kv, {
      nodeId: this.nodeId,
      address: this.options.address,
      nowMs: clock.nowMs(),
      leaseMs: this.settings.lease_ms,
    });
    if (this.stopped) return;
    if (lease.nodeId !== this.nodeId) {
      this.stepDown(`mgmtd ${lease.nodeId} holds the lease`);
      await this.heartbeatToPrimary(lease.address);
      return;
    }
    // Counted from before the transaction started, with a margin for clock rate differences, so
    // this process stops acting as primary before any standby may consider the lease expired.
    const validUntilMonotonicMs = startedMonotonicMs + this.settings.lease_ms * 0.8;
    if (this.primary !== undefined && this.primary.holder.term === lease.term) {
      this.primary.validUntilMonotonicMs = validUntilMonotonicMs;
      return;
    }
    await this.becomePrimary({ nodeId: this.nodeId, term: lease.term }, validUntilMonotonicMs);
  }

  private async becomePrimary(holder: LeaseHolder, validUntilMonotonicMs: number): Promise<void> {
    const { kv, clock } = this.options;
    const stored = await loadState(kv);
    const nowMs = clock.nowMs();
    // Every known node gets a full timeout from the takeover before it can be declared offline.
    const liveness: Liveness = {
      lastHeartbeatMs: new Map(stored.nodes.map((node) => [node.nodeId, nowMs])),
      usage: new Map(),
    };
    const draft = new StateDraft(stored);
    const self: NodeInfo = {
      nodeId: this.nodeId,
      type: NodeType.Mgmtd,
      address: this.options.address,
      hostname: this.options.config.node.hostname ?? hostname(),
      status: NodeStatus.Online,
      lastHeartbeatMs: 0,
      tags: ['primary', ...this.options.config.node.tags],
    };
    for (const node of draft.nodes.values()) {
      if (node.type === NodeType.Mgmtd && node.nodeId !== this.nodeId && node.tags.includes('primary')) {
        draft.putNode({ ...node, tags: node.tags.filter((tag) => tag !== 'primary') });
      }
    }
    draft.putNode(self);
    // The takeover always publishes a new routing version, so every cached copy is refreshed.
    const changes = draft.changes();
    assert(changes !== undefined, 'a takeover always records the new primary');
    await saveChanges(kv, holder, changes);
    this.primary = {
      holder,
      state: draft.toState(changes.routingVersion),
      liveness,
      validUntilMonotonicMs,
    };
    this.logger.info({ term: holder.term, routingVersion: changes.routingVersion }, 'became primary');
    this.scheduleChainUpdate();
  }

  private async heartbeatToPrimary(primaryAddress: string): Promise<void> {
    try {
      await this.options.rpcClient.call(
        primaryAddress,
        mgmtdMethods.heartbeat,
        {
          clusterId: this.clusterId,
          node: {
            nodeId: this.nodeId,
            type: NodeType.Mgmtd,
            address: this.options.address,
            hostname: this.options.config.node.hostname ?? hostname(),
            tags: ['standby', ...this.options.config.node.tags],
          },
          targets: [],
        },
        { timeoutMs: this.settings.heartbeat_interval_ms, retries: 0 },
      );
    } catch (error) {
      this.logger.debug({ err: error, primaryAddress }, 'standby heartbeat to the primary failed');
    }
  }

  // --- state changes --------------------------------------------------------------------

  /**
   * Runs `change` on a draft of the primary's state and persists what it changed, one change at a
   * time. Nothing becomes visible before it is durable under this primary's lease term.
   */
  private mutate<T>(change: (draft: StateDraft, primary: PrimaryRole) => T): Promise<T> {
    const run = async (): Promise<T> => {
      const primary = this.requirePrimary();
      const draft = new StateDraft(primary.state);
      const result = change(draft, primary);
      const changes = draft.changes();
      if (changes === undefined) return result;
      try {
        await saveChanges(this.options.kv, primary.holder, changes);
      } catch (error) {
        if (error instanceof FsError && error.code === MgmtdCode.NotPrimary) this.stepDown(error.message);
        throw error;
      }
      // Re-check after the await: the role may have changed while the write was in flight.
      if (this.primary === primary) primary.state = draft.toState(changes.routingVersion);
      return result;
    };
    const next = this.mutations.then(run, run);
    this.mutations = next.catch(() => undefined);
    return next;
  }

  private scheduleChainUpdate(): void {
    if (this.stopped) return;
    this.chainTimer?.cancel();
    this.chainTimer = this.options.clock.setTimer(this.settings.chain_update_interval_ms, () => {
      if (this.currentPrimary() === undefined) return;
      this.mutate((draft, primary) => {
        const nowMs = this.options.clock.nowMs();
        primary.liveness.lastHeartbeatMs.set(this.nodeId, nowMs);
        applyTimeoutsAndChains(draft, {
          nowMs,
          heartbeatTimeoutMs: this.settings.heartbeat_timeout_ms,
          lastHeartbeatMs: primary.liveness.lastHeartbeatMs,
          selfNodeId: this.nodeId,
        });
      }).then(
        () => this.scheduleChainUpdate(),
        (error: unknown) => {
          this.logger.error({ err: error }, `chain update failed: ${describeError(error)}`);
          this.scheduleChainUpdate();
        },
      );
    });
  }

  // --- RPC ------------------------------------------------------------------------------

  private registerHandlers(): void {
    const { rpcServer, kv, clock } = this.options;
    registerUserHandlers({ server: rpcServer, kv, clock });
    rpcServer.handle(
      mgmtdMethods.getPrimary,
      async () => {
        const lease = await kv.read((tx) => readLease(tx));
        if (lease === undefined || lease.expiresAtMs <= clock.nowMs()) return { primary: null };
        return {
          primary: { nodeId: lease.nodeId, address: lease.address, leaseExpiresAtMs: lease.expiresAtMs },
        };
      },
      'user',
    );

    rpcServer.handle(
      mgmtdMethods.heartbeat,
      async (request, context) => {
        if (
          context.caller.kind === 'user' &&
          (!clientNodeTypes.has(request.node.type) || request.targets.length > 0)
        ) {
          throw new FsError(
            MgmtdCode.HeartbeatRejected,
            `a user token heartbeats only as a client (fuse, client, nfs or s3 node without targets), not as a ${request.node.type} node`,
          );
        }
        if (request.clusterId !== this.clusterId) {
          throw new FsError(
            MgmtdCode.ClusterIdMismatch,
            `node ${request.node.nodeId} belongs to cluster "${request.clusterId}", this is "${this.clusterId}"`,
          );
        }
        if (request.node.nodeId === this.nodeId) {
          throw new FsError(MgmtdCode.HeartbeatRejected, `node id ${this.nodeId} is this mgmtd's own id`);
        }
        this.heartbeatCount?.(request.node.type);
        return this.mutate((draft, primary) => {
          // Liveness first, inside the serialized change, so no chain update in between can judge
          // this node by its previous heartbeat.
          primary.liveness.lastHeartbeatMs.set(request.node.nodeId, clock.nowMs());
          for (const target of request.targets) {
            primary.liveness.usage.set(target.targetId, {
              usedBytes: target.usedBytes,
              capacityBytes: target.capacityBytes,
            });
          }
          applyHeartbeat(draft, request.node, request.targets);
        }).then(() => ({ routingVersion: this.requirePrimary().state.routingVersion }));
      },
      'user',
    );

    rpcServer.handle(
      mgmtdMethods.getRoutingInfo,
      async (request) => {
        const primary = this.requirePrimary();
        if (request.knownVersion >= primary.state.routingVersion) return { routingInfo: null };
        return { routingInfo: toRoutingInfo(this.clusterId, primary.state, primary.liveness) };
      },
      'user',
    );

    rpcServer.handle(
      mgmtdMethods.createChainTable,
      async (request) => this.mutate((draft) => createChainTable(draft, request)),
      'admin',
    );

    rpcServer.handle(
      mgmtdMethods.uploadChainTable,
      async (request) => this.mutate((draft) => uploadChainTable(draft, request)),
      'admin',
    );

    rpcServer.handle(
      mgmtdMethods.rotateLastServing,
      async (request) => {
        const rotation = await this.mutate((draft) => rotateLastServingTarget(draft, request));
        this.logger.warn(
          {
            chainId: rotation.chain.chainId,
            chainVersion: rotation.chain.chainVersion,
            previousLastServing: rotation.previousLastServing,
            nextLastServing: rotation.nextLastServing,
          },
          'rotated the last serving target of a chain by operator request: writes only it acknowledged are lost',
        );
        return rotation;
      },
      'admin',
    );
  }
}
