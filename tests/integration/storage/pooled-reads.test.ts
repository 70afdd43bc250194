// Proves reads through a client library given a reply payload pool, on real storage_main processes
// (three, one chain of three): sequential and odd-sized reads of several files at once each return
// their own file's bytes while buffers handed back are reused for later replies, and bytes a
// program keeps (never hands back) stay intact however many reads follow; readFile hands its own back.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readReplyPool, releasePayload, type FsClient } from '../../../src/client/index.js';
import { connectRootClient } from '../helpers/meta-cluster.js';
import { TestWorld } from '../helpers/processes.js';
import { StorageCluster } from '../helpers/storage-cluster.js';

const mib = 1024 * 1024;
const chunkSizeBytes = mib;

describe('client library reads into pooled buffers', () => {
  let world: TestWorld;
  let cluster: StorageCluster;
  let client: FsClient | undefined;
  const pool = readReplyPool();

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
    client = await connectRootClient(cluster.mgmtdAddresses(), { replyPayloadPool: pool });
  }, 90_000);

  afterAll(async () => {
    await client?.close().catch(() => {});
    await cluster?.close();
    await world.cleanup();
  }, 30_000);

  it('gives each reader its own bytes while handed-back buffers serve later replies', async () => {
    const fs = client as FsClient;
    const contents = [randomBytes(12 * mib + 4321), randomBytes(9 * mib + 77)];
    for (const [index, data] of contents.entries()) {
      const file = await fs.open(`/pooled-${index}`, { create: true, write: true });
      await file.write(0n, data);
      await file.fsync();
      await file.close();
    }
    const kept: Array<{ bytes: Buffer; expected: Buffer }> = [];
    const reader = async (index: number, pieceBytes: number, keep: boolean): Promise<string> => {
      const expected = contents[index]!;
      const file = await fs.open(`/pooled-${index}`);
      const hash = createHash('sha256');
      try {
        for (let offset = 0; ;) {
          const bytes = await file.read(BigInt(offset), pieceBytes);
          if (bytes.length === 0) break;
          expect(
            bytes.equals(expected.subarray(offset, offset + bytes.length)),
            `file ${index} at ${offset}`,
          ).toBe(true);
          hash.update(bytes);
          offset += bytes.length;
          if (keep && kept.length < 8) kept.push({ bytes, expected: Buffer.from(bytes) });
          else releasePayload(bytes);
        }
      } finally {
        await file.close();
      }
      return hash.digest('hex');
    };
    const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
    const before = pool.stats();
    const results = await Promise.all([
      reader(0, mib, true),
      reader(1, mib, false),
      reader(0, 3 * (mib / 2) + 5, false),
      reader(1, 700_000, false),
    ]);
    expect(results).toEqual([sha(contents[0]!), sha(contents[1]!), sha(contents[0]!), sha(contents[1]!)]);
    // More reads after the kept ones, which must not have been written over.
    expect(await reader(1, mib, false)).toBe(sha(contents[1]!));
    expect(kept.length).toBe(8);
    for (const { bytes, expected } of kept) expect(bytes.equals(expected)).toBe(true);
    const after = pool.stats();
    expect(after.taken - before.taken).toBeGreaterThan(20);
    expect(after.reused - before.reused).toBeGreaterThan(10);
    // readFile copies its reads out and hands them back itself.
    for (const [index, data] of contents.entries())
      expect((await fs.readFile(`/pooled-${index}`)).equals(data)).toBe(true);
    expect(pool.stats().reused - after.reused).toBeGreaterThan(5);
  }, 60_000);
});
