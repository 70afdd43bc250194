// A simulated storage service with one target, built from the shipped storage code: the replicator
// (replicator-core.ts and its driver replicator.ts, with the forwarder), the storage service's
// request handlers, recovery on both sides (RecoveryManager with chain-sync.ts, SyncReceiver), chunk
// locks and routing view. Around them the simulation supplies what the real process gets from the
// machine: a disk (sim-chunk-store.ts), the network (sim-rpc.ts) and a skewed clock
// (process-clock.ts). The process's life in the cluster (rejoin, heartbeats, following routing
// info, fencing) follows storage-node.ts step by step with its decisions taken by fencing.ts.
//
// A crash drops the incarnation: its pending versions, locks, routing info and every suspended
// operation (they wait on calls, timers and disk writes that never end for a dead incarnation).
import { assert } from '../../../src/common/errors.js';
import { limits } from '../../../src/common/limits.js';
import type { Logger } from '../../../src/common/logger.js';
import { seededRandom, type Random } from '../../../src/common/random.js';
import { LocalState, PublicState, type RoutingInfo } from '../../../src/mgmtd/protocol/index.js';
import { ChunkOperationMetrics } from '../../../src/storage/chunk-operation-metrics.js';
import { ChunkLocks } from '../../../src/storage/craq/chunk-locks.js';
import { Forwarder } from '../../../src/storage/craq/forwarder.js';
import { Replicator } from '../../../src/storage/craq/replicator.js';
import {
  fenceReason,
  freshStoreRefusal,
  initialLocalState,
  isAliveInChain,
  mgmtdLost,
  nextLocalState,
  targetsNotYetDown,
} from '../../../src/storage/fencing.js';
import { SyncReceiver } from '../../../src/storage/recovery/sync-receiver.js';
import { RecoveryManager, type SyncingSuccessor } from '../../../src/storage/recovery/target-recovery.js';
import { RoutingCache } from '../../../src/cluster/index.js';
import { SharedSync } from '../../../src/storage/shared-sync.js';
import { StorageService } from '../../../src/storage/storage-service.js';
import { TargetRegistry, newCounters, type StorageTarget } from '../../../src/storage/storage-target.js';
import { formatChunkId, type ChunkId } from '../../../src/storage/protocol/index.js';
import { mgmtdId, type HeartbeatReply, type HeartbeatRequest } from './mgmtd-model.js';
import type { Endpoint, SimMessage, SimNetwork } from './network.js';
import { ProcessClock, type ClockSkew } from './process-clock.js';
import type { SimScheduler } from './scheduler.js';
import { SimChunkStore, SimDisk, type SimStoreFaults, type StoredChunk } from './sim-chunk-store.js';
import { SimRpcClient, SimRpcServer } from './sim-rpc.js';
import { countingLogger, type LogCounts } from './counting-logger.js';
import type { SimTimings } from './timings.js';

/** Counters the test reports, to show the schedules exercise what they claim to. */
export interface StorageStats {
  recoveriesDone: number;
  chunksSynced: number;
  fenced: number;
  readonly log: LogCounts;
  /** Broken invariants the replicator reported from the background. */
  readonly brokenInvariants: string[];
}

/** Everything one incarnation of the process holds (a crash forgets it). */
interface Incarnation {
  readonly clock: ProcessClock;
  readonly rpc: SimRpcClient;
  readonly server: SimRpcServer;
  readonly routing: RoutingCache;
  readonly target: StorageTarget;
  readonly store: SimChunkStore;
  readonly replicator: Replicator;
  readonly recovery: RecoveryManager;
  joined: boolean;
  fenced: boolean;
  lastHeartbeatOkMs: number;
}

export function storageEndpointId(nodeId: number): string {
  return `s${nodeId}`;
}

export class SimStorageNode implements Endpoint {
  readonly id: string;
  incarnation = 0;
  alive = false;
  disk: SimDisk;
  readonly stats: StorageStats;
  /** Whether the next local write of a pending version fails (a transient I/O error, a full disk). */
  prepareFails: () => boolean = () => false;
  private process: Incarnation | undefined;
  /** The disk was replaced by an empty one since the last start (storage-node's freshStore). */
  private freshDisk = false;
  private readonly logger: Logger;
  private readonly random: Random;

  constructor(
    readonly nodeId: number,
    readonly targetId: number,
    private readonly scheduler: SimScheduler,
    private readonly network: SimNetwork,
    private readonly timings: SimTimings,
    private readonly options: {
      readonly seed: number;
      readonly skew: ClockSkew;
      readonly durable: boolean;
      /** Called when the process fences itself and exits; the cluster restarts it later. */
      readonly onExit: (node: SimStorageNode) => void;
      /** Called after anything the checker looks at may have changed (disk, state, routing). */
      readonly onChange: () => void;
    },
  ) {
    this.id = storageEndpointId(nodeId);
    this.disk = this.newDisk();
    const log = { settled: 0, localWriteFailures: 0, repaired: 0, recoveryPasses: 0, wholeChunkFallbacks: 0 };
    this.stats = { recoveriesDone: 0, chunksSynced: 0, fenced: 0, log, brokenInvariants: [] };
    this.logger = countingLogger(log);
    this.random = seededRandom(options.seed);
  }

  // --- life cycle -------------------------------------------------------------------------

  private newDisk(): SimDisk {
    const disk = new SimDisk(this.options.durable);
    disk.onChange = this.options.onChange;
    return disk;
  }

  start(): void {
    assert(!this.alive, 'a running node is not started again');
    this.incarnation += 1;
    this.alive = true;
    const freshStore = this.freshDisk;
    this.freshDisk = false;
    const process = this.build(freshStore);
    this.process = process;
    void this.join(process);
  }

  /** The process dies (kill -9): memory is gone, the disk keeps what the kernel holds. */
  crash(): void {
    this.alive = false;
    this.disk.processCrash(this.random);
  }

  /** The machine loses power: the disk keeps what was synced and a prefix of the rest. */
  powerLoss(): void {
    this.alive = false;
    this.disk.machineCrash(this.random);
  }

  /** The target's disk fails: from now on it reports offline and serves nothing (the process lives on). */
  failDisk(): void {
    const process = this.process;
    if (!this.alive || process === undefined || process.target.diskFailure !== undefined) return;
    process.target.diskFailure = 'the simulated disk failed';
    process.target.localState = LocalState.Offline;
    process.recovery.syncingSuccessors([]);
  }

  /** A stopped node gets a new, empty disk (it comes back through recovery). */
  replaceDisk(): void {
    assert(!this.alive, 'a disk is replaced while its service is down');
    this.disk = this.newDisk();
    this.freshDisk = true;
  }

  diskFailed(): boolean {
    return this.process?.target.diskFailure !== undefined;
  }

  /** True when the node answers reads and writes (StorageService's serving check). */
  serving(): boolean {
    return this.alive && this.process !== undefined && this.process.joined && !this.process.fenced;
  }

  /** The node's own view of its target's public state. */
  viewedState(): PublicState | undefined {
    return this.process?.routing.publicState(this.targetId);
  }

  localState(): LocalState | undefined {
    return this.process?.target.localState;
  }

  recoveriesRunning(): number {
    return (this.process?.recovery.progress() ?? []).filter(
      (progress) => progress.phase === 'planning' || progress.phase === 'copying',
    ).length;
  }

  /** Chunks with a pending version in the running incarnation. */
  pendingCount(): number {
    const process = this.process;
    if (process === undefined || !this.alive) return 0;
    return process.store
      .list({ after: undefined, limit: 1 << 20 })
      .filter((info) => info.pending !== undefined).length;
  }

  hasPending(chunkId: ChunkId): boolean {
    const process = this.process;
    return process !== undefined && this.alive && process.store.hasPending(chunkId);
  }

  /** The chunk's committed bytes on the disk (undefined: it does not exist). */
  committed(chunkId: ChunkId): StoredChunk | undefined {
    return this.disk.current.get(formatChunkId(chunkId));
  }

  async handle(method: string, message: SimMessage): Promise<SimMessage> {
    const process = this.process;
    assert(process !== undefined && this.alive, 'a message reaches a running node');
    return process.server.dispatch(method, message, 'sim');
  }

  private build(freshStore: boolean): Incarnation {
    const incarnation = this.incarnation;
    const alive = (): boolean => this.alive && this.incarnation === incarnation;
    const clock = new ProcessClock(this.scheduler, this.options.skew, alive);
    const rpc = new SimRpcClient(this.network, this.id, clock, seededRandom(this.random.nextU32()));
    const server = new SimRpcServer(this.id);
    const routing = new RoutingCache({
      source: {
        refreshRoutingInfo: () =>
          rpc.callSim<RoutingInfo>(mgmtdId, 'getRouting', {}, this.timings.heartbeatIntervalMs * 2),
      },
      clock,
      logger: this.logger,
    });
    const faults: SimStoreFaults = {
      prepareFails: () => this.prepareFails(),
      latencyMs: () => (this.random.nextInt(4) === 0 ? this.random.nextInt(4) : 0),
    };
    const store = new SimChunkStore(this.disk, clock, faults, alive);
    const target: StorageTarget = {
      targetId: this.targetId,
      path: `/sim/${this.id}`,
      store,
      locks: new ChunkLocks({ clock, waitersMax: limits.storageChunkLockWaitersMax }),
      syncs: new SharedSync(() => store.sync()),
      localState: LocalState.Online,
      seenAlive: false,
      usage: { usedBytes: 0, capacityBytes: 1 << 30, freeBytes: 1 << 30 },
      counters: newCounters(),
      recovered: { chunks: 0, bytes: 0 },
      freshStore,
    };
    const targets = new TargetRegistry();
    targets.add(target);
    const replicator = new Replicator({
      targets,
      routing,
      forwarder: new Forwarder(rpc),
      clock,
      logger: this.logger,
      chunkSizeMaxBytes: this.timings.chunkSizeBytes,
      settleIntervalMs: this.timings.settleIntervalMs,
      forwardMarginMs: this.timings.forwardMarginMs,
      backgroundTimeoutMs: this.timings.writeTimeoutMs,
      onBrokenInvariant: (error) =>
        this.stats.brokenInvariants.push(`${this.id}: ${error.stack ?? error.message}`),
    });
    const process: Incarnation = {
      clock,
      rpc,
      server,
      routing,
      target,
      store,
      replicator,
      recovery: new RecoveryManager({
        nodeId: this.nodeId,
        targets,
        routing,
        replicator,
        rpc,
        clock,
        logger: this.logger,
        bandwidthBytesPerSecond: 1 << 30,
        concurrency: this.timings.recoveryConcurrency,
        chunkSizeMaxBytes: this.timings.chunkSizeBytes,
        timings: {
          chunkTimeoutMs: this.timings.recoveryChunkTimeoutMs,
          chunkAttemptsMax: this.timings.recoveryChunkAttemptsMax,
          retryMs: this.timings.recoveryRetryMs,
          forwardMarginMs: this.timings.forwardMarginMs,
        },
      }),
      joined: false,
      fenced: false,
      lastHeartbeatOkMs: 0,
    };
    const serving = (): boolean => alive() && process.joined && !process.fenced;
    const chunkMetrics = new ChunkOperationMetrics(undefined, clock);
    new StorageService({
      nodeId: this.nodeId,
      targets,
      routing,
      replicator,
      chunkSizeMaxBytes: this.timings.chunkSizeBytes,
      logger: this.logger,
      chunkMetrics,
      serving,
    }).register(server);
    new SyncReceiver({
      targets,
      routing,
      clock,
      logger: this.logger,
      chunkSizeMaxBytes: this.timings.chunkSizeBytes,
      chunkMetrics,
      serving,
      onSyncDone: () => {
        target.localState = LocalState.UpToDate;
        target.freshStore = false;
        this.stats.recoveriesDone += 1;
      },
    }).register(server);
    process.recovery.register(server);
    routing.onUpdate((latest) => {
      if (alive()) this.followRouting(process, latest);
    });
    const countCopies = server.dispatch.bind(server);
    server.dispatch = async (method, message, peer) => {
      const reply = await countCopies(method, message, peer);
      if (method === 'Storage.syncWrite') this.stats.chunksSynced += 1;
      return reply;
    };
    return process;
  }

  /** Resolves after `delayMs` of the process's time, never for a dead incarnation. */
  private sleep(process: Incarnation, delayMs: number): Promise<void> {
    return process.clock.sleep(delayMs);
  }

  /** storage-node.ts join: routing info first, heartbeats only once the target is shown down. */
  private async join(process: Incarnation): Promise<void> {
    let routing: RoutingInfo | undefined;
    for (;;) {
      try {
        routing = await process.routing.refresh().then(() => process.routing.current());
        if (routing !== undefined && targetsNotYetDown(routing, [this.targetId]).length === 0) break;
      } catch {
        // mgmtd unreachable: poll again
      }
      await this.sleep(process, this.timings.heartbeatIntervalMs);
    }
    const { target } = process;
    const refusal = freshStoreRefusal(routing, this.targetId, target.freshStore === true);
    if (refusal !== undefined) {
      target.diskFailure = refusal;
      target.freshStoreRefused = true;
      target.localState = LocalState.Offline;
    }
    if (target.diskFailure === undefined) target.localState = initialLocalState(routing, this.targetId);
    process.joined = true;
    this.options.onChange();
    process.lastHeartbeatOkMs = process.clock.monotonicMs();
    void this.beat(process);
    this.followRouting(process, routing);
    process.replicator.startSettling();
    this.scheduleFencingCheck(process);
  }

  private async beat(process: Incarnation): Promise<void> {
    const { target } = process;
    const request: HeartbeatRequest = {
      node: { nodeId: this.nodeId, type: 'storage', address: this.id, hostname: 'sim', tags: [] },
      targets: [{ targetId: this.targetId, localState: target.localState, usedBytes: 0, capacityBytes: 0 }],
      knownVersion: process.routing.current()?.routingVersion ?? 0,
    };
    try {
      const reply = await process.rpc.callSim<HeartbeatReply>(
        mgmtdId,
        'heartbeat',
        request,
        this.timings.heartbeatIntervalMs * 2,
      );
      process.lastHeartbeatOkMs = process.clock.monotonicMs();
      if (reply.routing !== undefined) process.routing.update(reply.routing);
    } catch {
      // counted by the fencing check through the time since the last success
    }
    if (!process.fenced)
      process.clock.setTimer(this.timings.heartbeatIntervalMs, () => void this.beat(process));
  }

  private scheduleFencingCheck(process: Incarnation): void {
    process.clock.setTimer(this.timings.heartbeatTimeoutMs / 10, () => {
      if (process.fenced) return;
      const unreachableForMs = process.clock.monotonicMs() - process.lastHeartbeatOkMs;
      if (mgmtdLost(unreachableForMs, this.timings.heartbeatTimeoutMs)) {
        this.fence(process);
        return;
      }
      this.scheduleFencingCheck(process);
    });
  }

  /** Stops serving and exits, as storage_main does when fenced. */
  private fence(process: Incarnation): void {
    if (process.fenced) return;
    process.fenced = true;
    this.stats.fenced += 1;
    this.crash();
    this.options.onExit(this);
  }

  // --- routing info (storage-node.ts followRouting) ---------------------------------------------

  private followRouting(process: Incarnation, routing: RoutingInfo): void {
    this.options.onChange();
    if (!process.joined || process.fenced) return;
    const { target } = process;
    if (target.freshStoreRefused === true && freshStoreRefusal(routing, this.targetId, true) === undefined) {
      target.freshStoreRefused = false;
      delete target.diskFailure;
      target.localState = initialLocalState(routing, this.targetId);
    }
    // A target whose disk failed reported itself offline: routing info showing it so is expected.
    const healthy = target.diskFailure === undefined ? [target] : [];
    if (fenceReason(routing, healthy) !== undefined) {
      this.fence(process);
      return;
    }
    for (const member of healthy) {
      const routed = routing.targets.find((candidate) => candidate.targetId === member.targetId);
      member.localState = nextLocalState(member.localState, routed?.publicState);
      if (isAliveInChain(routing, member.targetId)) member.seenAlive = true;
      if (routed?.publicState === PublicState.Serving) member.freshStore = false;
    }
    process.recovery.syncingSuccessors(successorsIn(routing, healthy));
  }
}

/** storage-node.ts syncingSuccessors: each syncing target right behind a healthy local one. */
function successorsIn(routing: RoutingInfo, healthy: readonly { targetId: number }[]): SyncingSuccessor[] {
  const local = new Set(healthy.map((target) => target.targetId));
  const successors: SyncingSuccessor[] = [];
  for (const chain of routing.chains) {
    const writable = chain.targets.filter(
      (member) => member.publicState === PublicState.Serving || member.publicState === PublicState.Syncing,
    );
    writable.forEach((member, index) => {
      const previous = writable[index - 1];
      if (member.publicState !== PublicState.Syncing || previous === undefined) return;
      if (!local.has(previous.targetId)) return;
      successors.push({
        chainId: chain.chainId,
        chainVersion: chain.chainVersion,
        localTargetId: previous.targetId,
        syncingTargetId: member.targetId,
      });
    });
  }
  return successors;
}
