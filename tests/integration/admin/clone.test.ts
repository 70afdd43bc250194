// Proves `admin clone` on a running cluster with the native chunk engine: a multi-chunk file's
// clone reads identical to its source, a write to either side leaves the other unchanged, the
// clone still reads right after its source is deleted, a tree clones whole (directories, symlinks,
// files), bad input is refused with a clear message, and each target's engine then holds exactly
// the slots its live chunks name, the clones' blocks still shared with their sources: deleting one
// side freed only the blocks the other did not share, and copied nothing.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FsClient } from '../../../src/client/index.js';
import { silentLogger } from '../../../src/common/logger.js';
import type { FileInode } from '../../../src/meta/protocol/index.js';
import { RpcClient } from '../../../src/rpc/index.js';
import { storageMethods } from '../../../src/storage/index.js';
import { NativeChunkStore } from '../../../src/storage/store/native-chunk-store.js';
import {
  fuseClusterSkipReason,
  startFuseCluster,
  storageTargetId,
  type FuseCluster,
} from '../helpers/fuse-cluster.js';
import { clusterSecret } from '../helpers/meta-cluster.js';
import { TestWorld, eventually } from '../helpers/processes.js';

const skipReason = fuseClusterSkipReason('admin clone tests');
const chunkSizeBytes = 64 * 1024;
/** Sixteen full chunks and a partial one. */
const bigBytes = 16 * chunkSizeBytes + 1_000;

describe.skipIf(skipReason !== undefined)('admin clone', () => {
  let world: TestWorld;
  let cluster: FuseCluster;
  let client: FsClient;
  let rpc: RpcClient;

  beforeAll(async () => {
    world = new TestWorld();
    cluster = await startFuseCluster(world, { chunkSizeBytes });
    client = await cluster.client();
    rpc = new RpcClient({ clusterSecret, logger: silentLogger() });
  }, 120_000);

  afterAll(async () => {
    await rpc?.close();
    await cluster?.stop();
    await world.cleanup();
  }, 60_000);

  async function admin(...args: string[]) {
    return world.runBinary(
      'admin',
      ['--mgmtd', cluster.mgmtdAddress, '--secret-file', cluster.secretFile, '--json', ...args],
      60_000,
    );
  }

  /** Committed chunks over every target of the cluster. */
  async function chunkCount(): Promise<number> {
    let total = 0;
    await client.routing.refresh();
    for (const node of cluster.storage) {
      const address = client.routing.addressOfTarget(node.targetId);
      if (address === undefined) throw new Error(`no address for target ${node.targetId}`);
      const { targets } = await rpc.call(address, storageMethods.listTargets, {});
      for (const target of targets) total += target.chunkCount;
    }
    return total;
  }

  it('clones a multi-chunk file that then diverges under writes on either side', async () => {
    const original = randomBytes(bigBytes);
    await client.mkdir('/work');
    await client.writeFile('/work/big', original);
    const result = await admin('clone', '/work/big', '/work/big-clone');
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ files: 1, bytes: String(bigBytes) });
    const source = (await client.stat('/work/big')) as FileInode;
    const clone = (await client.stat('/work/big-clone')) as FileInode;
    expect(clone.length).toBe(BigInt(bigBytes));
    expect(clone.layout).toEqual(source.layout);
    expect(clone.ino).not.toBe(source.ino);
    expect(await client.readFile('/work/big-clone')).toEqual(original);

    let cloneBytes: Buffer = Buffer.from(original);
    let sourceBytes: Buffer = Buffer.from(original);
    cloneBytes = await writeAt('/work/big-clone', 10, Buffer.from('written to the clone'), cloneBytes);
    sourceBytes = await writeAt(
      '/work/big',
      2 * chunkSizeBytes + 5,
      Buffer.from('to the source'),
      sourceBytes,
    );
    // An append into the shared partial last chunk, from each side.
    cloneBytes = await writeAt('/work/big-clone', bigBytes, Buffer.from('clone tail'), cloneBytes);
    sourceBytes = await writeAt('/work/big', bigBytes, Buffer.from('a longer source tail'), sourceBytes);
    expect(await client.readFile('/work/big-clone')).toEqual(cloneBytes);
    expect(await client.readFile('/work/big')).toEqual(sourceBytes);

    await client.unlink('/work/big');
    expect(await client.readFile('/work/big-clone')).toEqual(cloneBytes);
  }, 120_000);

  /** Writes `data` at `offset` of the file at `path`; returns `model` with the same change. */
  async function writeAt(path: string, offset: number, data: Buffer, model: Buffer): Promise<Buffer> {
    const file = await client.open(path, { write: true });
    await file.write(BigInt(offset), data);
    await file.close();
    const next = Buffer.alloc(Math.max(model.length, offset + data.length));
    model.copy(next);
    data.copy(next, offset);
    return next;
  }

  it('clones a tree: directories, symbolic links and files', async () => {
    const files = new Map<string, Buffer>([
      ['/tree/a', randomBytes(3 * chunkSizeBytes)],
      ['/tree/sub/b', randomBytes(chunkSizeBytes + 17)],
      ['/tree/sub/deeper/c', randomBytes(100)],
      ['/tree/empty-file', Buffer.alloc(0)],
    ]);
    await client.mkdir('/tree/sub/deeper', { recursive: true });
    await client.mkdir('/tree/empty-dir');
    for (const [path, data] of files) await client.writeFile(path, data);
    await client.symlink('sub/b', '/tree/link');
    const result = await admin('clone', '/tree', '/tree-clone');
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ files: 4, directories: 4, symlinks: 1, skipped: 0 });
    for (const [path, data] of files) {
      expect(await client.readFile(path.replace('/tree/', '/tree-clone/'))).toEqual(data);
    }
    expect(await client.readlink('/tree-clone/link')).toBe('sub/b');
    expect((await client.readdir('/tree-clone/empty-dir')).length).toBe(0);
    expect(await client.readFile('/tree-clone/link')).toEqual(files.get('/tree/sub/b'));
  }, 120_000);

  it('refuses bad input with a clear message and leaves nothing behind', async () => {
    const cases: Array<{ args: string[]; code: number; message: RegExp }> = [
      { args: ['/nothing-here', '/x'], code: 1, message: /no such file or directory/ },
      { args: ['/tree', '/tree-clone'], code: 1, message: /exists/ },
      { args: ['/tree', '/tree/inner'], code: 1, message: /into itself/ },
      { args: ['relative', '/x'], code: 1, message: /not an absolute path/ },
      { args: ['/tree/../tree', '/x'], code: 1, message: /"\.\."/ },
      { args: ['/tree'], code: 2, message: /missing required argument/ },
    ];
    for (const { args, code, message } of cases) {
      const result = await admin('clone', ...args);
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(code);
      expect(result.stderr).toMatch(message);
    }
    await expect(client.stat('/x')).rejects.toThrow();
    await expect(client.stat('/tree/inner')).rejects.toThrow();
  }, 60_000);

  it('leaves each engine holding exactly the slots its live chunks name, the clones still shared', async () => {
    // The deleted source's chunks go in the background; wait until only live files' chunks remain.
    const live = ['/work/big-clone', '/tree/a', '/tree/sub/b', '/tree/sub/deeper/c'];
    const treeFiles = live.slice(1);
    let liveChunks = 0;
    for (const path of [...live, ...treeFiles.map((path) => path.replace('/tree/', '/tree-clone/'))]) {
      const inode = (await client.stat(path)) as FileInode;
      liveChunks += Math.ceil(Number(inode.length) / chunkSizeBytes);
    }
    await eventually(
      async () => ((await chunkCount()) === 3 * liveChunks ? true : undefined),
      30_000,
      'the deleted source chunks removed from every replica',
    );
    await cluster.stop();
    const treeLengths = [3 * chunkSizeBytes, chunkSizeBytes + 17, 100];
    let shared = 0;
    let expectedShared = 0;
    for (const node of cluster.storage) {
      const store = await NativeChunkStore.open({
        targetId: storageTargetId(node.nodeId),
        path: join(cluster.dir, `storage-${node.nodeId}`),
        durable: false,
        freeSpaceReserveBytes: 0,
        logger: silentLogger(),
      });
      try {
        const stats = store.engineStats();
        let blocks = 0;
        for (const chunk of store.list({ after: undefined, limit: 100_000 })) {
          blocks += Math.ceil((chunk.committed?.length ?? 0) / stats.blockBytes);
        }
        // Every slot shared here is shared by one clone and its source: one slot, two names.
        expect(stats.usedSlots).toBe(blocks - stats.sharedSlots);
        shared += stats.sharedSlots;
        // Each chain has three replicas: each tree file's blocks are shared on three targets.
        if (node === cluster.storage[0]) {
          for (const length of treeLengths) {
            for (let at = 0; at < length; at += chunkSizeBytes) {
              expectedShared += 3 * Math.ceil(Math.min(chunkSizeBytes, length - at) / stats.blockBytes);
            }
          }
        }
      } finally {
        await store.close();
      }
    }
    // The tree's files and their clones still share every block, on every replica.
    expect(shared).toBe(expectedShared);
  }, 120_000);
});
