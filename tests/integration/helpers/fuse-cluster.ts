// Starts a whole cluster from the built binaries and mounts it: mgmtd_main on sqlite, `admin
// init-cluster`, meta_main, storage_main processes (one target each) with a replication-3 chain
// table, and hf3fs_fuse_main on a fresh mount point that every user can reach. `stop` always
// unmounts before anything is killed or removed, so a failing test never leaves a mount behind.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FsClient } from '../../../src/client/index.js';
import { silentLogger } from '../../../src/common/logger.js';
import { isMounted } from '../fuse-binding/harness.js';
import { skipWithout } from '../../helpers/requirements.js';
import { writeMetaConfig, startMeta, clusterSecret } from './meta-cluster.js';
import { startMgmtd, writeMgmtdConfig, createChainTable } from './mgmtd-cluster.js';
import { eventually, type RunningProcess, type TestWorld } from './processes.js';
import { storageTimings } from './storage-cluster.js';

/**
 * Why FUSE mount tests cannot run here, or undefined when they can (printed when skipping); under
 * CI=true a missing piece fails the test file instead.
 */
export function fuseClusterSkipReason(what: string): string | undefined {
  let reason: string | undefined;
  if (!existsSync('/dev/fuse')) reason = '/dev/fuse is missing (load the fuse module or pass the device in)';
  else if (!existsSync('dist/hf3fs_fuse_main.js')) reason = 'dist/ is not built (npm run build)';
  else if (process.geteuid?.() !== 0 && !existsSync('/usr/bin/fusermount3'))
    reason = 'not root and fusermount3 is missing (install fuse3)';
  skipWithout(`FUSE (for the ${what})`, reason);
  return reason;
}

/** True when root runs the tests: other users, chown and allow_other are available then. */
export const isRoot = process.geteuid?.() === 0;

/** Whether this user may mount with allow_other (root, or user_allow_other in /etc/fuse.conf). */
function mayAllowOther(): boolean {
  if (isRoot) return true;
  try {
    return /^\s*user_allow_other\s*$/m.test(readFileSync('/etc/fuse.conf', 'utf8'));
  } catch {
    return false;
  }
}

export interface FuseClusterOptions {
  storageNodes?: number;
  chunkSizeBytes?: number;
  stripe?: number;
  /** Extra lines for the [fuse] section. */
  fuseSettings?: string;
  /** Extra lines for every storage process's [storage] section (e.g. chunk_engine = "files"). */
  storageSettings?: string;
  /** Extra lines for meta's [meta] section (subsections such as [meta.trash] go last). */
  metaSettings?: string;
  /**
   * Secret files in place of the one holding the test secret: `cluster` for every process not
   * named here, `fuse` for the FUSE daemons, `storage` by storage node id (nodes that refuse others).
   * `client()` still proves the test secret, so mgmtd's file must accept it.
   */
  secretFiles?: { cluster?: string; fuse?: string; storage?: Readonly<Record<number, string>> };
}

export interface StorageNode {
  nodeId: number;
  targetId: number;
  process: RunningProcess;
}

export class FuseCluster {
  fuse: RunningProcess | undefined;
  private clients: FsClient[] = [];
  private readonly others: Array<{ fuse: RunningProcess; mountPoint: string }> = [];

  constructor(
    readonly world: TestWorld,
    readonly dir: string,
    readonly mountPoint: string,
    readonly mgmtdAddress: string,
    readonly secretFile: string,
    readonly storage: StorageNode[],
    readonly meta: RunningProcess,
    readonly mgmtd: RunningProcess,
    /** The FUSE daemons' secret file. */
    readonly fuseSecretFile: string = secretFile,
  ) {}

  /** A client library instance on the cluster (closed by `stop`). */
  async client(): Promise<FsClient> {
    const client = await FsClient.connect({
      mgmtdAddresses: [this.mgmtdAddress],
      clusterSecret: clusterSecret,
      logger: silentLogger(),
      tuning: { routingRefreshMs: 200 },
    });
    this.clients.push(client);
    return client;
  }

  /** Mounts (again) with hf3fs_fuse_main and waits for its "fuse mounted" line. */
  async mount(settings = ''): Promise<RunningProcess> {
    if (this.fuse !== undefined) throw new Error('already mounted');
    const fuse = await this.spawnFuse({ nodeId: 200, mountPoint: this.mountPoint, settings });
    this.fuse = fuse;
    return fuse;
  }

  /**
   * A second mount of the cluster by another FUSE daemon (another client, as on another host),
   * unmounted by `stop`.
   */
  async mountAnother(
    settings = '',
    options: { tokenFile?: string; withoutSecret?: boolean } = {},
  ): Promise<string> {
    const index = this.others.length + 1;
    const mountPoint = join(this.dir, `mnt-${index}`);
    mkdirSync(mountPoint, { mode: 0o755 });
    const fuse = await this.spawnFuse({ nodeId: 200 + index, mountPoint, settings, ...options });
    this.others.push({ fuse, mountPoint });
    return mountPoint;
  }

  private async spawnFuse(options: {
    nodeId: number;
    mountPoint: string;
    settings: string;
    /** A user token for the daemon's calls ([cluster] token_file). */
    tokenFile?: string;
    /** No [cluster] secret_file: the daemon holds only its token. */
    withoutSecret?: boolean;
  }): Promise<RunningProcess> {
    const config = join(this.dir, `fuse-${options.nodeId}.toml`);
    writeFileSync(
      config,
      `[node]
id = ${options.nodeId}

[cluster]
id = "test"
${options.withoutSecret === true ? '' : `secret_file = "${this.fuseSecretFile}"`}
${options.tokenFile === undefined ? '' : `token_file = "${options.tokenFile}"`}

[mgmtd]
addresses = ["${this.mgmtdAddress}"]
heartbeat_interval_ms = ${storageTimings.heartbeatIntervalMs}

[fuse]
mount_point = "${options.mountPoint}"
allow_other = ${mayAllowOther()}
${options.settings}
`,
    );
    const fuse = this.world.spawnBinary('hf3fs_fuse_main', ['--config', config]);
    try {
      await fuse.waitForLog((line) => line['msg'] === 'fuse mounted', 30_000);
    } catch (error) {
      await stopFuse(fuse, options.mountPoint);
      throw error;
    }
    return fuse;
  }

  /** Unmounts (SIGTERM to the daemon, then a lazy unmount if it is still there); bounded. */
  async unmount(): Promise<void> {
    const fuse = this.fuse;
    this.fuse = undefined;
    await stopFuse(fuse, this.mountPoint);
  }

  /** Unmounts, closes clients; the world's cleanup kills the rest and removes the directories. */
  async stop(): Promise<void> {
    for (const other of this.others.splice(0)) await stopFuse(other.fuse, other.mountPoint);
    await this.unmount();
    for (const client of this.clients.splice(0)) await client.close().catch(() => undefined);
  }
}

/** Stops a FUSE daemon (SIGTERM, then SIGKILL) and makes sure nothing stays mounted; bounded. */
async function stopFuse(fuse: RunningProcess | undefined, mountPoint: string): Promise<void> {
  if (fuse !== undefined && fuse.child.exitCode === null && fuse.child.signalCode === null) {
    fuse.child.kill('SIGTERM');
    const timer = setTimeout(() => fuse.child.kill('SIGKILL'), 15_000);
    await fuse.exited;
    clearTimeout(timer);
  }
  if (isMounted(mountPoint)) {
    spawnSync('fusermount3', ['-u', '-z', mountPoint], { timeout: 10_000 });
    if (isMounted(mountPoint)) spawnSync('umount', ['-l', mountPoint], { timeout: 10_000 });
  }
}

/** Starts the cluster and mounts it; see the file comment. */
export async function startFuseCluster(
  world: TestWorld,
  options: FuseClusterOptions = {},
): Promise<FuseCluster> {
  const dir = world.tempDir('3fs-fuse-');
  // Other users (the permission tests) must reach the mount point below it.
  chmodSync(dir, 0o755);
  const secretFile = options.secretFiles?.cluster ?? world.secretFile(dir, clusterSecret);
  const databasePath = join(dir, 'meta.db');
  const mgmtdConfig = writeMgmtdConfig({ dir, nodeId: 1, secretFile, databasePath, timings: storageTimings });
  const init = await world.runBinary('admin', [
    '--config',
    mgmtdConfig,
    'init-cluster',
    '--chunk-size',
    String(options.chunkSizeBytes ?? 1024 * 1024),
    '--stripe',
    String(options.stripe ?? 4),
  ]);
  if (init.code !== 0) throw new Error(`init-cluster failed: ${init.stderr}`);
  const mgmtd = await startMgmtd(world, mgmtdConfig);
  await mgmtd.process.waitForLog((line) => line['msg'] === 'became primary');
  const metaConfig = writeMetaConfig({
    dir,
    nodeId: 2,
    secretFile,
    databasePath,
    mgmtdAddress: mgmtd.address,
    ...(options.metaSettings === undefined ? {} : { metaToml: options.metaSettings }),
  });
  const [meta, ...storage] = await Promise.all([
    startMeta(world, metaConfig).then((started) => started.process),
    ...Array.from({ length: options.storageNodes ?? 3 }, (_, index) =>
      startStorage(world, {
        dir,
        nodeId: 11 + index,
        secretFile: options.secretFiles?.storage?.[11 + index] ?? secretFile,
        mgmtdAddress: mgmtd.address,
        ...(options.storageSettings === undefined ? {} : { storageSettings: options.storageSettings }),
      }),
    ),
  ]);
  const created = await createChainTable(world, { mgmtdAddress: mgmtd.address, secretFile, replicas: 3 });
  if (created.code !== 0) throw new Error(`create-chain-table failed: ${created.stderr}`);
  const mountPoint = join(dir, 'mnt');
  mkdirSync(mountPoint, { mode: 0o755 });
  const cluster = new FuseCluster(
    world,
    dir,
    mountPoint,
    mgmtd.address,
    secretFile,
    storage as StorageNode[],
    meta as RunningProcess,
    mgmtd.process,
    options.secretFiles?.fuse ?? secretFile,
  );
  const client = await cluster.client();
  await eventually(
    async () => {
      const routing = await client.routing.refresh();
      const serving =
        routing.chains.length > 0 &&
        routing.chains.every((chain) => chain.targets.every((target) => target.publicState === 'serving'));
      return serving && routing.nodes.some((node) => node.type === 'meta' && node.status === 'online')
        ? true
        : undefined;
    },
    20_000,
    'every chain serving and meta online',
  );
  try {
    await cluster.mount(options.fuseSettings);
  } catch (error) {
    // The world's cleanup removes the directory the mount point is in: nothing may stay mounted.
    await cluster.stop();
    throw error;
  }
  return cluster;
}

async function startStorage(
  world: TestWorld,
  options: {
    dir: string;
    nodeId: number;
    secretFile: string;
    mgmtdAddress: string;
    storageSettings?: string;
  },
): Promise<StorageNode> {
  const config = writeStorageConfig({ ...options, listen: '127.0.0.1:0' });
  const process = await startStorageProcess(world, config);
  return { nodeId: options.nodeId, targetId: storageTargetId(options.nodeId), process };
}

/** The one target of storage node `nodeId` in these clusters. */
export function storageTargetId(nodeId: number): number {
  return nodeId * 100 + 1;
}

/**
 * Writes the config of storage node `nodeId` (one target, under `dir`) and returns its path;
 * `extraToml` is appended (e.g. a [monitor] section), `advertise` set when given.
 */
export function writeStorageConfig(options: {
  dir: string;
  nodeId: number;
  secretFile: string;
  mgmtdAddress: string;
  listen: string;
  advertise?: string;
  storageSettings?: string;
  extraToml?: string;
}): string {
  const { dir, nodeId } = options;
  const path = join(dir, `storage-${nodeId}.toml`);
  writeFileSync(
    path,
    `[node]
id = ${nodeId}
listen = "${options.listen}"
${options.advertise === undefined ? '' : `advertise = "${options.advertise}"`}

[cluster]
id = "test"
secret_file = "${options.secretFile}"

[mgmtd]
addresses = ["${options.mgmtdAddress}"]
heartbeat_interval_ms = ${storageTimings.heartbeatIntervalMs}
heartbeat_timeout_ms = ${storageTimings.heartbeatTimeoutMs}
timeout_ms = 1000

[storage]
targets = [{ id = ${storageTargetId(nodeId)}, path = "${join(dir, `storage-${nodeId}`)}" }]
free_space_reserve_bytes = 0
durability = "process-crash"
${options.storageSettings ?? ''}
${options.extraToml ?? ''}`,
  );
  return path;
}

/** Starts storage_main on a config and waits until it listens. */
export async function startStorageProcess(world: TestWorld, configPath: string): Promise<RunningProcess> {
  const running = world.spawnBinary('storage_main', ['--config', configPath]);
  await running.waitForLog((line) => line['msg'] === 'storage listening', 20_000);
  return running;
}
