// Proves `admin rotate-lastsrv` on real processes (three storage_main, one chain of three): the
// replicas of a chain die one after another while it is written, the last one standing (lastsrv)
// loses its disk and, restarted empty, stays offline, so the chain is stuck even with the older
// replicas back; the rotation makes the replica that failed last serve, the replaced target comes
// back through recovery without a restart, and every replica ends identical, holding what the
// older replicas had acknowledged (the writes only the lost target held are gone, as the command
// warns). It also refuses a healthy chain.
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc32c } from '../../../src/common/crc32c.js';
import type { PublicState, RoutingInfo } from '../../../src/mgmtd/index.js';
import type { ChunkClient } from '../../../src/cluster/index.js';
import { storageMethods, type ChunkId } from '../../../src/storage/index.js';
import { TestWorld } from '../helpers/processes.js';
import { StorageCluster, targetDirectory, type StorageProcess } from '../helpers/storage-cluster.js';
import { dumpAll, expectReplicasIdentical, pattern, type ChunkModel } from './replica-check.js';

const chunkSizeBytes = 256 * 1024;
const chunksPerPhase = 4;

let world: TestWorld;
let cluster: StorageCluster;
let client: ChunkClient;

beforeAll(async () => {
  world = new TestWorld();
  cluster = await StorageCluster.start(world, {
    storageNodes: 3,
    targetsPerNode: 1,
    replicas: 3,
    chunkSizeMaxBytes: chunkSizeBytes,
  });
  client = cluster.newChainIo().chunks;
}, 60_000);

afterAll(async () => {
  await cluster?.close();
  await world.cleanup();
});

function admin(...args: string[]) {
  return world.runBinary('admin', [
    '--mgmtd',
    cluster.mgmtd.address,
    '--secret-file',
    cluster.secretFile,
    ...args,
  ]);
}

function rotate(chainId: number) {
  return admin('rotate-lastsrv', String(chainId));
}

function stateOf(routing: RoutingInfo, targetId: number): PublicState | undefined {
  return routing.targets.find((target) => target.targetId === targetId)?.publicState;
}

function processOf(targetId: number): StorageProcess {
  const handle = [...cluster.storage.values()].find((candidate) => candidate.targetIds.includes(targetId));
  if (handle === undefined) throw new Error(`no storage process serves target ${targetId}`);
  return handle;
}

/** Replaces chunks 0 to chunksPerPhase - 1 of `inode` on `chainId` and returns their models. */
async function writePhase(chainId: number, inode: number, seed: number): Promise<ChunkModel[]> {
  const models: ChunkModel[] = [];
  for (let index = 0; index < chunksPerPhase; index++) {
    const chunkId: ChunkId = { inode: BigInt(inode), index };
    const data = pattern(20_000 + index * 1_031, seed + index);
    await client.replace({ chainId, chunkId, chunkSizeBytes, data });
    models.push({ chainId, chunkId, acked: data, unknown: [], ackedWrites: 1, ackedDuring: 0 });
  }
  return models;
}

/** SIGKILLs the storage process of `targetId` and waits until mgmtd shows the target `state`. */
async function kill(targetId: number, state: PublicState): Promise<void> {
  const handle = processOf(targetId);
  handle.process.child.kill('SIGKILL');
  await handle.process.exited;
  await cluster.waitForRouting((info) => stateOf(info, targetId) === state, `target ${targetId} ${state}`);
}

describe('rotating the last serving target of a stuck chain', () => {
  it('refuses a healthy chain with a clear message', async () => {
    const routing = await cluster.waitForRouting((info) => info.chains.length === 1, 'one chain');
    const chainId = routing.chains[0]?.chainId ?? 0;
    const refused = await rotate(chainId);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      new RegExp(`nothing to rotate: chain ${chainId} still serves .*\\[Mgmtd\\.ChainStillServes\\]`),
    );
    const after = await cluster.mgmtdClient.refreshRoutingInfo();
    expect(after.chains[0]?.chainVersion).toBe(routing.chains[0]?.chainVersion);
  });

  it('brings the chain back from the replica that failed last, refilling the replaced target', async () => {
    const routing = await cluster.waitForRouting((info) => info.chains.length === 1, 'one chain');
    const chain = routing.chains[0];
    if (chain === undefined) throw new Error('no chain');
    const [last, newer, older] = chain.targets.map((target) => target.targetId) as [number, number, number];

    // Written while all three serve; then `older` dies.
    const everyone = await writePhase(chain.chainId, 10, 1_000);
    await kill(older, 'offline');
    // Acknowledged by `last` and `newer`: the rotation must pick `newer` to keep these.
    const twoOfThree = await writePhase(chain.chainId, 20, 2_000);
    await kill(newer, 'offline');
    // Acknowledged by `last` alone: lost with its disk. New chunks, and overwrites of older ones.
    await writePhase(chain.chainId, 30, 3_000);
    const overwritten = await writePhase(chain.chainId, 10, 4_000);
    expect(overwritten.map((model) => model.acked)).not.toEqual(everyone.map((model) => model.acked));
    await kill(last, 'lastsrv');

    // The disk of `last` is replaced: its process restarts on an empty directory and stays out.
    const lastNodeId = processOf(last).nodeId;
    rmSync(targetDirectory(cluster.dir, lastNodeId, last), { recursive: true });
    const restarted = await cluster.startStorage(lastNodeId);
    await restarted.process.waitForLog(
      (line) => typeof line['msg'] === 'string' && line['msg'].includes('starts with an empty store'),
    );
    // The older replicas come back too, the oldest first (so it is ordered ahead of `newer`); with
    // nothing serving they can only wait.
    for (const targetId of [older, newer]) {
      await cluster.startStorage(processOf(targetId).nodeId);
      await cluster.waitForRouting((info) => stateOf(info, targetId) === 'waiting', `${targetId} waiting`);
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const stuck = await cluster.mgmtdClient.refreshRoutingInfo();
    const stuckTargets = stuck.chains[0]?.targets ?? [];
    expect(stuckTargets.map((target) => [target.targetId, target.publicState])).toEqual([
      [older, 'waiting'],
      [newer, 'waiting'],
      [last, 'lastsrv'],
    ]);
    // The chain remembers which replica served last, whatever the order they came back in.
    const servedUntil = (targetId: number) =>
      stuckTargets.find((target) => target.targetId === targetId)?.servedUntilChainVersion ?? 0;
    expect(servedUntil(last)).toBeGreaterThan(servedUntil(newer));
    expect(servedUntil(newer)).toBeGreaterThan(servedUntil(older));
    // The operator sees it in list-chains.
    const listedChains = await admin('list-chains');
    expect(listedChains.stdout).toContain(`${last}(lastsrv, served to v${servedUntil(last)})`);
    expect(listedChains.stdout).toContain(`${newer}(waiting, served to v${servedUntil(newer)})`);
    expect(stuck.targets.find((target) => target.targetId === last)?.localState).toBe('offline');
    const listed = await cluster.rpc.call(restarted.address, storageMethods.listTargets, {});
    expect(listed.targets.find((target) => target.targetId === last)?.localState).toBe('offline');

    const rotated = await rotate(chain.chainId);
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.stdout).toMatch(
      new RegExp(
        `chain ${chain.chainId}: target ${last} \\(the last serving target\\) moved to the end as offline`,
      ),
    );
    expect(rotated.stdout).toMatch(new RegExp(`target ${newer} is the new last serving target`));
    expect(rotated.stdout).toMatch(/chain version \d+: /);
    expect(rotated.stdout).toMatch(
      new RegExp(`warning: writes acknowledged only by target ${last} after the other replicas .* are lost`),
    );

    // Everyone serves again, without restarting the replaced target's process.
    const healed = await cluster.waitForRouting(
      (info) => info.chains[0]?.targets.every((target) => target.publicState === 'serving') === true,
      'every target serving',
      30_000,
    );
    expect(healed.chains[0]?.targets.map((target) => target.targetId)).toEqual([newer, older, last]);
    expect(restarted.process.child.exitCode).toBeNull();

    // What `newer` held is what every replica holds: the chunks every replica had, and the chunks
    // written while two served; the writes `last` alone acknowledged are gone (the chunks of inode
    // 30 do not exist, and those of inode 10 hold their first content again).
    const compared = await expectReplicasIdentical(cluster, healed, [...everyone, ...twoOfThree]);
    expect(compared).toBe(everyone.length + twoOfThree.length);
    const refilled = await dumpAll(cluster, last);
    expect(refilled).toHaveLength(compared);
    for (const model of overwritten) {
      const chunk = refilled.find((candidate) => candidate.chunkId.index === model.chunkId.index);
      expect(chunk?.checksum).not.toBe(crc32c(model.acked ?? Buffer.alloc(0)));
    }
    const recoveries = await cluster.rpc.call(processOf(older).address, storageMethods.recoveryProgress, {});
    expect(recoveries.recoveries.find((recovery) => recovery.targetId === last)?.phase).toBe('done');

    // And the chain takes writes again.
    const after = await writePhase(chain.chainId, 40, 5_000);
    await cluster.waitForRouting(
      (info) => info.chains[0]?.targets.every((target) => target.publicState === 'serving') === true,
      'every target serving',
    );
    const final = await cluster.mgmtdClient.refreshRoutingInfo();
    expect(await expectReplicasIdentical(cluster, final, [...everyone, ...twoOfThree, ...after])).toBe(
      compared + after.length,
    );
  }, 60_000);
});
