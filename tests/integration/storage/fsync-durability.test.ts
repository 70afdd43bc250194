// Proves the data durability contract on real storage_main processes (three, one chain of three)
// with `sync_writes = false`, on both chunk engines: an fsync through the client library makes
// every replica of the file's chain sync its chunk store (seen in each target's sync counter, which
// the metrics report), a read-only handle's fsync too; and data acknowledged by writes that were
// never fsynced survives SIGKILL of every storage process at once: after a restart and recovery,
// every file reads back with the checksum it was written with.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FsClient } from '../../../src/client/index.js';
import { storageMethods } from '../../../src/storage/index.js';
import { connectRootClient } from '../helpers/meta-cluster.js';
import { TestWorld } from '../helpers/processes.js';
import { StorageCluster } from '../helpers/storage-cluster.js';
import { nativeChunkEngineAvailable } from '../../../src/storage/store/native-chunk-engine.js';

const chunkSizeBytes = 1024 * 1024;
const storageNodes = 3;

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

describe.each(['native', 'files'] as const)('fsync and process death on the %s chunk engine', (engine) => {
  let world: TestWorld;
  let cluster: StorageCluster;
  let client: FsClient | undefined;

  beforeAll(async () => {
    if (engine === 'native' && !nativeChunkEngineAvailable()) {
      throw new Error('the native chunk engine is not built (npm run build)');
    }
    world = new TestWorld();
    cluster = await StorageCluster.start(world, {
      storageNodes,
      targetsPerNode: 1,
      replicas: 3,
      chunkSizeMaxBytes: chunkSizeBytes,
      initArgs: ['--chunk-size', String(chunkSizeBytes), '--stripe', '1'],
      storageSettings: `chunk_engine = "${engine}"\nsync_writes = false`,
    });
    await cluster.startMeta(50);
    client = await connectRootClient(cluster.mgmtdAddresses());
  }, 90_000);

  afterAll(async () => {
    await client?.close().catch(() => {});
    await cluster?.close();
    // Kills every process the test started (SIGKILL by PID) and removes the directories.
    await world.cleanup();
  }, 30_000);

  /** Each target's sync counter, as its storage process reports it. */
  async function syncCounts(): Promise<Map<number, number>> {
    const counters = await cluster.targetCounters();
    return new Map([...counters].map(([targetId, counted]) => [targetId, counted.syncs]));
  }

  it("syncs every replica of the file's chain on fsync, through a write handle and a read-only one", async () => {
    const fs = client as FsClient;
    const chain = await cluster.chain(1);
    expect(chain.targets).toHaveLength(3);
    const file = await fs.open('/synced', { create: true, read: true, write: true });
    await file.write(0n, randomBytes(3 * chunkSizeBytes + 1000));
    const before = await syncCounts();
    await file.fsync();
    const afterWrite = await syncCounts();
    for (const { targetId } of chain.targets) {
      expect((afterWrite.get(targetId) ?? 0) - (before.get(targetId) ?? 0)).toBeGreaterThanOrEqual(1);
    }
    await file.close();
    const reader = await fs.open('/synced', { read: true, write: false });
    await reader.fsync();
    const afterRead = await syncCounts();
    for (const { targetId } of chain.targets) {
      expect(afterRead.get(targetId) ?? 0).toBeGreaterThan(afterWrite.get(targetId) ?? 0);
    }
    await reader.close();
  });

  it('keeps acknowledged writes that were never fsynced across SIGKILL of every storage process', async () => {
    const fs = client as FsClient;
    const written = new Map<string, string>();
    for (let index = 0; index < 4; index++) {
      const path = `/unsynced-${index}`;
      const data = randomBytes(chunkSizeBytes + index * 300_001);
      const file = await fs.open(path, { create: true, read: true, write: true });
      await file.write(0n, data);
      // Close sends the buffered writes and waits for every replica's acknowledgement; no fsync.
      await file.close();
      written.set(path, sha256(data));
    }
    const handles = [...cluster.storage.values()];
    for (const handle of handles) handle.process.child.kill('SIGKILL');
    for (const handle of handles) expect((await handle.process.exited).signal).toBe('SIGKILL');
    await cluster.waitForRouting(
      (routing) => routing.targets.every((target) => target.publicState !== 'serving'),
      'mgmtd to see every replica down',
    );
    for (const handle of handles) await cluster.startStorage(handle.nodeId);
    await cluster.waitForRouting(
      (routing) =>
        routing.chains.length > 0 &&
        routing.chains.every((chain) => chain.targets.every((target) => target.publicState === 'serving')),
      'every replica serving again after the restart',
      60_000,
    );
    for (const [path, checksum] of written) {
      const file = await fs.open(path, { read: true, write: false });
      const data = await file.read(0n, Number(file.length()));
      await file.close();
      expect(sha256(data), path).toBe(checksum);
    }
    // Every replica holds the same chunks, each intact: scrubbing reads them whole and verifies them.
    const replicas: string[][] = [];
    for (const handle of cluster.storage.values()) {
      for (const targetId of handle.targetIds) {
        const scrub = await cluster.rpc.call(handle.address, storageMethods.scrubChunks, {
          targetId,
          after: null,
          limit: 100,
        });
        expect(scrub.chunks.every((chunk) => chunk.intact)).toBe(true);
        replicas.push(
          scrub.chunks.map((chunk) => `${chunk.chunkId.inode}:${chunk.chunkId.index}:${chunk.checksum}`),
        );
      }
    }
    expect(replicas).toHaveLength(storageNodes);
    expect(replicas[0]?.length).toBeGreaterThanOrEqual(written.size);
    for (const replica of replicas) expect(replica).toEqual(replicas[0]);
  }, 120_000);
});
