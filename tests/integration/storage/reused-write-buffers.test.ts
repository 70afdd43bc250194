// Proves that the client library's writes are the caller's bytes as they were when write()
// returned, on real storage_main processes (three, one chain of three): programs that fill one
// buffer again and again for every write (small, pooled and multi-chunk sizes, several files at
// once) read back exactly what they wrote, through a second client, after close.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FsClient } from '../../../src/client/index.js';
import { connectRootClient } from '../helpers/meta-cluster.js';
import { TestWorld } from '../helpers/processes.js';
import { StorageCluster } from '../helpers/storage-cluster.js';

const mib = 1024 * 1024;
const chunkSizeBytes = mib;

/** The bytes of write `index` of a file: a pattern that differs from one write to the next. */
function fill(buffer: Buffer, seed: number, index: number): void {
  for (let at = 0; at < buffer.length; at += 4)
    buffer.writeUInt32LE((seed * 7919 + index * 104729 + at) >>> 0, at);
}

describe('client library writes from a reused buffer', () => {
  let world: TestWorld;
  let cluster: StorageCluster;
  let writer: FsClient | undefined;
  let reader: FsClient | undefined;

  beforeAll(async () => {
    world = new TestWorld();
    cluster = await StorageCluster.start(world, {
      storageNodes: 3,
      targetsPerNode: 1,
      replicas: 3,
      chunkSizeMaxBytes: chunkSizeBytes,
      initArgs: ['--chunk-size', String(chunkSizeBytes), '--stripe', '1'],
    });
    await cluster.startMeta(50);
    writer = await connectRootClient(cluster.mgmtdAddresses());
    reader = await connectRootClient(cluster.mgmtdAddresses());
  }, 90_000);

  afterAll(async () => {
    await writer?.close().catch(() => {});
    await reader?.close().catch(() => {});
    await cluster?.close();
    await world.cleanup();
  }, 30_000);

  it('stores every write as it was when write() returned', async () => {
    const client = writer!;
    await client.mkdir('/reuse', { recursive: true });
    // Write sizes: below the staging pool's smallest, pooled, a whole chunk, and across chunks.
    const sizes = [3000, 64 * 1024, mib, mib + mib / 2];
    const written = await Promise.all(
      sizes.map(async (size, seed) => {
        const hash = createHash('sha256');
        const handle = await client.open(`/reuse/f${seed}`, { write: true, create: true, truncate: true });
        const buffer = Buffer.alloc(size);
        const writes = Math.ceil((6 * mib) / size);
        for (let index = 0; index < writes; index++) {
          fill(buffer, seed, index);
          hash.update(buffer);
          await handle.write(BigInt(index * size), buffer);
        }
        // Refilled once more after the last write: none of it may reach storage.
        buffer.fill(0xee);
        await handle.close();
        return { path: `/reuse/f${seed}`, bytes: writes * size, sha256: hash.digest('hex') };
      }),
    );
    for (const file of written) {
      const bytes = await reader!.readFile(file.path);
      expect(bytes.length).toBe(file.bytes);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(file.sha256);
    }
  }, 120_000);
});
