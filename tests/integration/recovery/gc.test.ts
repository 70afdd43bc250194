// Proves the meta service's GC worker on real processes (mgmtd, three storage services with two
// chains of three, two meta services whose GC workers share the queues): deleting a large file
// frees its chunks on every target within the GC interval; a shrinking truncate cuts the chunk
// across the new end and removes the ones past it; a truncate followed by a new write keeps the
// written bytes; queued work survives killed meta services; and a live file is never touched.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc32c } from '../../../src/common/crc32c.js';
import {
  metaMethods,
  Placement,
  type FileInode,
  type FileLayout,
  type Inode,
  type Session,
} from '../../../src/meta/protocol/index.js';
import { formatChunkId, storageMethods } from '../../../src/storage/index.js';
import { TestWorld, eventually } from '../helpers/processes.js';
import { StorageCluster, targetDirectory } from '../helpers/storage-cluster.js';
import { dumpAll, pattern } from './replica-check.js';

const chunkSizeBytes = 1024 * 1024;
const gcIntervalMs = 1_000;
const root = { uid: 0, gid: 0, groups: [] };

let world: TestWorld;
let cluster: StorageCluster;

function meta(): string {
  const alive = [...cluster.metas.values()].find(
    (candidate) => candidate.process.child.exitCode === null && candidate.process.child.signalCode === null,
  );
  if (alive === undefined) throw new Error('no meta service runs');
  return alive.address;
}

/** Creates `path`, writes `chunks` whole chunks (or `lastBytes` of the last), closes with the length. */
async function writeFile(
  path: string,
  chunks: number,
  seed: number,
): Promise<{ inode: FileInode; data: Buffer[] }> {
  const session: Session = { clientId: 'gc-test', sessionId: `s-${seed}` };
  const { inode } = await cluster.rpc.call(meta(), metaMethods.create, {
    cred: root,
    at: { path },
    mode: 0o644,
    session,
  });
  if (inode.type !== 'file') throw new Error('created a file');
  const placement = new Placement(inode.layout);
  const data = Array.from({ length: chunks }, (_, index) => pattern(chunkSizeBytes, seed * 1_000 + index));
  await Promise.all(
    data.map((bytes, index) =>
      cluster.client.replace({
        chainId: placement.chainOf(BigInt(index)),
        chunkId: { inode: inode.ino, index },
        chunkSizeBytes,
        data: bytes,
      }),
    ),
  );
  await cluster.rpc.call(meta(), metaMethods.close, {
    cred: root,
    ino: inode.ino,
    session,
    length: { bytes: BigInt(chunks * chunkSizeBytes), truncateVersion: inode.truncateVersion },
    wrote: true,
  });
  return { inode, data };
}

/** Every replica's chunks of `ino`: index → [length, crc] per target. */
async function chunksOf(ino: bigint, layout: FileLayout): Promise<Map<number, Array<[number, number]>>> {
  const found = new Map<number, Array<[number, number]>>();
  const routing = await cluster.mgmtdClient.refreshRoutingInfo();
  for (const chain of routing.chains.filter((candidate) => layout.chains.includes(candidate.chainId))) {
    for (const { targetId } of chain.targets) {
      for (const chunk of await dumpAll(cluster, targetId)) {
        if (chunk.chunkId.inode !== ino) continue;
        const list = found.get(chunk.chunkId.index) ?? [];
        list.push([chunk.length, chunk.checksum]);
        found.set(chunk.chunkId.index, list);
      }
    }
  }
  return found;
}

/** Data files of `ino` left in every target directory. */
function dataFilesOf(ino: bigint): string[] {
  const prefix = formatChunkId({ inode: ino, index: 0 }).slice(0, 17);
  const files: string[] = [];
  for (const handle of cluster.storage.values()) {
    for (const targetId of handle.targetIds) {
      const data = join(targetDirectory(cluster.dir, handle.nodeId, targetId), 'data');
      for (const fanOut of readdirSync(data)) {
        for (const name of readdirSync(join(data, fanOut))) if (name.startsWith(prefix)) files.push(name);
      }
    }
  }
  return files;
}

async function committedBytes(): Promise<number> {
  let total = 0;
  for (const handle of cluster.storage.values()) {
    const listed = await cluster.rpc.call(handle.address, storageMethods.listTargets, {});
    for (const target of listed.targets) total += target.committedBytes;
  }
  return total;
}

async function queuesEmpty(): Promise<boolean> {
  const files = await cluster.rpc.call(meta(), metaMethods.listGcQueue, { limit: 10 });
  const cuts = await cluster.rpc.call(meta(), metaMethods.listPendingTruncations, { limit: 10 });
  return files.entries.length === 0 && cuts.entries.length === 0;
}

beforeAll(async () => {
  world = new TestWorld();
  cluster = await StorageCluster.start(world, {
    storageNodes: 3,
    targetsPerNode: 2,
    replicas: 3,
    chunkSizeMaxBytes: chunkSizeBytes,
    // dataFilesOf looks for the files store's per-chunk data files (the native engine frees slots
    // inside its data files instead); what storage reports is checked on either engine.
    storageSettings: 'chunk_engine = "files"',
  });
  const gc = `[meta.gc]\ninterval_ms = ${gcIntervalMs}\nconcurrency = 2`;
  await Promise.all([51, 52].map((nodeId) => cluster.startMeta(nodeId, gc)));
}, 60_000);

afterAll(async () => {
  await cluster?.close();
  await world.cleanup();
});

describe('the GC worker', () => {
  let keep: { inode: FileInode; data: Buffer[] };

  it('frees every chunk of a deleted large file on every target within the GC interval', async () => {
    keep = await writeFile('/keep', 3, 1);
    const big = await writeFile('/big', 32, 2);
    const before = await committedBytes();
    expect((await chunksOf(big.inode.ino, big.inode.layout)).size).toBe(32);
    expect(dataFilesOf(big.inode.ino)).toHaveLength(32 * 3);

    const unlinkedAt = Date.now();
    await cluster.rpc.call(meta(), metaMethods.unlink, { cred: root, at: { path: '/big' } });
    await eventually(
      async () => ((await chunksOf(big.inode.ino, big.inode.layout)).size === 0 ? true : undefined),
      gcIntervalMs + 15_000,
      'the deleted file gone from storage',
    );
    const freedMs = Date.now() - unlinkedAt;
    // The next pass starts within one interval; removing 96 replicas of 1 MiB takes a little more.
    expect(freedMs).toBeLessThan(gcIntervalMs + 8_000);
    expect(dataFilesOf(big.inode.ino)).toEqual([]);
    expect(before - (await committedBytes())).toBe(32 * chunkSizeBytes * 3);
    await eventually(async () => ((await queuesEmpty()) ? true : undefined), 10_000, 'empty GC queue');
  }, 60_000);

  it('collects many removed files in one page, stepping over the chunks of live files between them', async () => {
    // Files made in a row get neighbouring inode ids: removing every other one leaves live files'
    // chunks between the removed ones in every target's chunk order.
    const files = [];
    for (let index = 0; index < 12; index++) files.push(await writeFile(`/row-${index}`, 2, 300 + index));
    for (let index = 0; index < files.length; index += 2) {
      await cluster.rpc.call(meta(), metaMethods.unlink, { cred: root, at: { path: `/row-${index}` } });
    }
    await eventually(async () => ((await queuesEmpty()) ? true : undefined), 30_000, 'the GC queue to empty');
    for (const [index, file] of files.entries()) {
      const chunks = await chunksOf(file.inode.ino, file.inode.layout);
      if (index % 2 === 0) {
        expect(chunks.size, `removed file ${index}`).toBe(0);
        continue;
      }
      expect(chunks.size, `live file ${index}`).toBe(2);
      for (const [chunkIndex, replicas] of chunks) {
        expect(replicas.length).toBe(3);
        const expected = crc32c(file.data[chunkIndex] ?? Buffer.alloc(0));
        for (const [length, checksum] of replicas)
          expect([length, checksum]).toEqual([chunkSizeBytes, expected]);
      }
    }
    for (let index = 1; index < files.length; index += 2) {
      await cluster.rpc.call(meta(), metaMethods.unlink, { cred: root, at: { path: `/row-${index}` } });
    }
    await eventually(async () => ((await queuesEmpty()) ? true : undefined), 30_000, 'the GC queue to empty');
    for (const file of files) expect((await chunksOf(file.inode.ino, file.inode.layout)).size).toBe(0);
  }, 60_000);

  it('cuts a truncated file: the chunk across the new end shortened, the ones past it removed', async () => {
    const file = await writeFile('/cut', 4, 3);
    const newLength = chunkSizeBytes + chunkSizeBytes / 2;
    await cluster.rpc.call(meta(), metaMethods.setAttr, {
      cred: root,
      at: { path: '/cut' },
      length: BigInt(newLength),
    });
    await eventually(
      async () => ((await queuesEmpty()) ? true : undefined),
      gcIntervalMs + 15_000,
      'truncation done',
    );
    const chunks = await chunksOf(file.inode.ino, file.inode.layout);
    expect([...chunks.keys()].sort()).toEqual([0, 1]);
    const first = file.data[0] as Buffer;
    const second = (file.data[1] as Buffer).subarray(0, chunkSizeBytes / 2);
    expect(chunks.get(0)).toEqual([...Array(3)].map(() => [chunkSizeBytes, crc32c(first)]));
    expect(chunks.get(1)).toEqual([...Array(3)].map(() => [chunkSizeBytes / 2, crc32c(second)]));
  }, 60_000);

  it('never cuts bytes written after the truncate', async () => {
    const file = await writeFile('/racy', 2, 4);
    await cluster.rpc.call(meta(), metaMethods.setAttr, { cred: root, at: { path: '/racy' }, length: 0n });
    // A writer opens at once: the worker waits for it, then cuts only past what it wrote.
    const session: Session = { clientId: 'gc-test', sessionId: 'racy-writer' };
    const opened: Inode = (
      await cluster.rpc.call(meta(), metaMethods.open, {
        cred: root,
        at: { path: '/racy' },
        write: true,
        session,
      })
    ).inode;
    const fresh = pattern(100_000, 77);
    await cluster.client.write({
      chainId: new Placement(file.inode.layout).chainOf(0n),
      chunkId: { inode: file.inode.ino, index: 0 },
      chunkSizeBytes,
      offset: 0,
      data: fresh,
    });
    await new Promise((resolve) => setTimeout(resolve, gcIntervalMs * 2));
    const pending = await cluster.rpc.call(meta(), metaMethods.listPendingTruncations, { limit: 10 });
    expect(pending.entries.map((entry) => entry.ino)).toEqual([file.inode.ino]);
    await cluster.rpc.call(meta(), metaMethods.close, {
      cred: root,
      ino: file.inode.ino,
      session,
      length: {
        bytes: BigInt(fresh.length),
        truncateVersion: opened.type === 'file' ? opened.truncateVersion : 0,
      },
      wrote: true,
    });
    await eventually(
      async () => ((await queuesEmpty()) ? true : undefined),
      gcIntervalMs + 15_000,
      'truncation done',
    );
    const chunks = await chunksOf(file.inode.ino, file.inode.layout);
    expect([...chunks.keys()]).toEqual([0]);
    expect(chunks.get(0)).toEqual([...Array(3)].map(() => [fresh.length, crc32c(fresh)]));
  }, 60_000);

  it('finishes queued work after the meta services were killed, and leaves live files alone', async () => {
    const doomed = await writeFile('/doomed', 4, 5);
    await cluster.rpc.call(meta(), metaMethods.unlink, { cred: root, at: { path: '/doomed' } });
    const metas = [...cluster.metas.values()];
    for (const running of metas) running.process.child.kill('SIGKILL');
    await Promise.all(metas.map((running) => running.process.exited));
    await cluster.startMeta(51);
    await eventually(
      async () => ((await chunksOf(doomed.inode.ino, doomed.inode.layout)).size === 0 ? true : undefined),
      gcIntervalMs + 15_000,
      'the file deleted before the kill gone from storage',
    );
    await eventually(async () => ((await queuesEmpty()) ? true : undefined), 10_000, 'empty GC queue');
    const kept = await chunksOf(keep.inode.ino, keep.inode.layout);
    expect([...kept.keys()].sort()).toEqual([0, 1, 2]);
    for (const [index, replicas] of kept) {
      expect(replicas).toEqual([...Array(3)].map(() => [chunkSizeBytes, crc32c(keep.data[index] as Buffer)]));
    }
  }, 60_000);
});
