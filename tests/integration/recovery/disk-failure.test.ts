// Proves that a target whose disk fails (here: its directory disappears under a running
// storage_main) is handled like a dead service: the process reports it offline in heartbeats,
// mgmtd moves it to the end of its chain, writes go on without it, and the process's other target
// keeps serving; once the process restarts on a replaced (empty) disk, the target comes back
// through recovery and every replica ends identical.
import { renameSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChunkClient } from '../../../src/cluster/index.js';
import { storageMethods } from '../../../src/storage/index.js';
import { TestWorld, eventually } from '../helpers/processes.js';
import { StorageCluster, targetDirectory } from '../helpers/storage-cluster.js';
import { expectReplicasIdentical, writeChunk, type ChunkModel } from './replica-check.js';

const chunkSizeBytes = 1024 * 1024;
const failingNodeId = 1;
const failingTargetId = 101;

let world: TestWorld;
let cluster: StorageCluster;
let client: ChunkClient;

beforeAll(async () => {
  world = new TestWorld();
  cluster = await StorageCluster.start(world, {
    storageNodes: 3,
    targetsPerNode: 2,
    replicas: 3,
    chunkSizeMaxBytes: chunkSizeBytes,
  });
  client = cluster.newChainIo().chunks;
}, 60_000);

afterAll(async () => {
  await cluster?.close();
  await world.cleanup();
});

describe('a failed disk', () => {
  it('takes its target out of the chain while the process and its other target keep serving', async () => {
    const routing = await cluster.waitForRouting((info) => info.chains.length === 2, 'two chains');
    const models: ChunkModel[] = routing.chains.flatMap((chain) =>
      [0, 1, 2].map((index) => ({
        chainId: chain.chainId,
        chunkId: { inode: BigInt(800 + chain.chainId), index },
        acked: undefined,
        unknown: [],
        ackedWrites: 0,
        ackedDuring: 0,
      })),
    );
    let stop = false;
    let failed = false;
    const writers = models.map((model, number) =>
      writeChunk({
        client,
        model,
        chunkSizeBytes,
        stop: () => stop,
        countDuring: () => failed,
        seedBase: number * 100_000,
      }),
    );
    await eventually(
      async () => (models.every((model) => model.ackedWrites >= 2) ? true : undefined),
      20_000,
      'first writes',
    );

    // The directory disappears at once (moved away; removing it file by file races the writes).
    const directory = targetDirectory(cluster.dir, failingNodeId, failingTargetId);
    renameSync(directory, `${directory}.gone`);
    failed = true;
    const degraded = await cluster.waitForRouting(
      (info) => info.targets.find((target) => target.targetId === failingTargetId)?.publicState === 'offline',
      'the failed target offline',
      15_000,
    );
    const chainOfFailed = degraded.chains.find((chain) =>
      chain.targets.some((target) => target.targetId === failingTargetId),
    );
    expect(chainOfFailed?.targets.at(-1)?.targetId).toBe(failingTargetId);
    expect(degraded.targets.find((target) => target.targetId === failingTargetId)?.localState).toBe(
      'offline',
    );
    expect(degraded.targets.find((target) => target.targetId === failingTargetId + 1)?.publicState).toBe(
      'serving',
    );
    await eventually(
      async () => (models.every((model) => model.ackedDuring >= 2) ? true : undefined),
      20_000,
      'writes acknowledged on every chain after the disk failed',
    );
    const failingProcess = cluster.storage.get(failingNodeId);
    expect(failingProcess?.process.child.exitCode).toBeNull();
    const listed = await cluster.rpc.call(cluster.addressOf(failingTargetId), storageMethods.listTargets, {});
    expect(listed.targets.find((target) => target.targetId === failingTargetId)?.localState).toBe('offline');

    // The disk is replaced (an empty directory) and the service restarted: recovery refills it.
    failingProcess?.process.child.kill('SIGTERM');
    await failingProcess?.process.exited;
    await cluster.startStorage(failingNodeId);
    const healed = await cluster.waitForRouting(
      (info) =>
        info.chains.every((chain) => chain.targets.every((target) => target.publicState === 'serving')),
      'every target serving again',
      45_000,
    );
    stop = true;
    await Promise.all(writers);
    expect(await expectReplicasIdentical(cluster, healed, models)).toBe(models.length);
  }, 120_000);
});
