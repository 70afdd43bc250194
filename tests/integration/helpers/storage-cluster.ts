// Starts a real cluster for storage integration tests: mgmtd_main on sqlite (one, or a primary and
// standbys), `admin init-cluster`, storage_main processes with their targets, and `admin
// create-chain-table`; plus chunk I/O on its chains as every client does it (the cluster layer's
// ChunkClient), helpers to reach each target directly, and meta services on the same store for
// tests of the whole stack.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ChunkClient, MgmtdClient, RoutingCache } from '../../../src/cluster/index.js';
import { systemClock } from '../../../src/common/clock.js';
import { silentLogger } from '../../../src/common/logger.js';
import { seededRandom } from '../../../src/common/random.js';
import type { ChainInfo, RoutingInfo } from '../../../src/mgmtd/index.js';
import { RpcClient } from '../../../src/rpc/index.js';
import { storageMethods, type TargetCounters } from '../../../src/storage/index.js';
import { startMeta, writeMetaConfig, type MetaProcess } from './meta-cluster.js';
import { startMgmtd, writeMgmtdConfig, type MgmtdTimings, createChainTable } from './mgmtd-cluster.js';
import { eventually, type RunningProcess, type TestWorld } from './processes.js';

const secret = 'test-cluster-secret-0123456789';

/**
 * Timings for storage tests: fast heartbeats, and a heartbeat timeout long enough that a busy
 * machine does not fence a healthy storage process (it fences after half of it).
 */
export const storageTimings: MgmtdTimings = {
  leaseMs: 4_000,
  leaseRenewMs: 500,
  heartbeatIntervalMs: 200,
  heartbeatTimeoutMs: 2_500,
  chainUpdateMs: 200,
};

export interface StorageProcess {
  nodeId: number;
  configPath: string;
  targetIds: number[];
  process: RunningProcess;
  address: string;
}

export interface StorageClusterOptions {
  storageNodes: number;
  targetsPerNode: number;
  replicas: number;
  chunkSizeMaxBytes: number;
  /** mgmtd processes on the one store: the first becomes primary, the others standbys (default 1). */
  mgmtds?: number;
  /** Default `storageTimings`. */
  timings?: MgmtdTimings;
  /** Extra arguments of `admin init-cluster` (e.g. --chunk-size, --stripe). */
  initArgs?: string[];
  /** Extra lines of every storage process's [storage] section (e.g. chunk_engine, sync_writes). */
  storageSettings?: string;
}

/** Chunk I/O on the cluster's chains, with the routing cache it reads. */
export interface ChainIo {
  readonly chunks: ChunkClient;
  readonly routing: RoutingCache;
}

export interface MgmtdProcess {
  nodeId: number;
  configPath: string;
  process: RunningProcess;
  address: string;
}

/** The directory of target `targetId` of node `nodeId` under the cluster's directory. */
export function targetDirectory(dir: string, nodeId: number, targetId: number): string {
  return join(dir, `storage-${nodeId}`, `target-${targetId}`);
}

export class StorageCluster {
  readonly rpc: RpcClient;
  readonly mgmtdClient: MgmtdClient;
  /** Chunk I/O on the cluster's chains (see `newChainIo`), and its routing cache. */
  readonly client: ChunkClient;
  readonly routing: RoutingCache;
  readonly storage = new Map<number, StorageProcess>();
  readonly metas = new Map<number, MetaProcess>();
  readonly timings: MgmtdTimings;

  private constructor(
    readonly world: TestWorld,
    readonly dir: string,
    /** Every mgmtd, by index; a restarted one keeps its address. */
    readonly mgmtds: MgmtdProcess[],
    readonly secretFile: string,
    private readonly options: StorageClusterOptions,
  ) {
    this.timings = options.timings ?? storageTimings;
    this.rpc = new RpcClient({ clusterSecret: secret, logger: silentLogger() });
    this.mgmtdClient = this.newMgmtdClient();
    const io = this.newChainIo();
    this.client = io.chunks;
    this.routing = io.routing;
  }

  /**
   * Starts mgmtd (node ids 1000, 1001, …), the storage processes (node ids 1..n, targets
   * nodeId * 100 + i) and the chain table.
   */
  static async start(world: TestWorld, options: StorageClusterOptions): Promise<StorageCluster> {
    const dir = world.tempDir('3fs-storage-test-');
    const secretFile = world.secretFile(dir, secret);
    const configs = Array.from({ length: options.mgmtds ?? 1 }, (_, index) =>
      writeMgmtdConfig({
        dir,
        nodeId: 1000 + index,
        secretFile,
        databasePath: join(dir, 'mgmtd.db'),
        timings: options.timings ?? storageTimings,
      }),
    );
    const init = await world.runBinary('admin', [
      '--config',
      configs[0] as string,
      'init-cluster',
      ...(options.initArgs ?? []),
    ]);
    if (init.code !== 0) throw new Error(`init-cluster failed: ${init.stderr}`);
    const mgmtds: MgmtdProcess[] = [];
    for (const [index, configPath] of configs.entries()) {
      const started = await startMgmtd(world, configPath);
      // The first becomes primary; the next ones start only then, so they are standbys.
      if (index === 0) await started.process.waitForLog((line) => line['msg'] === 'became primary');
      mgmtds.push({ nodeId: 1000 + index, configPath, ...started });
    }
    const cluster = new StorageCluster(world, dir, mgmtds, secretFile, options);
    const started = [];
    for (let nodeId = 1; nodeId <= options.storageNodes; nodeId++) started.push(cluster.startStorage(nodeId));
    await Promise.all(started);
    await cluster.waitForRegisteredTargets();
    const created = await createChainTable(world, {
      mgmtdAddress: cluster.mgmtd.address,
      secretFile,
      replicas: options.replicas,
    });
    if (created.code !== 0) throw new Error(`create-chain-table failed: ${created.stderr}`);
    await cluster.waitForRouting(
      (routing) =>
        routing.chains.length > 0 &&
        routing.chains.every((chain) => chain.targets.every((target) => target.publicState === 'serving')),
      'every chain serving',
    );
    return cluster;
  }

  /** Writes the config of storage node `nodeId` (kept across restarts) and starts it. */
  async startStorage(nodeId: number): Promise<StorageProcess> {
    const targetIds = Array.from(
      { length: this.options.targetsPerNode },
      (_, index) => nodeId * 100 + index + 1,
    );
    const configPath = join(this.dir, `storage-${nodeId}.toml`);
    const targets = targetIds
      .map((targetId) => `{ id = ${targetId}, path = "${targetDirectory(this.dir, nodeId, targetId)}" }`)
      .join(', ');
    writeFileSync(
      configPath,
      `[node]
id = ${nodeId}
listen = "127.0.0.1:0"

[cluster]
id = "test"
secret_file = "${this.secretFile}"

[mgmtd]
addresses = ${JSON.stringify(this.mgmtdAddresses())}
heartbeat_interval_ms = ${this.timings.heartbeatIntervalMs}
heartbeat_timeout_ms = ${this.timings.heartbeatTimeoutMs}
timeout_ms = 1000

[storage]
targets = [${targets}]
chunk_size_max_bytes = ${this.options.chunkSizeMaxBytes}
free_space_reserve_bytes = 0
${this.options.storageSettings ?? ''}

[log]
level = "info"
`,
    );
    const running = this.world.spawnBinary('storage_main', ['--config', configPath]);
    const line = await running.waitForLog((entry) => entry['msg'] === 'storage listening');
    const handle: StorageProcess = {
      nodeId,
      configPath,
      targetIds,
      process: running,
      address: String(line['address']),
    };
    this.storage.set(nodeId, handle);
    return handle;
  }

  /** The first mgmtd (the primary unless a test made another one primary). */
  get mgmtd(): MgmtdProcess {
    return this.mgmtds[0] as MgmtdProcess;
  }

  /** Every mgmtd's address, as services and clients are configured with them. */
  mgmtdAddresses(): string[] {
    return this.mgmtds.map((handle) => handle.address);
  }

  /** Starts mgmtd `index` again (after it was killed) on the address it had. */
  async restartMgmtd(index: number): Promise<MgmtdProcess> {
    const handle = this.mgmtds[index];
    if (handle === undefined) throw new Error(`no mgmtd ${index}`);
    const config = readFileSync(handle.configPath, 'utf8');
    writeFileSync(handle.configPath, config.replace(/^listen = ".*"$/m, `listen = "${handle.address}"`));
    const started = await startMgmtd(this.world, handle.configPath);
    const restarted = { ...handle, ...started };
    this.mgmtds[index] = restarted;
    return restarted;
  }

  /**
   * Starts meta service `nodeId` on the cluster's store (again, after a kill, with the config it
   * had), knowing every mgmtd; `metaToml` adds lines to its [meta] section.
   */
  async startMeta(nodeId: number, metaToml = ''): Promise<MetaProcess> {
    const known = this.metas.get(nodeId);
    const configPath =
      known?.configPath ??
      writeMetaConfig({
        dir: this.dir,
        nodeId,
        secretFile: this.secretFile,
        databasePath: join(this.dir, 'mgmtd.db'),
        mgmtdAddress: this.mgmtdAddresses(),
        metaToml,
      });
    const started = await startMeta(this.world, configPath);
    this.metas.set(nodeId, started);
    return started;
  }

  /** A new mgmtd client on the test's RPC client. */
  newMgmtdClient(): MgmtdClient {
    return new MgmtdClient({
      addresses: this.mgmtdAddresses(),
      rpc: this.rpc,
      clock: systemClock,
      logger: silentLogger(),
      timeoutMs: 2_000,
    });
  }

  /**
   * A new chunk client with a routing cache of its own (fetched on first use, refreshed when an
   * operation fails), under the client's default deadlines: patient enough to ride out a replica's
   * death, which mgmtd notices within its heartbeat timeout.
   */
  newChainIo(): ChainIo {
    const routing = new RoutingCache({
      source: this.newMgmtdClient(),
      clock: systemClock,
      logger: silentLogger(),
    });
    const chunks = new ChunkClient({
      rpc: this.rpc,
      routing,
      clock: systemClock,
      logger: silentLogger(),
      random: seededRandom(Math.floor(systemClock.nowMs()) % 0x7fff_ffff),
    });
    return { chunks, routing };
  }

  /** Chain `chainId` as the cluster's chunk client's routing info shows it (fetched first if none). */
  chain(chainId: number): Promise<ChainInfo> {
    return this.routing.requireChain(chainId);
  }

  /** Polls routing info until `check` holds. */
  async waitForRouting(
    check: (routing: RoutingInfo) => boolean,
    what: string,
    timeoutMs = 15_000,
  ): Promise<RoutingInfo> {
    return eventually(
      async () => {
        const routing = await this.mgmtdClient.refreshRoutingInfo();
        return check(routing) ? routing : undefined;
      },
      timeoutMs,
      what,
    );
  }

  /** Every target's counters so far, as its storage process reports them. */
  async targetCounters(): Promise<Map<number, TargetCounters>> {
    const counters = new Map<number, TargetCounters>();
    for (const handle of this.storage.values()) {
      const listed = await this.rpc.call(handle.address, storageMethods.listTargets, {});
      for (const target of listed.targets) counters.set(target.targetId, target.counters);
    }
    return counters;
  }

  /** The address of the storage process serving `targetId`. */
  addressOf(targetId: number): string {
    const handle = [...this.storage.values()].find((candidate) => candidate.targetIds.includes(targetId));
    if (handle === undefined) throw new Error(`no storage process serves target ${targetId}`);
    return handle.address;
  }

  async close(): Promise<void> {
    await this.rpc.close();
  }

  private async waitForRegisteredTargets(): Promise<void> {
    const expected = this.options.storageNodes * this.options.targetsPerNode;
    await this.waitForRouting(
      (routing) => routing.targets.filter((target) => target.localState === 'up-to-date').length === expected,
      `${expected} registered targets`,
    );
  }
}
