// Proves recovery on real processes (three storage_main, two chains of three): a storage service
// killed with SIGKILL while writers run is marked offline and moved to the end of its chains, the
// writers keep going on the remaining replicas, the restarted service goes waiting → syncing →
// serving while they still write, and then every replica of every chain holds identical chunks
// (metadata and bytes) and every acknowledged write its exact content. Then a storage service cut
// off from mgmtd (mgmtd stopped with SIGSTOP) stops serving and exits within the fencing time.
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recoveryProgressCommand } from '../../../src/admin/commands/recovery-progress.js';
import type { PublicState } from '../../../src/mgmtd/index.js';
import type { ChunkClient } from '../../../src/cluster/index.js';
import { storageMethods } from '../../../src/storage/index.js';
import { TestWorld, eventually } from '../helpers/processes.js';
import { StorageCluster, storageTimings } from '../helpers/storage-cluster.js';
import { expectReplicasIdentical, pattern, writeChunk, type ChunkModel } from './replica-check.js';

const chunkSizeBytes = 1024 * 1024;
const chunksPerChain = 4;
const bulkChunksPerChain = 24;
const victimNodeId = 2;

let world: TestWorld;
let cluster: StorageCluster;
let client: ChunkClient;

function newModel(chainId: number, index: number): ChunkModel {
  return {
    chainId,
    chunkId: { inode: BigInt(700 + chainId), index },
    acked: undefined,
    unknown: [],
    ackedWrites: 0,
    ackedDuring: 0,
  };
}

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

describe('a storage service killed while writing heals without losing an acknowledged byte', () => {
  it('resyncs the restarted service while writes continue, and leaves every replica identical', async () => {
    const routing = await cluster.waitForRouting((info) => info.chains.length === 2, 'two chains');
    const models: ChunkModel[] = [];
    for (const chain of routing.chains) {
      for (let index = 0; index < chunksPerChain; index++) models.push(newModel(chain.chainId, index));
    }
    // Bulk chunks written once, so the returning target has real data to catch up on.
    const bulk: ChunkModel[] = [];
    for (const chain of routing.chains) {
      for (let index = 0; index < bulkChunksPerChain; index++)
        bulk.push(newModel(chain.chainId, 1_000 + index));
    }

    let stop = false;
    let victimDown = false;
    const writers = models.map((model, number) =>
      writeChunk({
        client,
        model,
        chunkSizeBytes,
        stop: () => stop,
        countDuring: () => victimDown,
        seedBase: number * 100_000,
      }),
    );
    await eventually(
      async () => (models.every((model) => model.ackedWrites >= 2) ? true : undefined),
      20_000,
      'first writes',
    );

    const victim = cluster.storage.get(victimNodeId);
    if (victim === undefined) throw new Error('no victim process');
    victim.process.child.kill('SIGKILL');
    victimDown = true;
    await victim.process.exited;
    // While the service is dead, the bulk data lands on the two remaining replicas only.
    await Promise.all(
      bulk.map(async (model, number) => {
        const data = pattern(128 * 1024 + number, 9_000 + number);
        await client.replace({ chainId: model.chainId, chunkId: model.chunkId, chunkSizeBytes, data });
        model.acked = data;
        model.ackedWrites += 1;
      }),
    );
    const degraded = await cluster.waitForRouting(
      (info) =>
        victim.targetIds.every((targetId) => {
          const state = info.targets.find((target) => target.targetId === targetId)?.publicState;
          return state === 'offline' || state === 'lastsrv';
        }),
      'the dead service offline',
    );
    for (const chain of degraded.chains) {
      const last = chain.targets[chain.targets.length - 1];
      expect(victim.targetIds, `chain ${chain.chainId} keeps the dead target at its end`).toContain(
        last?.targetId,
      );
    }
    await eventually(
      async () => (models.some((model) => model.ackedDuring >= 2) ? true : undefined),
      20_000,
      'writes acknowledged while the service is down',
    );

    // Every state the returning targets pass through, polled until all serve.
    const seen = new Map<number, Set<PublicState>>(victim.targetIds.map((targetId) => [targetId, new Set()]));
    const restarted = await cluster.startStorage(victimNodeId);
    victimDown = false;
    // The operator's view meanwhile: admin recovery-progress, watching until every target serves.
    let progressLines = '';
    let summary = '';
    const watched = recoveryProgressCommand({
      mgmtd: cluster.newMgmtdClient(),
      rpc: cluster.rpc,
      output: { json: false, write: (text) => (summary += text) },
      timeoutMs: 2_000,
      watch: true,
      intervalMs: 100,
      watchLimitMs: 45_000,
      stream: new Writable({
        write(chunk: Buffer, _encoding, done) {
          progressLines += chunk.toString();
          done();
        },
      }),
    });
    const healed = await eventually(
      async () => {
        const info = await cluster.mgmtdClient.refreshRoutingInfo();
        for (const target of info.targets) seen.get(target.targetId)?.add(target.publicState);
        const allServing = info.chains.every((chain) =>
          chain.targets.every((target) => target.publicState === 'serving'),
        );
        return allServing ? info : undefined;
      },
      45_000,
      'every target serving again',
    );
    const finalReport = await watched;
    expect(finalReport.done).toBe(true);
    expect(summary).toMatch(/no target is recovering/);
    for (const targetId of restarted.targetIds) {
      expect(progressLines).toMatch(
        new RegExp(`target\\(s\\) [0-9, ]*${targetId}|target ${targetId} \\(chain`),
      );
    }
    for (const [targetId, states] of seen) {
      // Polled, a short state may be missed; but a returning target is never made serving straight from offline.
      expect(
        states.has('waiting') || states.has('syncing'),
        `target ${targetId} came back through recovery (${[...states].join(', ')})`,
      ).toBe(true);
      expect(states.has('serving')).toBe(true);
    }
    // Writes keep flowing to all three replicas for a moment, then stop.
    const before = models.reduce((sum, model) => sum + model.ackedWrites, 0);
    await eventually(
      async () =>
        models.reduce((sum, model) => sum + model.ackedWrites, 0) >= before + models.length
          ? true
          : undefined,
      20_000,
      'writes after the heal',
    );
    stop = true;
    await Promise.all(writers);

    const compared = await expectReplicasIdentical(cluster, healed, [...models, ...bulk]);
    expect(compared).toBe(models.length + bulk.length);

    // The predecessors report the recoveries they drove, done, with the bulk data copied.
    const reports = await Promise.all(
      [...cluster.storage.values()]
        .filter((handle) => handle.nodeId !== victimNodeId)
        .map((handle) => cluster.rpc.call(handle.address, storageMethods.recoveryProgress, {})),
    );
    const done = reports
      .flatMap((report) => report.recoveries)
      .filter((recovery) => recovery.phase === 'done');
    expect(new Set(done.map((recovery) => recovery.targetId))).toEqual(new Set(restarted.targetIds));
    const copiedBytes = done.reduce((sum, recovery) => sum + recovery.bytesDone, 0);
    expect(copiedBytes).toBeGreaterThanOrEqual(bulk.length * 128 * 1024);
  }, 120_000);

  it('stops every storage service within the fencing time once mgmtd is cut off', async () => {
    const started = Date.now();
    cluster.mgmtd.process.child.kill('SIGSTOP');
    const exits = await Promise.all([...cluster.storage.values()].map((handle) => handle.process.exited));
    const elapsedMs = Date.now() - started;
    expect(exits.every((exit) => exit.code === 3)).toBe(true);
    // Fencing after half the heartbeat timeout without mgmtd, checked every tenth of it, plus slack
    // for a loaded machine: well before mgmtd itself could declare the services dead.
    expect(elapsedMs).toBeLessThan(storageTimings.heartbeatTimeoutMs / 2 + 1_500);
    cluster.mgmtd.process.child.kill('SIGKILL');
  }, 30_000);
});
