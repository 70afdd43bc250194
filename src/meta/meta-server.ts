/**
 * A running meta service: the operations (MetaService) served over RPC, registration with mgmtd
 * and heartbeats as a node of type "meta", routing info (chain tables for new files' layouts,
 * usable storage space for statfs) kept fresh by the heartbeat loop, and the GC worker that deletes
 * the chunks of removed and truncated files from storage (gc/), and the sweep of expired request
 * records (meta-service.ts) and of locks whose lease lapsed (locks/), and the trash cleaner that
 * purges expired items of the trash (trash/).
 */
import { hostname } from 'node:os';
import { HeartbeatLoop, type MgmtdClient } from '../cluster/index.js';
import type { Clock, TimerHandle } from '../common/clock.js';
import { describeError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { Logger } from '../common/logger.js';
import type { Random } from '../common/random.js';
import type { KvEngine } from '../kv/index.js';
import type { RoutingInfo } from '../mgmtd/protocol/index.js';
import type { RpcClient, RpcServer } from '../rpc/index.js';
import type { ChainTableView } from './chain-picker.js';
import type { MetaConfig } from './config.js';
import { GcWorker } from './gc/gc-worker.js';
import { sweepLapsedLocks } from './locks/lock-handlers.js';
import { MetaService } from './meta-service.js';
import { TrashCleaner } from './trash/trash-cleaner.js';
import { usableSpace } from './usable-space.js';
import type { DirectoryLayout } from './protocol/index.js';

export interface MetaServerOptions {
  config: MetaConfig;
  kv: KvEngine;
  rpcServer: RpcServer;
  mgmtd: MgmtdClient;
  clock: Clock;
  random: Random;
  logger: Logger;
  /** The address other nodes reach this service at. */
  address: string;
  /** The root directory's layout if this service creates it (from the cluster record). */
  rootLayout: DirectoryLayout;
  /** Calls to storage by the GC worker; no GC worker runs without it. */
  rpcClient?: RpcClient;
}

export class MetaServer {
  readonly service: MetaService;
  private readonly heartbeat: HeartbeatLoop;
  private readonly gc: GcWorker | undefined;
  private readonly trashCleaner: TrashCleaner | undefined;
  private refreshing: Promise<void> | undefined;
  private sweepTimer: TimerHandle | undefined;
  private sweeping: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly options: MetaServerOptions) {
    const { config, mgmtd } = options;
    const logger = options.logger.child({ nodeId: config.node.id });
    this.service = new MetaService({
      kv: options.kv,
      clock: options.clock,
      random: options.random,
      logger,
      rootSquash: {
        enabled: config.meta.root_squash,
        uid: config.meta.squash_uid,
        gid: config.meta.squash_gid,
      },
      inodeIdBatch: config.meta.inode_id_batch,
      chainTables: (chainTableId) => chainTableOf(mgmtd.cachedRoutingInfo(), chainTableId),
      refreshRouting: () => this.refreshRouting(),
      capacity: () => usableSpace(mgmtd.cachedRoutingInfo()),
    });
    this.heartbeat = new HeartbeatLoop({
      mgmtd,
      clock: options.clock,
      logger,
      clusterId: config.cluster.id,
      node: {
        nodeId: config.node.id,
        type: 'meta',
        address: options.address,
        hostname: config.node.hostname ?? hostname(),
        tags: config.node.tags,
      },
      intervalMs: config.mgmtd.heartbeat_interval_ms,
    });
    const gc = config.meta.gc;
    this.gc =
      gc.enabled && options.rpcClient !== undefined
        ? new GcWorker({
            kv: options.kv,
            rpc: options.rpcClient,
            mgmtd,
            clock: options.clock,
            logger,
            random: options.random,
            nodeId: config.node.id,
            intervalMs: gc.interval_ms,
            concurrency: gc.concurrency,
          })
        : undefined;
    this.trashCleaner = config.meta.trash.cleaner
      ? new TrashCleaner({
          service: this.service,
          clock: options.clock,
          logger,
          intervalMs: config.meta.trash.cleaner_interval_ms,
        })
      : undefined;
  }

  /** Creates the root directory if needed, serves the methods, starts heartbeats and the GC worker. */
  async start(): Promise<void> {
    await this.service.ensureRoot(this.options.rootLayout);
    this.service.register(this.options.rpcServer);
    this.heartbeat.start();
    this.gc?.start();
    this.trashCleaner?.start();
    this.scheduleSweep();
  }

  /** Stops the GC worker, the trash cleaner, the sweep and heartbeats (the RPC server and the KV are closed by their owner). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.sweepTimer?.cancel();
    await this.sweeping;
    await this.trashCleaner?.stop();
    await this.gc?.stop();
    await this.heartbeat.stop();
  }

  private scheduleSweep(): void {
    if (this.stopped) return;
    this.sweepTimer = this.options.clock.setTimer(limits.metaRequestSweepIntervalMs, () => {
      this.sweeping = this.service
        .sweepRequestRecords()
        .then(() => undefined)
        .catch((error: unknown) =>
          this.options.logger.warn(
            { err: error },
            `sweeping request records failed: ${describeError(error)}`,
          ),
        )
        .then(() => this.sweepLocks())
        .finally(() => this.scheduleSweep());
    });
  }

  /** Removes the locks of clients whose lease lapsed (meta/locks/lock-handlers.ts). */
  private async sweepLocks(): Promise<void> {
    try {
      const released = await sweepLapsedLocks({ kv: this.options.kv, clock: this.options.clock });
      if (released > 0) this.options.logger.info({ released }, 'removed locks of lapsed leases');
    } catch (error) {
      this.options.logger.warn({ err: error }, `sweeping lapsed locks failed: ${describeError(error)}`);
    }
  }

  /** Fetches routing info now; concurrent callers share one fetch. */
  private refreshRouting(): Promise<void> {
    this.refreshing ??= this.options.mgmtd
      .refreshRoutingInfo()
      .then(() => undefined)
      .finally(() => {
        this.refreshing = undefined;
      });
    return this.refreshing;
  }
}

function chainTableOf(routing: RoutingInfo | undefined, chainTableId: number): ChainTableView | undefined {
  return routing?.chainTables.find((table) => table.chainTableId === chainTableId);
}
