// Recovery of a returning target on real processes (mgmtd, three storage services, one chain of
// three, fsync on): a target holding RECOVERY_BENCH_MIB of chunks (1 GiB by default) loses its disk,
// its service restarts on an empty one, and the predecessor copies everything back, paced by the
// default recovery_bandwidth_bytes_per_s. Printed: the time from `syncing` to `serving` (and the
// copy rate the predecessor reports), and 4 MiB chunk write throughput while the copy runs as a
// fraction of the same workload with every replica serving.
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { limits } from '../src/common/limits.js';
import { storageMethods } from '../src/storage/index.js';
import { TestWorld } from '../tests/integration/helpers/processes.js';
import { StorageCluster, targetDirectory } from '../tests/integration/helpers/storage-cluster.js';
import { reportRatio } from './report.js';

const chunkBytes = 4 * 1024 * 1024;
const targetMiB = Number(process.env['RECOVERY_BENCH_MIB'] ?? 1024);
const fillChunks = Math.ceil((targetMiB * 1024 * 1024) / chunkBytes);
const writers = 4;
const baselineMs = 4_000;

const mebibytesPerSecond = (bytes: number, ms: number): number => bytes / (1 << 20) / (ms / 1_000);

/**
 * Writes 4 MiB chunks from `writers` loops until `until()` is true, over a set of 16 chunks (so
 * the workload adds little data for recovery to copy); returns bytes and milliseconds.
 */
async function writeLoad(
  cluster: StorageCluster,
  inode: bigint,
  until: () => boolean,
): Promise<{ bytes: number; ms: number }> {
  const data = randomBytes(chunkBytes);
  let sequence = 0;
  let bytes = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: writers }, async () => {
      while (!until()) {
        const index = sequence++ % 16;
        await cluster.client.replace({
          chainId: 1,
          chunkId: { inode, index },
          chunkSizeBytes: chunkBytes,
          data,
        });
        bytes += chunkBytes;
      }
    }),
  );
  return { bytes, ms: performance.now() - started };
}

async function fill(cluster: StorageCluster): Promise<number> {
  const data = randomBytes(chunkBytes);
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < fillChunks) {
        const index = next++;
        await cluster.client.replace({
          chainId: 1,
          chunkId: { inode: 1n, index },
          chunkSizeBytes: chunkBytes,
          data,
        });
      }
    }),
  );
  return performance.now() - started;
}

export async function run(): Promise<void> {
  const world = new TestWorld();
  try {
    const cluster = await StorageCluster.start(world, {
      storageNodes: 3,
      targetsPerNode: 1,
      replicas: 3,
      chunkSizeMaxBytes: chunkBytes,
    });
    const fillMs = await fill(cluster);
    console.log(
      `filled ${fillChunks} chunks of 4 MiB (${targetMiB} MiB per target, 3 replicas) in ${(fillMs / 1_000).toFixed(1)} s`,
    );

    // Baseline: the write workload with every replica serving.
    const baselineEnd = performance.now() + baselineMs;
    const baseline = await writeLoad(cluster, 2n, () => performance.now() > baselineEnd);

    // The last target of the chain loses its disk; its service comes back on an empty one.
    const chain = await cluster.chain(1);
    const victimTarget = chain.targets[2]?.targetId ?? 0;
    const victim = [...cluster.storage.values()].find((handle) => handle.targetIds.includes(victimTarget));
    if (victim === undefined) throw new Error('no process serves the last target');
    victim.process.child.kill('SIGKILL');
    await victim.process.exited;
    rmSync(targetDirectory(cluster.dir, victim.nodeId, victimTarget), { recursive: true, force: true });
    await cluster.waitForRouting(
      (routing) =>
        routing.targets.find((target) => target.targetId === victimTarget)?.publicState === 'offline',
      'the target offline',
      30_000,
    );
    await cluster.startStorage(victim.nodeId);
    await cluster.waitForRouting(
      (routing) =>
        routing.targets.find((target) => target.targetId === victimTarget)?.publicState === 'syncing',
      'the target syncing',
      30_000,
    );
    const syncStarted = performance.now();
    let served = false;
    const during = writeLoad(cluster, 3n, () => served);
    await cluster.waitForRouting(
      (routing) =>
        routing.targets.find((target) => target.targetId === victimTarget)?.publicState === 'serving',
      'the target serving again',
      600_000,
    );
    const resyncMs = performance.now() - syncStarted;
    served = true;
    const load = await during;

    const predecessor = chain.targets[1]?.targetId ?? 0;
    const progress = await cluster.rpc.call(
      cluster.addressOf(predecessor),
      storageMethods.recoveryProgress,
      {},
    );
    const done = progress.recoveries.find(
      (recovery) => recovery.targetId === victimTarget && recovery.phase === 'done',
    );
    const copyMs = done === undefined ? 0 : done.updatedAtMs - done.startedAtMs;
    console.log(
      `re-sync of a target holding ${targetMiB} MiB: syncing -> serving in ${(resyncMs / 1_000).toFixed(1)} s; ` +
        `the predecessor copied ${done?.chunksDone ?? 0} chunks, ${((done?.bytesDone ?? 0) / (1 << 20)).toFixed(0)} MiB, ` +
        `in ${(copyMs / 1_000).toFixed(1)} s (${mebibytesPerSecond(done?.bytesDone ?? 0, Math.max(1, copyMs)).toFixed(0)} MiB/s; ` +
        `recovery_bandwidth_bytes_per_s ${(limits.storageRecoveryBandwidthBytesPerSDefault / (1 << 20)).toFixed(0)} MiB/s, ` +
        `${limits.storageRecoveryConcurrencyDefault} chunks at once)`,
    );
    reportRatio({
      workload: `4 MiB chunk writes, ${writers} at once, during re-sync`,
      unit: 'MiB/s',
      ours: mebibytesPerSecond(load.bytes, load.ms),
      baselineName: 'no re-sync',
      baseline: mebibytesPerSecond(baseline.bytes, baseline.ms),
    });
    await cluster.close();
  } finally {
    await world.cleanup();
  }
}
