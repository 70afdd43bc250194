// Proves CRAQ replication across three real storage_main processes (two targets each, chains of
// three): acknowledged writes are committed on every replica, concurrent writes leave replicas
// identical, partial and unaligned I/O is exact, reads spread over replicas, a byte flipped on
// disk (in whichever chunk store the targets use) is detected and never returned, bad input is
// refused with a clear error and writes nothing, and heartbeats report disk usage.
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc32c } from '../../../src/common/crc32c.js';
import { FsError } from '../../../src/common/errors.js';
import { RpcCode, StorageCode } from '../../../src/common/status-code.js';
import type { ChainInfo } from '../../../src/mgmtd/index.js';
import { formatChunkId, storageMethods, type ChunkId } from '../../../src/storage/index.js';
import { TestWorld } from '../helpers/processes.js';
import { StorageCluster, targetDirectory } from '../helpers/storage-cluster.js';

const chunkSizeBytes = 1024 * 1024;
let world: TestWorld;
let cluster: StorageCluster;
let chain: ChainInfo;

/** Reads a chunk's committed bytes straight from one target. */
async function readTarget(targetId: number, chunkId: ChunkId, offset = 0, length = chunkSizeBytes) {
  return cluster.rpc.callWithPayload(cluster.addressOf(targetId), storageMethods.read, {
    targetId,
    chunkId,
    offset,
    length,
    relaxed: false,
  });
}

/** Reads served per target so far. */
async function readCounts(): Promise<Map<number, number>> {
  const counters = await cluster.targetCounters();
  return new Map([...counters].map(([targetId, counted]) => [targetId, counted.reads]));
}

/** Checksum failures target `targetId` counted so far. */
async function checksumFailures(targetId: number): Promise<number> {
  return (await cluster.targetCounters()).get(targetId)?.checksumFailures ?? 0;
}

async function codeOf(call: Promise<unknown>): Promise<number> {
  try {
    await call;
  } catch (error) {
    if (error instanceof FsError) return error.code;
    throw error;
  }
  throw new Error('the call succeeded');
}

function pattern(length: number, seed: number): Buffer {
  const data = Buffer.alloc(length);
  for (let index = 0; index < length; index++) data[index] = (index * 31 + seed * 7) & 0xff;
  return data;
}

/**
 * Flips the stored copy of `data[offset]` on a target's disk, whichever chunk store holds it: the
 * files store keeps a chunk in a file of its own, the native engine in blocks inside slots of
 * large data files, so the bytes around `offset` are looked for in every data file of the target.
 * Returns how many copies were flipped.
 */
function flipStoredByte(targetDir: string, data: Buffer, offset: number): number {
  const needleBytes = 256;
  const needleStart = offset - needleBytes / 2;
  const needle = data.subarray(needleStart, needleStart + needleBytes);
  let flipped = 0;
  const files = readdirSync(targetDir, { recursive: true, withFileTypes: true }).filter((entry) =>
    entry.isFile(),
  );
  for (const entry of files) {
    const path = join(entry.parentPath, entry.name);
    const bytes = readFileSync(path);
    for (let at = bytes.indexOf(needle); at >= 0; at = bytes.indexOf(needle, at + 1)) {
      const position = at + (offset - needleStart);
      // One byte written in place: the store keeps the file open, and its size must not change.
      const fd = openSync(path, 'r+');
      try {
        writeSync(fd, Buffer.from([(bytes[position] ?? 0) ^ 0x01]), 0, 1, position);
      } finally {
        closeSync(fd);
      }
      flipped += 1;
    }
  }
  return flipped;
}

beforeAll(async () => {
  world = new TestWorld();
  cluster = await StorageCluster.start(world, {
    storageNodes: 3,
    targetsPerNode: 2,
    replicas: 3,
    chunkSizeMaxBytes: chunkSizeBytes * 4,
  });
  chain = await cluster.chain(1);
}, 60_000);

afterAll(async () => {
  await cluster?.close();
  await world.cleanup();
});

describe('CRAQ replication across storage processes', () => {
  it('acknowledges a write only after every replica has committed it', async () => {
    expect(chain.targets).toHaveLength(3);
    const chunkId = { inode: 1n, index: 0 };
    const data = pattern(300_000, 1);
    const reply = await cluster.client.write({ chainId: 1, chunkId, chunkSizeBytes, offset: 0, data });
    expect(reply).toEqual({ exists: true, version: 1, length: data.length, checksum: crc32c(data) });
    for (const { targetId } of chain.targets) {
      const { response, payload } = await readTarget(targetId, chunkId);
      expect(response).toMatchObject({ version: 1, chunkLength: data.length, uncommitted: false });
      expect(payload?.equals(data)).toBe(true);
      const dump = await cluster.rpc.call(cluster.addressOf(targetId), storageMethods.dumpChunkMeta, {
        targetId,
        after: null,
        limit: 100,
      });
      expect(dump.chunks.find((meta) => meta.chunkId.inode === 1n)).toMatchObject({
        version: 1,
        chainVersion: chain.chainVersion,
        checksum: crc32c(data),
      });
    }
  });

  it('keeps all replicas identical under concurrent writes to one chunk', async () => {
    const chunkId = { inode: 2n, index: 3 };
    const writes = Array.from({ length: 24 }, (_, n) =>
      cluster.client.write({
        chainId: 1,
        chunkId,
        chunkSizeBytes,
        offset: (n % 8) * 40_000,
        data: pattern(50_000, n),
      }),
    );
    const replies = await Promise.all(writes);
    expect(new Set(replies.map((reply) => reply.version))).toEqual(
      new Set(Array.from({ length: 24 }, (_, n) => n + 1)),
    );
    const copies = await Promise.all(chain.targets.map(({ targetId }) => readTarget(targetId, chunkId)));
    for (const copy of copies) {
      expect(copy.response.version).toBe(24);
      expect(copy.payload?.equals(copies[0]?.payload ?? Buffer.alloc(0))).toBe(true);
    }
  });

  it('reads and writes partial, unaligned ranges exactly', async () => {
    const chunkId = { inode: 3n, index: 1 };
    const model = Buffer.alloc(200_003);
    const writes: Array<[number, number]> = [
      [0, 200_003],
      [65_535, 3],
      [1, 131_071],
      [199_999, 4],
      [100_000, 1],
    ];
    for (const [offset, length] of writes) {
      const data = pattern(length, offset);
      data.copy(model, offset);
      await cluster.client.write({ chainId: 1, chunkId, chunkSizeBytes, offset, data });
    }
    // An append past the end with a gap reads back zeros in the gap.
    await cluster.client.write({
      chainId: 1,
      chunkId,
      chunkSizeBytes,
      offset: 210_000,
      data: Buffer.from('tail'),
    });
    const expected = Buffer.concat([model, Buffer.alloc(210_000 - model.length), Buffer.from('tail')]);
    for (const [offset, length] of [
      [0, 1],
      [65_535, 2],
      [65_530, 70_000],
      [199_990, 20_000],
      [209_998, 100],
      [300_000, 10],
    ] as const) {
      const data = await cluster.client.read({ chainId: 1, chunkId, offset, length });
      expect(data.equals(expected.subarray(offset, Math.min(expected.length, offset + length)))).toBe(true);
    }
    await cluster.client.truncate({ chainId: 1, chunkId, chunkSizeBytes, length: 5 });
    expect(await cluster.client.read({ chainId: 1, chunkId, offset: 0, length: 100 })).toEqual(
      expected.subarray(0, 5),
    );
    await cluster.client.remove({ chainId: 1, chunkId, chunkSizeBytes });
    for (const { targetId } of chain.targets) {
      expect(await codeOf(readTarget(targetId, chunkId))).toBe(StorageCode.ChunkNotFound);
    }
  });

  it('reads from the replica nearest the tail when one host holds every replica', async () => {
    // Spreading reads over replicas on one host adds no disk or memory, only processes to wake
    // (chunk-client.ts); the unit tests show reads spread over hosts when there are several.
    const before = await readCounts();
    for (let index = 0; index < 30; index++) {
      const chunkId = { inode: 4n, index };
      await cluster.client.write({
        chainId: 1,
        chunkId,
        chunkSizeBytes,
        offset: 0,
        data: pattern(4096, index),
      });
      expect(await cluster.client.read({ chainId: 1, chunkId, offset: 100, length: 100 })).toEqual(
        pattern(4096, index).subarray(100, 200),
      );
    }
    const after = await readCounts();
    const served = chain.targets.map(
      ({ targetId }) => (after.get(targetId) ?? 0) - (before.get(targetId) ?? 0),
    );
    expect(served).toEqual([0, 0, 30]);
  });

  it('detects a byte flipped on disk, reports it, and never returns it', async () => {
    const chunkId = { inode: 5n, index: 2 };
    // Random bytes: the run around the flipped byte is found nowhere else on the target's disk.
    const data = randomBytes(100_000);
    await cluster.client.write({ chainId: 1, chunkId, chunkSizeBytes, offset: 0, data });
    // The tail: the replica a read on this one-host cluster tries first.
    const victim = chain.targets[2]?.targetId ?? 0;
    const nodeId = Math.floor(victim / 100);
    const name = formatChunkId(chunkId);
    expect(flipStoredByte(targetDirectory(cluster.dir, nodeId, victim), data, 70_000)).toBe(1);

    expect(await codeOf(readTarget(victim, chunkId))).toBe(StorageCode.ChunkCorrupted);
    const handle = cluster.storage.get(nodeId);
    const logged = await handle?.process.waitForLog(
      (line) => line['msg'] === 'chunk checksum mismatch' && line['chunkId'] === name,
      5_000,
    );
    expect(logged).toMatchObject({ level: 'error', targetId: victim });
    expect(await checksumFailures(victim)).toBeGreaterThan(0);
    // The client always gets the right bytes: it meets the bad replica first, moves on to the
    // next, and asks the bad one last for a while.
    const failuresBefore = await checksumFailures(victim);
    const before = await readCounts();
    for (let n = 0; n < 9; n++) {
      const read = await cluster.client.read({ chainId: 1, chunkId, offset: 0, length: chunkSizeBytes });
      expect(read.equals(data)).toBe(true);
    }
    expect(await checksumFailures(victim)).toBeGreaterThan(failuresBefore);
    const after = await readCounts();
    expect((after.get(victim) ?? 0) - (before.get(victim) ?? 0)).toBe(0);
    const middle = chain.targets[1]?.targetId ?? 0;
    expect((after.get(middle) ?? 0) - (before.get(middle) ?? 0)).toBe(9);
    const scrub = await cluster.rpc.call(cluster.addressOf(victim), storageMethods.scrubChunks, {
      targetId: victim,
      after: null,
      limit: 100,
    });
    expect(scrub.chunks.find((entry) => entry.chunkId.inode === 5n)?.intact).toBe(false);
  });

  it('refuses bad input with a clear error and writes nothing', async () => {
    const head = chain.targets[0]?.targetId ?? 0;
    const chunkId = { inode: 6n, index: 0 };
    const data = pattern(1000, 6);
    const base = {
      targetId: head,
      chainId: 1,
      chainVersion: chain.chainVersion,
      chunkId,
      chunkSizeBytes,
      timeoutMs: 5_000,
    };
    const good = { kind: 'write' as const, offset: 0, length: data.length, checksum: crc32c(data) };
    const send = (request: Record<string, unknown>, payload: Buffer | null = data) =>
      codeOf(
        cluster.rpc.call(
          cluster.addressOf(head),
          storageMethods.write,
          { ...base, op: good, ...request } as never,
          payload === null ? {} : { payload },
        ),
      );
    // Chunk ids: the inode is a u64 (a bigint), the index a u32.
    expect(await send({ chunkId: { inode: 6, index: 0 } })).toBe(RpcCode.BadRequest);
    expect(await send({ chunkId: { inode: -1n, index: 0 } })).toBe(RpcCode.BadRequest);
    expect(await send({ chunkId: { inode: 6n, index: 2 ** 32 } })).toBe(RpcCode.BadRequest);
    expect(await send({ op: { ...good, offset: chunkSizeBytes - 10 } })).toBe(StorageCode.OffsetOutOfRange);
    expect(await send({ op: { ...good, checksum: (good.checksum + 1) >>> 0 } })).toBe(
      StorageCode.ChecksumMismatch,
    );
    expect(await send({ op: { ...good, length: 999 } })).toBe(StorageCode.PayloadLengthMismatch);
    const oversize = Buffer.alloc(chunkSizeBytes + 1);
    expect(
      await send({ op: { kind: 'replace', length: oversize.length, checksum: crc32c(oversize) } }, oversize),
    ).toBe(StorageCode.PayloadTooLarge);
    expect(await send({ chunkSizeBytes: chunkSizeBytes * 8 })).toBe(StorageCode.PayloadTooLarge);
    expect(await send({ op: { kind: 'truncate', length: chunkSizeBytes + 1 } }, null)).toBe(
      StorageCode.OffsetOutOfRange,
    );
    for (const { targetId } of chain.targets) {
      const dump = await cluster.rpc.call(cluster.addressOf(targetId), storageMethods.dumpChunkMeta, {
        targetId,
        after: null,
        limit: 1000,
      });
      expect(dump.chunks.some((meta) => meta.chunkId.inode === 6n)).toBe(false);
    }
    expect(await codeOf(readTarget(head, chunkId, 0, chunkSizeBytes * 8))).toBe(StorageCode.PayloadTooLarge);
  });

  it('answers the last chunk of a file and its length', async () => {
    const inode = 7n;
    for (const [index, length] of [
      [0, 1000],
      [1, 1000],
      [4, 123],
    ] as const) {
      await cluster.client.write({
        chainId: 1,
        chunkId: { inode, index },
        chunkSizeBytes,
        offset: 0,
        data: pattern(length, index),
      });
    }
    expect(await cluster.client.queryLastChunk({ chainId: 1, inode, beginIndex: 0 })).toEqual({
      last: { index: 4, version: 1, length: 123 },
      chunkCount: 3,
      totalBytes: 2123,
      uncommittedCount: 0,
    });
  });

  it('reports disk usage of every target in heartbeats', async () => {
    const routing = await cluster.waitForRouting(
      (info) => info.targets.length === 6 && info.targets.every((target) => target.capacityBytes > 0),
      'disk usage in routing info',
    );
    for (const target of routing.targets) expect(target.usedBytes).toBeLessThanOrEqual(target.capacityBytes);
  });
});
