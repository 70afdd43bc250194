// Starts a cluster for meta integration tests: one mgmtd_main, an initialized cluster with a chain
// table (registered by stand-in storage nodes), and meta_main processes on one sqlite database.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FsClient, MgmtdClient, type FsClientOptions } from '../../../src/client/index.js';
import { systemClock } from '../../../src/common/clock.js';
import { silentLogger } from '../../../src/common/logger.js';
import { mgmtdMethods } from '../../../src/mgmtd/index.js';
import type { MethodDef } from '../../../src/rpc/index.js';
import { RpcClient } from '../../../src/rpc/index.js';
import { sqliteKvToml, startMgmtd, writeMgmtdConfig } from './mgmtd-cluster.js';
import { eventually, type RunningProcess, type TestWorld } from './processes.js';

export const clusterSecret = 'test-cluster-secret-0123456789';

/**
 * A client library of the cluster at `mgmtdAddresses`, acting as root and refreshing its routing
 * info every 200 ms, once it knows a meta service; `options` adds to or overrides that.
 */
export async function connectRootClient(
  mgmtdAddresses: string[],
  options: Partial<FsClientOptions> = {},
): Promise<FsClient> {
  const client = await FsClient.connect({
    mgmtdAddresses,
    clusterSecret,
    logger: silentLogger(),
    credentials: { uid: 0, gid: 0, groups: [] },
    tuning: { routingRefreshMs: 200 },
    ...options,
  });
  await eventually(
    async () =>
      (await client.routing.refresh()) && client.routing.metaAddresses().length > 0 ? true : undefined,
    10_000,
    'the meta service in the routing info',
  );
  return client;
}

export interface MetaProcess {
  process: RunningProcess;
  address: string;
  configPath: string;
}

export interface MetaCluster {
  dir: string;
  secretFile: string;
  databasePath: string;
  mgmtdAddress: string;
  mgmtd: MgmtdClient;
  metas: MetaProcess[];
  rpc: RpcClient;
  /** Calls a meta method on the service at `address`. */
  call<Req, Res>(address: string, method: MethodDef<Req, Res>, request: Req): Promise<Res>;
}

/** Writes a meta_main config for node `nodeId` into `dir` and returns its path. */
export function writeMetaConfig(options: {
  dir: string;
  nodeId: number;
  secretFile: string;
  databasePath: string;
  /** One mgmtd, or all of them. */
  mgmtdAddress: string | readonly string[];
  rootSquash?: boolean;
  /** Extra lines for the [meta] section (subsections such as [meta.gc] go last). */
  metaToml?: string;
  /** A whole `[kv]` section replacing the sqlite one (e.g. postgres). */
  kvToml?: string;
}): string {
  const path = join(options.dir, `meta-${options.nodeId}.toml`);
  writeFileSync(
    path,
    `[node]
id = ${options.nodeId}
listen = "127.0.0.1:0"

[cluster]
id = "test"
secret_file = "${options.secretFile}"

${options.kvToml ?? sqliteKvToml(options.databasePath, 'interval')}

[mgmtd]
addresses = ${JSON.stringify(typeof options.mgmtdAddress === 'string' ? [options.mgmtdAddress] : options.mgmtdAddress)}
heartbeat_interval_ms = 200

[meta]
root_squash = ${options.rootSquash ?? false}
${options.metaToml ?? ''}

[log]
level = "info"
`,
  );
  return path;
}

/** Starts meta_main with `configPath` and resolves once it listens. */
export async function startMeta(world: TestWorld, configPath: string): Promise<MetaProcess> {
  const running = world.spawnBinary('meta_main', ['--config', configPath]);
  const line = await running.waitForLog((entry) => entry['msg'] === 'meta listening', 20_000);
  return { process: running, address: String(line['address']), configPath };
}

/** Registers four stand-in storage nodes with one target each and builds chain table 1 from them. */
async function createChainTable(mgmtd: MgmtdClient): Promise<void> {
  for (const nodeId of [101, 102, 103, 104]) {
    await mgmtd.call(mgmtdMethods.heartbeat, {
      clusterId: 'test',
      node: {
        nodeId,
        type: 'storage',
        address: `127.0.0.1:${20_000 + nodeId}`,
        hostname: 'stand-in',
        tags: [],
      },
      targets: [
        { targetId: nodeId * 10, localState: 'up-to-date', usedBytes: 1 << 20, capacityBytes: 1 << 30 },
      ],
    });
  }
  await mgmtd.call(mgmtdMethods.createChainTable, { chainTableId: 1, replicas: 1 });
}

/** Starts mgmtd, initializes the cluster, creates chain table 1 and starts `metaCount` meta services. */
export async function startMetaCluster(
  world: TestWorld,
  options: { metaCount: number; rootSquash?: boolean; kvToml?: string; metaToml?: string },
): Promise<MetaCluster> {
  const dir = world.tempDir('3fs-meta-');
  const secretFile = world.secretFile(dir, clusterSecret);
  const databasePath = join(dir, 'meta.db');
  const kv = options.kvToml === undefined ? {} : { kvToml: options.kvToml };
  const mgmtdConfig = writeMgmtdConfig({ dir, nodeId: 1, secretFile, databasePath, ...kv });
  const init = await world.runBinary('admin', ['--config', mgmtdConfig, 'init-cluster', '--stripe', '2']);
  if (init.code !== 0) throw new Error(`init-cluster failed: ${init.stderr}`);
  const started = await startMgmtd(world, mgmtdConfig);
  await started.process.waitForLog((line) => line['msg'] === 'became primary');
  const rpc = new RpcClient({ clusterSecret, logger: silentLogger() });
  const mgmtd = new MgmtdClient({
    addresses: [started.address],
    rpc,
    clock: systemClock,
    logger: silentLogger(),
    timeoutMs: 5_000,
  });
  await createChainTable(mgmtd);
  const metas = await Promise.all(
    Array.from({ length: options.metaCount }, (_, index) =>
      startMeta(
        world,
        writeMetaConfig({
          dir,
          nodeId: 50 + index,
          secretFile,
          databasePath,
          mgmtdAddress: started.address,
          ...kv,
          ...(options.rootSquash === undefined ? {} : { rootSquash: options.rootSquash }),
          ...(options.metaToml === undefined ? {} : { metaToml: options.metaToml }),
        }),
      ),
    ),
  );
  return {
    dir,
    secretFile,
    databasePath,
    mgmtdAddress: started.address,
    mgmtd,
    metas,
    rpc,
    call: (address, method, request) => rpc.call(address, method, request, { timeoutMs: 20_000 }),
  };
}
