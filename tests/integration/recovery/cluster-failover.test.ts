// Proves failover of the whole stack on real processes (two mgmtd_main on one store, two meta_main,
// three storage_main with two chains of three) under a sustained workload of the client library:
// writers creating files and readers checking them. SIGKILL the mgmtd primary: the standby takes
// over, storage and meta follow it, no storage service fences itself, and no client call fails.
// SIGKILL each meta service in turn: the client moves to the other one, and no call fails (calls in
// flight on the killed one are retried under their request ids, so none applies twice). SIGKILL a storage service: reads and writes retry with fresh routing
// info and none fails; the service comes back through recovery. Then every acknowledged file holds
// its exact SHA-256, every replica of every chain holds identical chunks, and deleting a large
// file through the client frees its chunks on every target within the meta GC interval.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsClient } from '../../../src/client/index.js';
import { FsError } from '../../../src/common/errors.js';
import { silentLogger } from '../../../src/common/logger.js';
import { statusName } from '../../../src/common/status-code.js';
import { mgmtdMethods } from '../../../src/mgmtd/index.js';
import { storageMethods } from '../../../src/storage/index.js';
import { clusterSecret } from '../helpers/meta-cluster.js';
import type { MgmtdTimings } from '../helpers/mgmtd-cluster.js';
import { TestWorld, eventually } from '../helpers/processes.js';
import { StorageCluster } from '../helpers/storage-cluster.js';
import { dumpAll, expectReplicasIdentical, pattern } from './replica-check.js';

const chunkSizeBytes = 1024 * 1024;
const gcIntervalMs = 1_000;
const metaNodeIds = [51, 52];
const victimStorageNodeId = 3;
/**
 * A standby takes over within lease + renew interval (1.8 s), well before a storage service fences
 * itself (half the heartbeat timeout, 3 s), as mgmtd_main's start-up check demands.
 */
const timings: MgmtdTimings = {
  leaseMs: 1_500,
  leaseRenewMs: 300,
  heartbeatIntervalMs: 200,
  heartbeatTimeoutMs: 6_000,
  chainUpdateMs: 200,
};
const sizes = [48 * 1024, 700 * 1024 + 3, chunkSizeBytes * 2 + 5_001, chunkSizeBytes + 77];

let world: TestWorld;
let cluster: StorageCluster;
let fs: FsClient;
/** Every acknowledged file (its writeFile resolved) and the SHA-256 of what was written. */
const acknowledged = new Map<string, string>();

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function describeFailure(error: unknown): string {
  return error instanceof FsError ? `${statusName(error.code)}: ${error.message}` : String(error);
}

/** Writers creating new files and readers re-reading acknowledged ones, until `stop`. */
class Workload {
  ackedHere = 0;
  readsHere = 0;
  readonly writeFailures: string[] = [];
  readonly readFailures: string[] = [];
  readonly corrupt: string[] = [];
  private stopped = false;
  private readonly loops: Promise<void>[];

  constructor(
    private readonly client: FsClient,
    private readonly phase: string,
    options: { writers: number; readers: number },
  ) {
    this.loops = [
      ...Array.from({ length: options.writers }, (_, writer) => this.write(writer)),
      ...Array.from({ length: options.readers }, (_, reader) => this.read(reader)),
    ];
  }

  /** Resolves once `count` more files than now were acknowledged in this workload. */
  async progress(count: number, what: string, timeoutMs = 30_000): Promise<void> {
    const target = this.ackedHere + count;
    await eventually(async () => (this.ackedHere >= target ? true : undefined), timeoutMs, what);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }

  private async write(writer: number): Promise<void> {
    for (let step = 0; !this.stopped; step++) {
      const seed = writer * 1_000 + step;
      const path = `/load/${this.phase}-w${writer}-${step}`;
      const data = pattern(sizes[seed % sizes.length] as number, seed + this.phase.length * 100_000);
      try {
        await this.client.writeFile(path, data);
        acknowledged.set(path, sha256(data));
        this.ackedHere += 1;
      } catch (error) {
        this.writeFailures.push(`${path}: ${describeFailure(error)}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  private async read(reader: number): Promise<void> {
    for (let step = 0; !this.stopped; step++) {
      const paths = [...acknowledged.keys()];
      const path = paths[(step * 7 + reader * 13) % paths.length];
      if (path === undefined) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      try {
        const data = await this.client.readFile(path);
        if (sha256(data) !== acknowledged.get(path)) this.corrupt.push(`${path}: ${data.length} bytes`);
        this.readsHere += 1;
      } catch (error) {
        this.readFailures.push(`${path}: ${describeFailure(error)}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }
}

async function everyChainServing(what: string, timeoutMs = 45_000) {
  return cluster.waitForRouting(
    (routing) =>
      routing.chains.length === 2 &&
      routing.chains.every((chain) => chain.targets.every((target) => target.publicState === 'serving')),
    what,
    timeoutMs,
  );
}

function alive(process: { child: { exitCode: number | null; signalCode: NodeJS.Signals | null } }) {
  return process.child.exitCode === null && process.child.signalCode === null;
}

beforeAll(async () => {
  world = new TestWorld();
  cluster = await StorageCluster.start(world, {
    storageNodes: 3,
    targetsPerNode: 2,
    replicas: 3,
    chunkSizeMaxBytes: chunkSizeBytes,
    mgmtds: 2,
    timings,
    initArgs: ['--chunk-size', String(chunkSizeBytes), '--stripe', '2'],
  });
  const gc = `[meta.gc]\ninterval_ms = ${gcIntervalMs}\nconcurrency = 2`;
  await Promise.all(metaNodeIds.map((nodeId) => cluster.startMeta(nodeId, gc)));
  fs = await FsClient.connect({
    mgmtdAddresses: cluster.mgmtdAddresses(),
    clusterSecret,
    logger: silentLogger(),
    tuning: { routingRefreshMs: 200 },
  });
  await eventually(
    async () => {
      const routing = await fs.routing.refresh();
      const metas = routing.nodes.filter((node) => node.type === 'meta' && node.status === 'online');
      return metas.length === metaNodeIds.length ? true : undefined;
    },
    20_000,
    'both meta services online',
  );
  await fs.mkdir('/load');
}, 90_000);

afterAll(async () => {
  await fs?.close();
  await cluster?.close();
  await world?.cleanup();
});

describe('failover under a client workload', () => {
  it('keeps every call working while the mgmtd primary is killed and a standby takes over', async () => {
    const load = new Workload(fs, 'mgmtd', { writers: 2, readers: 1 });
    await load.progress(4, 'files written before the kill');
    const [primary, standby] = cluster.mgmtds;
    if (primary === undefined || standby === undefined) throw new Error('two mgmtd processes');
    primary.process.child.kill('SIGKILL');
    await primary.process.exited;
    const killedAt = Date.now();
    await standby.process.waitForLog((line) => line['msg'] === 'became primary', 15_000);
    const takeoverMs = Date.now() - killedAt;
    expect(takeoverMs).toBeLessThan(timings.heartbeatTimeoutMs / 2);

    // The services follow the new primary: past a whole heartbeat timeout after the takeover,
    // it still shows every node online and every chain serving, so each heartbeat reached it.
    await new Promise((resolve) => setTimeout(resolve, timings.heartbeatTimeoutMs + 1_000));
    // (A heavily loaded machine may make one miss a beat and come back through recovery: waited for.)
    await cluster.waitForRouting(
      (routing) =>
        routing.chains.every((chain) => chain.targets.every((target) => target.publicState === 'serving')) &&
        routing.nodes.every((node) => node.type === 'mgmtd' || node.status === 'online'),
      'every chain serving and every service online under the new primary',
      30_000,
    );
    for (const storage of cluster.storage.values()) {
      expect(alive(storage.process), `storage ${storage.nodeId} did not fence itself`).toBe(true);
    }
    await load.progress(4, 'files written under the new primary');

    // The killed mgmtd comes back as a standby that points at the new primary.
    const restarted = await cluster.restartMgmtd(0);
    const { primary: known } = await eventually(
      async () => {
        const answer = await cluster.rpc.call(restarted.address, mgmtdMethods.getPrimary, {});
        return answer.primary === null ? undefined : answer;
      },
      10_000,
      'the restarted mgmtd knowing the primary',
    );
    expect(known?.address).toBe(standby.address);
    await load.stop();
    expect(load.writeFailures).toEqual([]);
    expect(load.readFailures).toEqual([]);
    expect(load.corrupt).toEqual([]);
    expect(load.readsHere).toBeGreaterThan(0);
  }, 90_000);

  it('moves the client to the other meta service when one is killed, each in turn', async () => {
    const load = new Workload(fs, 'meta', { writers: 2, readers: 1 });
    await load.progress(4, 'files written before the first kill');
    for (const nodeId of metaNodeIds) {
      const victim = cluster.metas.get(nodeId);
      if (victim === undefined) throw new Error(`no meta ${nodeId}`);
      victim.process.child.kill('SIGKILL');
      await victim.process.exited;
      await load.progress(4, `files written with meta ${nodeId} dead`);
      const back = await cluster.startMeta(nodeId);
      await eventually(
        async () => {
          const routing = await fs.routing.refresh();
          const node = routing.nodes.find((candidate) => candidate.nodeId === nodeId);
          return node?.status === 'online' && node.address === back.address ? true : undefined;
        },
        15_000,
        `meta ${nodeId} back in routing info`,
      );
    }
    await load.progress(2, 'files written with both meta services back');
    await load.stop();
    expect(load.writeFailures).toEqual([]);
    expect(load.readFailures).toEqual([]);
    expect(load.corrupt).toEqual([]);
  }, 120_000);

  it('retries reads and writes elsewhere while a storage service is dead, then resyncs it', async () => {
    const load = new Workload(fs, 'storage', { writers: 2, readers: 1 });
    await load.progress(4, 'files written before the kill');
    const victim = cluster.storage.get(victimStorageNodeId);
    if (victim === undefined) throw new Error('no victim storage process');
    victim.process.child.kill('SIGKILL');
    await victim.process.exited;
    await cluster.waitForRouting(
      (routing) =>
        victim.targetIds.every((targetId) => {
          const state = routing.targets.find((target) => target.targetId === targetId)?.publicState;
          return state === 'offline' || state === 'lastsrv';
        }),
      'the dead service offline',
    );
    const readsBefore = load.readsHere;
    await load.progress(4, 'files written while the service is dead');
    await eventually(
      async () => (load.readsHere >= readsBefore + 4 ? true : undefined),
      30_000,
      'files read while the service is dead',
    );
    await cluster.startStorage(victimStorageNodeId);
    await everyChainServing('the restarted service serving again');
    await load.progress(2, 'files written after the heal');
    await load.stop();
    expect(load.writeFailures).toEqual([]);
    expect(load.readFailures).toEqual([]);
    expect(load.corrupt).toEqual([]);
  }, 120_000);

  it('leaves every acknowledged file with its exact SHA-256 and every replica identical', async () => {
    expect(acknowledged.size).toBeGreaterThanOrEqual(30);
    const fresh = await FsClient.connect({
      mgmtdAddresses: cluster.mgmtdAddresses(),
      clusterSecret,
      logger: silentLogger(),
    });
    try {
      for (const [path, digest] of acknowledged) {
        expect(sha256(await fresh.readFile(path)), path).toBe(digest);
      }
    } finally {
      await fresh.close();
    }
    const routing = await everyChainServing('every chain serving');
    const compared = await expectReplicasIdentical(cluster, routing, []);
    expect(compared).toBeGreaterThanOrEqual(acknowledged.size);
  }, 120_000);

  it('frees a large file deleted through the client on every target within the GC interval', async () => {
    const chunks = 24;
    await fs.writeFile('/large', pattern(chunks * chunkSizeBytes, 4242));
    const inode = await fs.stat('/large');
    const routing = await everyChainServing('every chain serving');
    const targets = routing.chains.flatMap((chain) => chain.targets.map((target) => target.targetId));
    const replicasOfLarge = async (): Promise<number> => {
      let count = 0;
      for (const targetId of targets) {
        count += (await dumpAll(cluster, targetId)).filter(
          (chunk) => chunk.chunkId.inode === inode.ino,
        ).length;
      }
      return count;
    };
    const committedBytes = async (): Promise<number> => {
      let total = 0;
      for (const handle of cluster.storage.values()) {
        const listed = await cluster.rpc.call(handle.address, storageMethods.listTargets, {});
        total += listed.targets.reduce((sum, target) => sum + target.committedBytes, 0);
      }
      return total;
    };
    expect(await replicasOfLarge()).toBe(chunks * 3);
    const before = await committedBytes();

    const unlinkedAt = Date.now();
    await fs.unlink('/large');
    await eventually(
      async () => ((await replicasOfLarge()) === 0 ? true : undefined),
      gcIntervalMs + 15_000,
      'the deleted file gone from every target',
    );
    // The next pass starts within one interval; removing 72 replicas of 1 MiB takes a little more.
    expect(Date.now() - unlinkedAt).toBeLessThan(gcIntervalMs + 8_000);
    expect(before - (await committedBytes())).toBe(chunks * chunkSizeBytes * 3);
  }, 60_000);
});
