/**
 * A storage process's life in the cluster: opens its targets' chunk stores, serves the storage
 * methods, rejoins the cluster (routing info first, heartbeats only once its targets are shown
 * down, see fencing.ts), reports each target's local state and disk usage in heartbeats, follows
 * routing info, and fences itself (stops serving, then `onFenced`, which exits) when mgmtd has
 * been unreachable for half the heartbeat timeout or routing info shows one of its targets
 * offline or lastsrv. It drives recovery of the syncing successors of its targets and receives
 * recovery as a syncing target (recovery/), and reports a target whose disk failed offline
 * (disk-health.ts) while its other targets keep serving. A target that starts empty as its
 * chain's last serving target is reported offline too, until routing info shows it otherwise.
 */
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hostname } from 'node:os';
import { HeartbeatLoop, MgmtdClient, RoutingCache } from '../cluster/index.js';
import type { Clock, TimerHandle } from '../common/clock.js';
import { FsError, assert, describeError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { Logger } from '../common/logger.js';
import type { MetricsRegistry } from '../common/metrics/index.js';
import { openFilesLimit } from '../common/open-files-limit.js';
import { StorageCode } from '../common/status-code.js';
import { LocalState, PublicState, type RoutingInfo } from '../mgmtd/protocol/index.js';
import { storageMethods } from './protocol/index.js';
import type { RpcClient, RpcServer } from '../rpc/index.js';
import type { StorageConfig } from './config.js';
import { ChunkOperationMetrics } from './chunk-operation-metrics.js';
import { ChunkLocks } from './craq/chunk-locks.js';
import { Forwarder } from './craq/forwarder.js';
import { Replicator } from './craq/replicator.js';
import {
  fenceReason,
  freshStoreRefusal,
  initialLocalState,
  isAliveInChain,
  mgmtdLost,
  nextLocalState,
  targetsNotYetDown,
} from './fencing.js';
import { DiskHealthMonitor, reportingIoErrors } from './disk-health.js';
import { SyncReceiver } from './recovery/sync-receiver.js';
import { RecoveryManager, type SyncingSuccessor, type TargetRecovery } from './recovery/target-recovery.js';
import { SharedSync } from './shared-sync.js';
import { ReadChannels } from './read-channels.js';
import { StorageService } from './storage-service.js';
import type { StorageStats } from './storage-metrics.js';
import { TargetRegistry, newCounters, type StorageTarget } from './storage-target.js';
import type { ChunkStore } from './store/chunk-store.js';
import { FileChunkStore } from './store/file-chunk-store.js';
import { NativeChunkStore, type NativeChunkStoreOptions } from './store/native-chunk-store.js';
import type { FreeSpaceProbe } from './store/free-space.js';

export interface StorageNodeOptions {
  readonly config: StorageConfig;
  readonly rpcServer: RpcServer;
  readonly rpcClient: RpcClient;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Called once when the process must fence itself; storage_main exits there. */
  readonly onFenced: (reason: string) => void;
  /** Free-space probe per target directory (statfs when absent). */
  readonly freeSpace?: (path: string) => FreeSpaceProbe;
  /** Drives recovery of syncing successors (the RecoveryManager when absent). */
  readonly recovery?: TargetRecovery;
  /** Checks a target's disk (probeTargetDisk when absent). */
  readonly diskProbe?: (path: string) => Promise<void>;
  /** Opens a target's chunk store (the store `[storage] chunk_engine` names when absent). */
  readonly openStore?: (options: NativeChunkStoreOptions) => Promise<ChunkStore>;
  /** Where the errors and latencies of chunk operations go; none are recorded without it. */
  readonly metrics?: MetricsRegistry;
}

export class StorageNode {
  private readonly logger: Logger;
  private readonly mgmtd: MgmtdClient;
  private readonly routing: RoutingCache;
  private readonly replicator: Replicator;
  private readonly recovery: TargetRecovery;
  private readonly diskHealth: DiskHealthMonitor;
  private heartbeat: HeartbeatLoop | undefined;
  /** Connections whose reads the chunk engine answers (read-channels.ts); none without it. */
  private readChannels: ReadChannels | undefined;
  private fencingTimer: TimerHandle | undefined;
  private usageTimer: TimerHandle | undefined;
  private joined = false;
  private fenced = false;
  private stopped = false;
  private readonly stopController = new AbortController();

  private constructor(
    private readonly options: StorageNodeOptions,
    private readonly targets: TargetRegistry,
  ) {
    const { config, rpcClient, clock, logger } = options;
    this.logger = logger.child({ nodeId: config.node.id });
    this.mgmtd = new MgmtdClient({
      addresses: config.mgmtd.addresses,
      rpc: rpcClient,
      clock,
      logger: this.logger,
      timeoutMs: config.mgmtd.timeout_ms,
    });
    this.routing = new RoutingCache({ source: this.mgmtd, clock, logger: this.logger });
    this.replicator = new Replicator({
      targets,
      routing: this.routing,
      forwarder: new Forwarder(rpcClient),
      clock,
      logger: this.logger,
      chunkSizeMaxBytes: config.storage.chunk_size_max_bytes,
    });
    this.recovery =
      options.recovery ??
      new RecoveryManager({
        nodeId: config.node.id,
        targets,
        routing: this.routing,
        replicator: this.replicator,
        rpc: rpcClient,
        clock,
        logger: this.logger,
        bandwidthBytesPerSecond: config.storage.recovery_bandwidth_bytes_per_s,
        concurrency: config.storage.recovery_concurrency,
        chunkSizeMaxBytes: config.storage.chunk_size_max_bytes,
      });
    this.diskHealth = new DiskHealthMonitor({
      targets: () => this.targets.all(),
      clock,
      logger: this.logger,
      intervalMs: config.storage.disk_check_interval_ms,
      ...(options.diskProbe === undefined ? {} : { probe: options.diskProbe }),
      // mgmtd hears of the failure with the next heartbeat, sent at once.
      onFailure: () => void this.heartbeat?.beat().catch(() => undefined),
    });
    this.routing.onUpdate((routing) => this.followRouting(routing));
  }

  /** Opens every target's chunk store and registers the storage methods on the RPC server. */
  static async open(options: StorageNodeOptions): Promise<StorageNode> {
    const { config, logger } = options;
    const targets = new TargetRegistry();
    // Store I/O errors reach the disk health monitor, which exists once the node does.
    let suspect: (targetId: number) => void = () => undefined;
    try {
      for (const { id, path } of config.storage.targets) {
        targets.add(await openTarget(options, id, path, (targetId) => suspect(targetId)));
        logger.info({ targetId: id, path, ...targets.get(id).store.totals() }, 'target opened');
      }
    } catch (error) {
      await Promise.all(targets.all().map((target) => target.store.close()));
      throw error;
    }
    const node = new StorageNode(options, targets);
    suspect = (targetId) => node.diskHealth.suspect(targetId);
    const serving = (): boolean => node.joined && !node.fenced && !node.stopped;
    const chunkMetrics = new ChunkOperationMetrics(options.metrics, options.clock);
    node.readChannels = ReadChannels.start({
      targets,
      routing: node.routing,
      serving,
      tokens: options.rpcServer.tokenVerifier,
      readBytesMax: limits.storageReadChannelBytesMax,
      clock: options.clock,
      logger: node.logger,
    });
    ReadChannels.register(options.rpcServer, node.readChannels);
    new StorageService({
      nodeId: config.node.id,
      targets,
      routing: node.routing,
      replicator: node.replicator,
      chunkSizeMaxBytes: config.storage.chunk_size_max_bytes,
      logger: node.logger,
      chunkMetrics,
      serving,
    }).register(options.rpcServer);
    new SyncReceiver({
      targets,
      routing: node.routing,
      clock: options.clock,
      logger: node.logger,
      chunkSizeMaxBytes: config.storage.chunk_size_max_bytes,
      chunkMetrics,
      serving,
      onSyncDone: (targetId) => node.markUpToDate(targetId),
    }).register(options.rpcServer);
    options.rpcServer.handle(
      storageMethods.recoveryProgress,
      async () => ({ nodeId: config.node.id, recoveries: node.recovery.progress() }),
      'admin',
    );
    return node;
  }

  /** Starts rejoining the cluster in the background, advertising `address`. */
  start(address: string): void {
    this.diskHealth.start();
    void this.join(address).catch((error: unknown) => {
      if (this.stopped) return;
      this.logger.fatal({ err: error }, `rejoining the cluster failed: ${describeError(error)}`);
      this.fence(`rejoining the cluster failed: ${describeError(error)}`);
    });
  }

  /** Recovery's sync-done: the target holds every committed chunk and reports up-to-date. */
  markUpToDate(targetId: number): void {
    const target = this.targets.get(targetId);
    target.localState = LocalState.UpToDate;
    this.clearFreshMarker(target);
  }

  /**
   * Each target's counters, what recovery copied to it, its last measured disk usage and the writes
   * waiting for its chunk locks, and the recoveries this process drives.
   */
  stats(): StorageStats {
    return {
      targets: this.targets.all().map((target) => ({
        targetId: target.targetId,
        counters: { ...target.counters },
        recovered: { ...target.recovered },
        usage: target.usage,
        lockWaiters: target.locks.waitingCount(),
      })),
      recoveries: this.recovery.progress(),
    };
  }

  /** Stops heartbeats and timers and closes the chunk stores (after the RPC server has drained). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopController.abort(new FsError(StorageCode.TargetNotServing, 'storage node is stopping'));
    this.fencingTimer?.cancel();
    this.usageTimer?.cancel();
    this.diskHealth.stop();
    this.replicator.stopSettling();
    this.readChannels?.stop();
    await this.recovery.stop();
    await this.heartbeat?.stop();
    await Promise.all(this.targets.all().map((target) => target.store.close()));
  }

  // --- joining ---------------------------------------------------------------------------

  private async join(address: string): Promise<void> {
    const routing = await this.waitUntilTargetsDown();
    if (this.stopped) return;
    for (const target of this.targets.all()) {
      const refusal = freshStoreRefusal(routing, target.targetId, target.freshStore === true);
      if (refusal !== undefined && target.diskFailure === undefined) {
        target.diskFailure = refusal;
        target.freshStoreRefused = true;
        target.localState = LocalState.Offline;
        this.logger.error({ targetId: target.targetId }, refusal);
      }
      if (target.diskFailure === undefined) target.localState = initialLocalState(routing, target.targetId);
    }
    await this.refreshUsage();
    const { config, clock } = this.options;
    this.heartbeat = new HeartbeatLoop({
      mgmtd: this.mgmtd,
      clock,
      logger: this.logger,
      clusterId: config.cluster.id,
      node: {
        nodeId: config.node.id,
        type: 'storage',
        address,
        hostname: config.node.hostname ?? hostname(),
        tags: config.node.tags,
      },
      intervalMs: config.mgmtd.heartbeat_interval_ms,
      targets: () =>
        this.targets.all().map((target) => ({
          targetId: target.targetId,
          localState: target.localState,
          usedBytes: target.usage.usedBytes,
          capacityBytes: target.usage.capacityBytes,
        })),
      onRoutingInfo: (latest) => this.routing.update(latest),
    });
    this.joined = true;
    this.logger.info(
      {
        targets: this.targets
          .all()
          .map((target) => ({ targetId: target.targetId, localState: target.localState })),
      },
      'heartbeats start',
    );
    this.heartbeat.start();
    this.routing.update(routing);
    this.followRouting(routing);
    this.replicator.startSettling();
    this.scheduleFencingCheck();
    this.scheduleUsageRefresh();
  }

  /** Polls routing info until no target of this process is shown alive in a chain (fencing.ts). */
  private async waitUntilTargetsDown(): Promise<RoutingInfo> {
    const { clock, config } = this.options;
    // No heartbeats yet, so nothing announces new routing info: it is polled once per interval.
    const pollMs = config.mgmtd.heartbeat_interval_ms;
    for (let round = 0; ; round++) {
      try {
        const routing = await this.mgmtd.refreshRoutingInfo();
        const waiting = targetsNotYetDown(routing, this.targets.ids());
        if (waiting.length === 0) return routing;
        if (round % 20 === 0) {
          this.logger.info(
            { waitingFor: waiting, routingVersion: routing.routingVersion },
            'restarted: waiting for mgmtd to show the targets offline before sending heartbeats',
          );
        }
      } catch (error) {
        if (round % 20 === 0)
          this.logger.warn({ err: error }, `cannot fetch routing info: ${describeError(error)}`);
      }
      await clock.sleep(pollMs, this.stopController.signal);
    }
  }

  // --- following routing info -------------------------------------------------------------

  private followRouting(routing: RoutingInfo): void {
    if (!this.joined || this.fenced || this.stopped) return;
    this.readmitRefusedTargets(routing);
    // A target whose disk failed reported itself offline: routing info showing it so is expected.
    const healthy = this.targets.all().filter((target) => target.diskFailure === undefined);
    const reason = fenceReason(routing, healthy);
    if (reason !== undefined) {
      this.fence(reason);
      return;
    }
    for (const target of healthy) {
      const routed = routing.targets.find((candidate) => candidate.targetId === target.targetId);
      target.localState = nextLocalState(target.localState, routed?.publicState);
      if (isAliveInChain(routing, target.targetId)) target.seenAlive = true;
      if (routed?.publicState === PublicState.Serving) this.clearFreshMarker(target);
    }
    this.recovery.syncingSuccessors(this.syncingSuccessors(routing, healthy));
  }

  /** The target holds its chain's data now (recovery done, or serving): it is no longer fresh. */
  private clearFreshMarker(target: StorageTarget): void {
    if (target.freshStore !== true) return;
    target.freshStore = false;
    void rm(join(target.path, freshMarkerName), { force: true }).catch((error: unknown) =>
      this.logger.warn({ err: error, targetId: target.targetId }, 'cannot remove the fresh-store marker'),
    );
  }

  /**
   * A target refused because it started empty as its chain's last serving target rejoins once
   * routing info shows it otherwise (an operator ran `admin rotate-lastsrv`, so it is `offline` at
   * the end of its chain): like any returning target it reports online and goes through recovery,
   * which refills it from its predecessor. The store it opened is the empty one it started with.
   */
  private readmitRefusedTargets(routing: RoutingInfo): void {
    for (const target of this.targets.all()) {
      if (target.freshStoreRefused !== true) continue;
      if (freshStoreRefusal(routing, target.targetId, true) !== undefined) continue;
      target.freshStoreRefused = false;
      delete target.diskFailure;
      target.localState = initialLocalState(routing, target.targetId);
      this.logger.warn(
        { targetId: target.targetId, routingVersion: routing.routingVersion, localState: target.localState },
        "the empty target is no longer its chain's last serving target: it rejoins through recovery",
      );
      // mgmtd hears of it with the next heartbeat, sent at once.
      void this.heartbeat?.beat().catch(() => undefined);
    }
  }

  /** Each syncing target that directly follows a healthy target of this process. */
  private syncingSuccessors(
    routing: RoutingInfo,
    healthy: readonly { targetId: number }[],
  ): SyncingSuccessor[] {
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

  // --- fencing and usage ------------------------------------------------------------------

  private scheduleFencingCheck(): void {
    if (this.stopped || this.fenced) return;
    const timeoutMs = this.options.config.mgmtd.heartbeat_timeout_ms;
    this.fencingTimer = this.options.clock.setTimer(Math.max(10, Math.floor(timeoutMs / 10)), () => {
      const unreachableForMs = this.heartbeat?.unreachableForMs() ?? 0;
      if (mgmtdLost(unreachableForMs, timeoutMs)) {
        this.fence(
          `mgmtd unreachable for ${Math.round(unreachableForMs)} ms, half the heartbeat timeout of ${timeoutMs} ms`,
        );
        return;
      }
      this.scheduleFencingCheck();
    });
  }

  private fence(reason: string): void {
    if (this.fenced) return;
    this.fenced = true;
    this.fencingTimer?.cancel();
    this.usageTimer?.cancel();
    this.diskHealth.stop();
    this.replicator.stopSettling();
    void this.recovery.stop();
    void this.heartbeat?.stop();
    this.logger.fatal({ reason }, 'fenced: this storage process stops serving and exits');
    this.options.onFenced(reason);
  }

  private scheduleUsageRefresh(): void {
    if (this.stopped || this.fenced) return;
    this.usageTimer = this.options.clock.setTimer(this.options.config.mgmtd.heartbeat_interval_ms, () => {
      void this.refreshUsage().finally(() => this.scheduleUsageRefresh());
    });
  }

  private async refreshUsage(): Promise<void> {
    for (const target of this.targets.all()) {
      if (target.diskFailure !== undefined) continue;
      try {
        target.usage = await target.store.diskUsage();
      } catch (error) {
        this.logger.warn(
          { err: error, targetId: target.targetId },
          `cannot measure disk usage: ${describeError(error)}`,
        );
      }
    }
  }
}

async function openTarget(
  options: StorageNodeOptions,
  targetId: number,
  path: string,
  onIoError: (targetId: number) => void,
): Promise<StorageTarget> {
  const { config, clock, logger } = options;
  // The counters object exists before the store, whose corruption reports increment it.
  const counters = newCounters();
  const engine = await chunkEngineOf(path, config.storage.chunk_engine);
  const openStore =
    options.openStore ??
    (engine === 'native'
      ? (storeOptions: NativeChunkStoreOptions) => NativeChunkStore.open(storeOptions)
      : (storeOptions: NativeChunkStoreOptions) => FileChunkStore.open(storeOptions));
  // A store that started empty stays fresh across restarts until it holds its chain's data, so a
  // second restart cannot pass the empty store off as a full one (freshStoreRefusal).
  const freshStore = (await isMissingOrEmpty(path)) || (await exists(join(path, freshMarkerName)));
  if (freshStore) {
    await mkdir(path, { recursive: true });
    await writeFile(join(path, freshMarkerName), 'this target started empty and has not caught up yet\n');
  }
  const store = await openStore({
    targetId,
    path,
    durable: config.storage.sync_writes,
    directWrites: config.storage.direct_writes,
    directReads: config.storage.direct_reads,
    readRing: config.storage.io_uring,
    freeSpaceReserveBytes: config.storage.free_space_reserve_bytes,
    readHandlesMax: readHandlesPerTarget(openFilesLimit(), config.storage.targets.length),
    logger,
    ...(options.freeSpace === undefined ? {} : { freeSpace: options.freeSpace(path) }),
    onCorruption: () => {
      counters.checksumFailures += 1;
    },
  });
  const reporting = reportingIoErrors(store, () => onIoError(targetId));
  return {
    targetId,
    path,
    store: reporting,
    syncs: new SharedSync(
      () => reporting.sync(),
      () => {
        counters.syncs += 1;
      },
    ),
    freshStore,
    locks: new ChunkLocks({ clock, waitersMax: config.storage.chunk_lock_waiters_max }),
    localState: LocalState.Online,
    seenAlive: false,
    usage: await store.diskUsage(),
    counters,
    recovered: { chunks: 0, bytes: 0 },
  };
}

/**
 * The chunk engine of the target at `path`: the configured one, or when none is configured, the
 * `files` store for a directory that already holds one (created before `native` became the
 * default) and `native` for any other.
 */
export async function chunkEngineOf(
  path: string,
  configured: 'native' | 'files' | undefined,
): Promise<'native' | 'files'> {
  if (configured !== undefined) return configured;
  return (await exists(join(path, filesStoreMarkerName))) ? 'files' : 'native';
}

/** The metadata database every `files` chunk store keeps in its target directory. */
const filesStoreMarkerName = 'chunks.db';

/** The marker of a target that started empty and has not yet caught up with its chain. */
export const freshMarkerName = 'FRESH';

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/** True when the target directory does not exist or holds nothing (a new or replaced disk). */
async function isMissingOrEmpty(path: string): Promise<boolean> {
  try {
    return (await readdir(path)).length === 0;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw error;
  }
}

/**
 * Data files each target keeps open for reads: a share of the open-file limit divided over the
 * targets, within the configured bounds, so cached handles never take the descriptors that
 * sockets and writes need.
 */
export function readHandlesPerTarget(openFilesSoftLimit: number, targetCount: number): number {
  assert(targetCount >= 1, 'a storage node has at least one target');
  const share = Math.floor((openFilesSoftLimit * limits.storageReadHandlesLimitShare) / targetCount);
  return Math.min(
    limits.storageReadHandlesPerTargetMax,
    Math.max(limits.storageReadHandlesPerTargetMin, share),
  );
}
