// Proves that every metric the catalogue (common/metrics/catalog.ts) declares is recorded by the
// running system: a whole cluster (mgmtd, meta, three storage services, a FUSE mount, an NFS
// gateway, an S3 gateway, the monitor collector with a ClickHouse endpoint) pushes to the
// collector while a small workload runs, with an fsync, and failures planted where metrics move
// only on failure (a missing file, the metadata database held locked, a storage service killed and
// recovered, a chunk corrupted on disk, a read reply damaged on the wire, an unreachable collector,
// a refused ClickHouse insert, the collector's history overflowing, a client no NFS export allows,
// a garbage NFS stream, an S3 GET of a missing key). Then each metric of the catalogue must have a
// sample in the collector's history or its Prometheus text: a counter above zero, a histogram with
// observations, a gauge with a value.
import { appendFileSync, chmodSync, constants, mkdirSync, readdirSync } from 'node:fs';
import { mkdir, open, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import {
  CopyObjectCommand,
  CreateBucketCommand,
  GetObjectCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/common/logger.js';
import { metricDefs } from '../../../src/common/metrics/index.js';
import { monitorMethods } from '../../../src/monitor/index.js';
import { RpcClient } from '../../../src/rpc/index.js';
import { storageMethods } from '../../../src/storage/index.js';
import { damageChunkFiles } from '../helpers/chunk-damage.js';
import { DamagingProxy } from '../helpers/damaging-proxy.js';
import {
  FuseCluster,
  fuseClusterSkipReason,
  startStorageProcess,
  storageTargetId,
  writeStorageConfig,
  type StorageNode,
} from '../helpers/fuse-cluster.js';
import { clusterSecret, startMeta, writeMetaConfig } from '../helpers/meta-cluster.js';
import { startMgmtd, writeMgmtdConfig, createChainTable } from '../helpers/mgmtd-cluster.js';
import {
  addMonitorSection,
  closedPort,
  getJson,
  getText,
  startCollector,
  writeCollectorConfig,
} from '../helpers/monitor-cluster.js';
import { startGateway, writeGatewayConfig } from '../helpers/nfs-gateway.js';
import { addS3Key, sdkClient, startS3Gateway, writeS3GatewayConfig } from '../helpers/s3-gateway.js';
import { TestWorld, eventually, type RunningProcess } from '../helpers/processes.js';
import { Nfs3Client } from '../nfs/nfs3-client.js';
import { OncRpcClient } from '../../../src/nfs/rpc-client.js';
import { storageTimings } from '../helpers/storage-cluster.js';

const skipReason = fuseClusterSkipReason('the metrics coverage test');

const pushIntervalMs = 200;
const chunkSizeBytes = 1024 * 1024;
/** Slow enough that recovery of a few chunks spans several pushes (the remaining-chunks gauge). */
const recoveryBytesPerSecond = 4 * 1024 * 1024;
/** Longer than the sqlite engine waits for the write lock (kvSqliteLockWaitMsMax), so writers retry. */
const databaseLockHoldMs = 1_400;
/** Series the collector keeps history for; the test overflows it at the end. */
const collectorSeriesMax = 10_000;

interface SeriesReply {
  series: { labels: Record<string, string>; points: [number, number][] }[];
}

describe.skipIf(skipReason !== undefined)('metrics coverage', () => {
  let world: TestWorld;
  let cluster: FuseCluster | undefined;
  let proxy: DamagingProxy | undefined;
  let clickhouse: Server | undefined;
  let database: Database.Database | undefined;
  let rpc: RpcClient | undefined;

  beforeEach(() => {
    world = new TestWorld();
  });

  afterEach(async () => {
    // Closing the connection rolls back a transaction a failed test left open (it releases the lock).
    database?.close();
    database = undefined;
    // Unmounted first, before anything is killed or removed.
    await cluster?.stop();
    cluster = undefined;
    await proxy?.close();
    proxy = undefined;
    clickhouse?.closeAllConnections();
    await new Promise<void>((resolve) =>
      clickhouse === undefined ? resolve() : clickhouse.close(() => resolve()),
    );
    clickhouse = undefined;
    await rpc?.close();
    rpc = undefined;
    // Kills every process the test started (SIGKILL by PID) and removes the directories.
    await world.cleanup();
  }, 60_000);

  it('records a sample of every metric in the catalogue', async () => {
    const dir = world.tempDir('3fs-metrics-');
    chmodSync(dir, 0o755);
    const secretFile = world.secretFile(dir, clusterSecret);
    const databasePath = join(dir, 'meta.db');
    const collectorAddress = `127.0.0.1:${await closedPort()}`;
    const ingest = await startClickhouse();
    clickhouse = ingest.server;

    // mgmtd, then the collector (which follows mgmtd's routing info), then meta and storage.
    const mgmtdConfig = writeMgmtdConfig({
      dir,
      nodeId: 1,
      secretFile,
      databasePath,
      timings: storageTimings,
    });
    const init = await world.runBinary('admin', [
      '--config',
      mgmtdConfig,
      'init-cluster',
      '--chunk-size',
      String(chunkSizeBytes),
      '--stripe',
      '4',
    ]);
    expect(init.code, init.stderr).toBe(0);
    addMonitorSection(mgmtdConfig, { collector: collectorAddress, pushIntervalMs });
    const mgmtd = await startMgmtd(world, mgmtdConfig);
    await mgmtd.process.waitForLog((line) => line['msg'] === 'became primary');
    const collectorConfig = writeCollectorConfig({
      dir,
      nodeId: 90,
      secretFile,
      mgmtdAddress: mgmtd.address,
      listen: collectorAddress,
      intervalMs: pushIntervalMs,
    });
    appendFileSync(
      collectorConfig,
      `series_max = ${collectorSeriesMax}\n\n[collector.clickhouse]\nurl = "${ingest.url}"\nflush_interval_ms = 300\n`,
    );
    const collector = await startCollector(world, collectorConfig);
    const dashboard = `http://${collector.httpAddress}`;

    const metaConfig = writeMetaConfig({
      dir,
      nodeId: 2,
      secretFile,
      databasePath,
      mgmtdAddress: mgmtd.address,
    });
    addMonitorSection(metaConfig, { collector: collectorAddress, pushIntervalMs });
    const storageConfig = (nodeId: number, node: { listen: string; advertise?: string }): string =>
      writeStorageConfig({
        dir,
        nodeId,
        secretFile,
        mgmtdAddress: mgmtd.address,
        ...node,
        storageSettings: `recovery_bandwidth_bytes_per_s = ${recoveryBytesPerSecond}`,
        extraToml: `[monitor]\npush_interval_ms = ${pushIntervalMs}\ncollector = "${collectorAddress}"\n`,
      });
    // Storage node 13 is reached through a proxy that can damage its read replies on the way. The
    // three nodes are on loopback addresses of their own, as on three hosts, so that reads spread
    // over them (a client reads one host's replicas from the one nearest the chain's tail).
    const node13Listen = `127.0.0.1:${await closedPort()}`;
    proxy = await DamagingProxy.start({
      listen: `127.0.0.3:${await closedPort()}`,
      upstream: node13Listen,
      method: storageMethods.read,
    });
    const storageConfigs = [
      storageConfig(11, { listen: '127.0.0.2:0' }),
      storageConfig(12, { listen: '127.0.0.1:0' }),
      storageConfig(13, { listen: node13Listen, advertise: proxy.address }),
    ];
    const [meta, ...storage] = await Promise.all([
      startMeta(world, metaConfig).then((started) => started.process),
      ...storageConfigs.map((config) => startStorageProcess(world, config)),
    ]);
    const created = await createChainTable(world, { mgmtdAddress: mgmtd.address, secretFile, replicas: 3 });
    expect(created.code, created.stderr).toBe(0);
    const storageNodes: StorageNode[] = [11, 12, 13].map((nodeId, index) => ({
      nodeId,
      targetId: storageTargetId(nodeId),
      process: storage[index] as RunningProcess,
    }));
    const mountPoint = join(dir, 'mnt');
    mkdirSync(mountPoint, { mode: 0o755 });
    cluster = new FuseCluster(
      world,
      dir,
      mountPoint,
      mgmtd.address,
      secretFile,
      storageNodes,
      meta as RunningProcess,
      mgmtd.process,
    );
    const client = await cluster.client();
    const everyTargetServing = async (): Promise<true | undefined> => {
      const routing = await client.routing.refresh();
      const serving =
        routing.chains.length > 0 &&
        routing.chains.every((chain) => chain.targets.every((target) => target.publicState === 'serving'));
      return serving && routing.nodes.some((node) => node.type === 'meta' && node.status === 'online')
        ? true
        : undefined;
    };
    await eventually(everyTargetServing, 20_000, 'every chain serving and meta online');
    // The FUSE daemon's first collector is unreachable: its first push is dropped, then it moves on.
    const deadCollector = `127.0.0.1:${await closedPort()}`;
    await cluster.mount(
      `\n[monitor]\npush_interval_ms = ${pushIntervalMs}\ncollector = ["${deadCollector}", "${collectorAddress}"]\n`,
    );

    // Writes and reads through the mount; a lookup of a missing file fails in FUSE, meta and the KV.
    const fileA = randomBytes(4 * chunkSizeBytes);
    await writeFile(join(mountPoint, 'a'), fileA);
    expect((await readFile(join(mountPoint, 'a'))).equals(fileA)).toBe(true);
    // An fsync makes every replica of the file's chains sync its chunk store.
    const synced = await open(join(mountPoint, 'a'), 'r+');
    await synced.sync();
    await synced.close();
    await expect(stat(join(mountPoint, 'missing'))).rejects.toMatchObject({ code: 'ENOENT' });
    // A file created and closed unwritten: the FUSE binding answers its FLUSH itself.
    await (await open(join(mountPoint, 'empty'), 'wx')).close();
    // A directory made here and listed in several READDIRs: after the first, the FUSE binding
    // answers them from the listing the daemon handed it.
    mkdirSync(join(mountPoint, 'listed'));
    for (let index = 0; index < 600; index++) appendFileSync(join(mountPoint, 'listed', `name-${index}`), '');
    expect(readdirSync(join(mountPoint, 'listed')).length).toBe(600);
    // Small direct reads of a file written by another client: after the first, which the daemon
    // serves, the FUSE binding answers them itself (fast reads), once the daemon has handed it a
    // connection to the replica, which it opens in the background on that first read: rounds of
    // reads, a little apart, give a slow machine the time to open it.
    const fileC = randomBytes(chunkSizeBytes);
    await client.writeFile('/c', fileC);
    const direct = await open(join(mountPoint, 'c'), constants.O_RDONLY | constants.O_DIRECT);
    for (let round = 0; round < 20; round++) {
      for (const offset of [0, 8192, 16384]) {
        const page = Buffer.alloc(4096);
        await direct.read(page, 0, page.length, offset);
        expect(page.equals(fileC.subarray(offset, offset + 4096))).toBe(true);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await direct.close();

    // An NFS gateway serves a mount, a read, a write and a missing name; it refuses a client no
    // export allows and closes a connection that sends garbage.
    const gateway = await startGateway(
      cluster,
      writeGatewayConfig(cluster, {
        nodeId: 300,
        exports: [{ path: '/' }],
        extraToml: `[monitor]\npush_interval_ms = ${pushIntervalMs}\ncollector = "${collectorAddress}"\n`,
      }),
    );
    const nfs = await Nfs3Client.connect(gateway.port);
    try {
      const nfsRoot = (await nfs.mount('/')).handle as Buffer;
      const nfsFile = (await nfs.lookup(nfsRoot, 'a')).handle as Buffer;
      expect((await nfs.read(nfsFile, 0n, 4096)).status).toBe(0);
      const nfsMade = (await nfs.create(nfsRoot, 'over-nfs', { mode: 'guarded' })).handle as Buffer;
      expect((await nfs.write(nfsMade, 0n, Buffer.from('nfs'))).status).toBe(0);
      expect((await nfs.lookup(nfsRoot, 'missing')).status).toBe(2);
      await expect(
        Nfs3Client.connect(gateway.port, { localAddress: '127.0.0.2' }).then((stranger) =>
          stranger.getattr(nfsRoot).finally(() => stranger.close()),
        ),
      ).rejects.toThrow();
      const garbage = await OncRpcClient.connect({ host: '127.0.0.1', port: gateway.port, timeoutMs: 5_000 });
      garbage.writeRaw(Buffer.from([0xff, 0xff, 0xff, 0xff]));
      await eventually(
        async () => (garbage.closed ? true : undefined),
        5_000,
        'the garbage connection closed',
      );
    } finally {
      nfs.close();
    }

    // An S3 gateway stores and serves an object and answers a missing key with an error.
    const s3Gateway = await startS3Gateway(
      cluster,
      writeS3GatewayConfig(cluster, {
        nodeId: 301,
        extraToml: `[monitor]\npush_interval_ms = ${pushIntervalMs}\ncollector = "${collectorAddress}"\n`,
      }),
    );
    const s3 = sdkClient(s3Gateway, await addS3Key(cluster, { name: 'metrics', uid: 0, gid: 0 }));
    try {
      await s3.send(new CreateBucketCommand({ Bucket: 'metrics' }));
      await s3.send(new PutObjectCommand({ Bucket: 'metrics', Key: 'object', Body: randomBytes(4096) }));
      const object = await s3.send(new GetObjectCommand({ Bucket: 'metrics', Key: 'object' }));
      expect((await object.Body?.transformToByteArray())?.length).toBe(4096);
      // A server-side copy (counted by how it was made).
      await s3.send(new CopyObjectCommand({ Bucket: 'metrics', Key: 'copy', CopySource: 'metrics/object' }));
      await expect(
        s3.send(new GetObjectCommand({ Bucket: 'metrics', Key: 'missing' })),
      ).rejects.toMatchObject({
        name: 'NoSuchKey',
      });
    } finally {
      s3.destroy();
    }

    // The metadata database held locked by another process for longer than a writer waits: the
    // writer's transaction fails with a conflict and runs again once the lock is free.
    database = new Database(databasePath);
    database.pragma('busy_timeout = 10000');
    database.exec('BEGIN IMMEDIATE');
    const madeWhileLocked = mkdir(join(mountPoint, 'made-while-locked'));
    await new Promise((resolve) => setTimeout(resolve, databaseLockHoldMs));
    database.exec('COMMIT');
    database.close();
    database = undefined;
    await madeWhileLocked;

    // A storage service killed and restarted: what was written meanwhile is copied to it.
    const victim = storageNodes[1] as StorageNode;
    victim.process.child.kill('SIGKILL');
    await victim.process.exited;
    const fileB = randomBytes(8 * chunkSizeBytes);
    await writeFile(join(mountPoint, 'b'), fileB);
    victim.process = await startStorageProcess(world, storageConfigs[1] as string);
    await eventually(everyTargetServing, 45_000, 'the restarted target serving again after recovery');

    // Every chunk file of node 11's target damaged on disk: reads there fail their checksum, and the
    // client reads another replica.
    damageChunkFiles(join(dir, 'storage-11'));
    await readUntil(join(mountPoint, 'a'), fileA, async () => {
      const text = await getText(`${dashboard}/metrics`);
      return (sampleValues(text, metricDefs.storageChecksumFailures.name)[0] ?? 0) > 0;
    });

    // One read reply from node 13 damaged on the wire: the client's checksum check catches it.
    proxy.arm();
    const armed = proxy;
    await readUntil(join(mountPoint, 'a'), fileA, async () => armed.damaged > 0);

    // Last, a process floods the collector with more series than its history holds.
    rpc = new RpcClient({ clusterSecret, logger: silentLogger() });
    await rpc.call(
      collectorAddress,
      monitorMethods.push,
      {
        clusterId: 'test',
        node: { nodeId: 999, type: 'client', hostname: 'flood' },
        sentAtMs: Date.now(),
        families: [
          {
            name: 'flood_series',
            help: 'One series per sample, more than the collector keeps.',
            type: 'gauge',
            samples: Array.from({ length: collectorSeriesMax + 1 }, (_, index) => ({
              name: 'flood_series',
              labels: { index: String(index) },
              value: 1,
            })),
          },
        ],
      },
      { timeoutMs: 20_000 },
    );
    expect(ingest.refused()).toBe(1);

    const missing = await waitForCoverage(dashboard, 20_000);
    expect(missing, `metrics without a sample: ${missing.join(', ')}`).toEqual([]);
    expect(ingest.accepted()).toBeGreaterThan(0);
  }, 150_000);
});

/**
 * A stand-in for ClickHouse's HTTP interface (none runs here): it refuses the first insert, as a
 * ClickHouse that is down would, and accepts the others.
 */
async function startClickhouse(): Promise<{
  server: Server;
  url: string;
  accepted: () => number;
  refused: () => number;
}> {
  let accepted = 0;
  let refused = 0;
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      if (refused === 0) {
        refused += 1;
        response.writeHead(503).end('not ready');
      } else {
        accepted += 1;
        response.writeHead(200).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return { server, url: `http://127.0.0.1:${port}`, accepted: () => accepted, refused: () => refused };
}

/**
 * Reads `path` through the mount (each open starts without cached pages) and checks its content,
 * until `done` holds; replicas are read in turn, so a few reads reach every one of them.
 */
async function readUntil(path: string, expected: Buffer, done: () => Promise<boolean>): Promise<void> {
  await eventually(
    async () => {
      expect((await readFile(path)).equals(expected)).toBe(true);
      // A push carries what the read recorded within one interval.
      await new Promise((resolve) => setTimeout(resolve, 2 * pushIntervalMs));
      return (await done()) ? true : undefined;
    },
    20_000,
    `reads of ${path} to reach the planted failure`,
  );
}

/** Values of every sample of `name` in Prometheus text. */
function sampleValues(text: string, name: string): number[] {
  const values: number[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    values.push(Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return values;
}

/**
 * The catalogue's metrics that have no sample yet, polled until there are none or `timeoutMs`
 * passed. A metric counts once the collector's history (over the whole test) or its current
 * Prometheus text holds a sample of it: above zero for a counter, a histogram's `_count` above
 * zero, any value for a gauge.
 */
async function waitForCoverage(dashboard: string, timeoutMs: number): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  const covered = new Set<string>();
  for (;;) {
    const text = await getText(`${dashboard}/metrics`);
    for (const def of Object.values(metricDefs)) {
      if (covered.has(def.name)) continue;
      const sampled = def.type === 'histogram' ? `${def.name}_count` : def.name;
      const { series } = await getJson<SeriesReply>(
        `${dashboard}/api/series?name=${sampled}&window_ms=${10 * 60_000}`,
      );
      const values = [
        ...sampleValues(text, sampled),
        ...series.flatMap((one) => one.points.map(([, value]) => value)),
      ];
      const recorded = def.type === 'gauge' ? values.length > 0 : values.some((value) => value > 0);
      if (recorded) covered.add(def.name);
    }
    const missing = Object.values(metricDefs)
      .filter((def) => !covered.has(def.name))
      .map((def) => def.name);
    if (missing.length === 0 || Date.now() > deadline) return missing;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
