// Proves file data over chunks: a range read assembles its chunks and reads holes and short chunks as zeros up to the file's length, a truncate cuts exactly the chunks past the new end on every chain, a punched hole removes the chunks inside it and zeroes the parts of the others, and a clone goes in batches per chain, cloning alone what a batch did not.
import { describe, expect, it } from 'vitest';
import type { ChunkClient } from '../../../src/cluster/index.js';
import { FileDataIo, fileRef } from '../../../src/client/file-data.js';
import { Limiter } from '../../../src/client/limiter.js';
import { FsError } from '../../../src/common/errors.js';
import { RpcCode, StorageCode } from '../../../src/common/status-code.js';
import { PayloadPool, releasePayload } from '../../../src/rpc/payload-pool.js';
import type { ChunkId } from '../../../src/storage/protocol/index.js';

const chunkSize = 4096;
const layout = {
  chainTableId: 1,
  chainTableVersion: 1,
  chunkSizeBytes: chunkSize,
  stripeSize: 2,
  chains: [1, 2],
  seed: 9,
};
const file = fileRef(42n, layout);

/** Chunks by index; `updates` records truncates, removes and zeroed ranges. */
function fakeChunks(chunks: Map<number, Buffer>, pool?: PayloadPool) {
  const updates: string[] = [];
  const client = {
    async read(request: { chainId: number; chunkId: ChunkId; offset: number; length: number }) {
      expect(request.chainId).toBe(file.placement.chainOf(BigInt(request.chunkId.index)));
      const data = chunks.get(request.chunkId.index) ?? Buffer.alloc(0);
      return data.subarray(request.offset, request.offset + request.length);
    },
    async queryLastChunk(request: { chainId: number; beginIndex: number }) {
      const indexes = [...chunks.keys()]
        .filter(
          (index) => index >= request.beginIndex && file.placement.chainOf(BigInt(index)) === request.chainId,
        )
        .sort((a, b) => a - b);
      const index = indexes[indexes.length - 1];
      return {
        last: index === undefined ? null : { index, version: 1, length: chunks.get(index)!.length },
        chunkCount: indexes.length,
        totalBytes: 0,
        uncommittedCount: 0,
      };
    },
    async truncate(target: { chunkId: ChunkId; length: number }) {
      updates.push(`truncate ${target.chunkId.index} ${target.length}`);
    },
    async remove(target: { chunkId: ChunkId }) {
      updates.push(`remove ${target.chunkId.index}`);
    },
    async zero(target: { chainId: number; chunkId: ChunkId; offset: number; length: number }) {
      expect(target.chainId).toBe(file.placement.chainOf(BigInt(target.chunkId.index)));
      updates.push(`zero ${target.chunkId.index} ${target.offset} +${target.length}`);
    },
  };
  const io = new FileDataIo({
    chunks: client as unknown as ChunkClient,
    limiter: new Limiter(4),
    requestConcurrency: 2,
    pool,
  });
  return { io, updates };
}

describe('FileDataIo', () => {
  it('punches a hole by removing the chunks wholly inside it and zeroing the parts of the others', async () => {
    const { io, updates } = fakeChunks(new Map());
    await io.zero(file, 100n, BigInt(3 * chunkSize + 7));
    expect(updates.sort()).toEqual(['remove 1', 'remove 2', 'zero 0 100 +3996', 'zero 3 0 +7']);
    updates.length = 0;
    await io.zero(file, BigInt(chunkSize + 1), BigInt(chunkSize + 2));
    expect(updates).toEqual(['zero 1 1 +1']);
    updates.length = 0;
    await io.zero(file, 5n, 5n);
    expect(updates).toEqual([]);
  });

  it('reads across chunks, with holes and short chunks as zeros, cut at the file length', async () => {
    const chunks = new Map([
      [0, Buffer.alloc(chunkSize, 1)],
      [2, Buffer.alloc(100, 3)],
    ]);
    const { io } = fakeChunks(chunks);
    const data = await io.read(file, 4000n, 10_000, BigInt(3 * chunkSize));
    expect(data.length).toBe(3 * chunkSize - 4000);
    expect(data.subarray(0, 96).every((byte) => byte === 1)).toBe(true);
    expect(data.subarray(96, 96 + chunkSize).every((byte) => byte === 0)).toBe(true);
    expect(data.subarray(96 + chunkSize, 96 + chunkSize + 100).every((byte) => byte === 3)).toBe(true);
    expect(data.subarray(96 + chunkSize + 100).every((byte) => byte === 0)).toBe(true);
    expect((await io.read(file, BigInt(3 * chunkSize), 10, BigInt(3 * chunkSize))).length).toBe(0);
  });

  it('puts a read of several pieces together in a pooled buffer, zeroing its holes over old bytes', async () => {
    const pool = new PayloadPool({ minBytes: 1, maxBytes: 1 << 20, keptBytesMax: 1 << 20 });
    // The pool's buffers hold old bytes, as buffers used before do.
    const used = [pool.take(3 * chunkSize - 4000)!, pool.take(chunkSize)!];
    for (const buffer of used) releasePayload(buffer.fill(0xee));
    const chunks = new Map([
      [0, Buffer.alloc(chunkSize, 1)],
      [2, Buffer.alloc(100, 3)],
    ]);
    const { io } = fakeChunks(chunks, pool);
    const data = await io.read(file, 4000n, 10_000, BigInt(3 * chunkSize));
    expect(pool.stats().reused).toBe(1);
    expect(data.length).toBe(3 * chunkSize - 4000);
    expect(data.subarray(0, 96).every((byte) => byte === 1)).toBe(true);
    expect(data.subarray(96, 96 + chunkSize).every((byte) => byte === 0)).toBe(true);
    expect(data.subarray(96 + chunkSize, 96 + chunkSize + 100).every((byte) => byte === 3)).toBe(true);
    expect(data.subarray(96 + chunkSize + 100).every((byte) => byte === 0)).toBe(true);
    // One piece shorter than asked (a chunk that ends early) is padded with zeros the same way.
    const padded = await io.read(file, BigInt(2 * chunkSize), chunkSize, BigInt(4 * chunkSize));
    expect(pool.stats().reused).toBe(2);
    expect(padded.length).toBe(chunkSize);
    expect(padded.subarray(0, 100).every((byte) => byte === 3)).toBe(true);
    expect(padded.subarray(100).every((byte) => byte === 0)).toBe(true);
  });

  it('cuts the chunk holding the new end and removes every later chunk on both chains', async () => {
    const chunks = new Map([0, 1, 2, 3, 5].map((index) => [index, Buffer.alloc(chunkSize)]));
    const { io, updates } = fakeChunks(chunks);
    await io.cut(file, BigInt(chunkSize + 10));
    // Chunk 4 does not exist; it is removed only when its chain holds a later one (harmless either way).
    const expected = ['remove 2', 'remove 3', 'remove 5', 'truncate 1 10'];
    if (file.placement.chainOf(4n) === file.placement.chainOf(5n)) expected.push('remove 4');
    expect(updates.sort()).toEqual(expected.sort());
  });

  it('leaves storage alone when a truncate only extends the file', async () => {
    const chunks = new Map([[0, Buffer.alloc(100)]]);
    const { io, updates } = fakeChunks(chunks);
    await io.cut(file, 1000n);
    await io.cut(file, BigInt(5 * chunkSize));
    expect(updates).toEqual([]);
  });
});

describe('FileDataIo.clone', () => {
  const target = fileRef(43n, layout);

  /** Clone batches and single clones as they arrive; `failing` chunks fail in a batch, `batchFails` fails whole batches. */
  function cloneChunks(options: {
    sourceLengths: Map<number, number>;
    failing?: number[];
    batchFails?: boolean;
  }) {
    const calls: string[] = [];
    const replyOf = (index: number) => {
      const length = options.sourceLengths.get(index);
      return length === undefined
        ? { exists: false, version: 1, length: 0, checksum: 0 }
        : { exists: true, version: 1, length, checksum: 0 };
    };
    const client = {
      async cloneBatch(request: {
        chainId: number;
        source: bigint;
        inode: bigint;
        indexes: readonly number[];
      }) {
        calls.push(`batch ${request.chainId}: ${request.indexes.join(',')}`);
        expect(request.source).toBe(42n);
        expect(request.inode).toBe(43n);
        for (const index of request.indexes)
          expect(file.placement.chainOf(BigInt(index))).toBe(request.chainId);
        if (options.batchFails === true) throw new FsError(RpcCode.ConnectionClosed, 'the head went away');
        return request.indexes.map((index) =>
          options.failing?.includes(index) ? new FsError(StorageCode.ChunkBusy, 'busy') : replyOf(index),
        );
      },
      async clone(request: { chunkId: ChunkId; source: ChunkId }) {
        expect(request.source).toEqual({ inode: 42n, index: request.chunkId.index });
        calls.push(`clone ${request.chunkId.index}`);
        return replyOf(request.chunkId.index);
      },
      async truncate(request: { chunkId: ChunkId; length: number }) {
        calls.push(`truncate ${request.chunkId.index} ${request.length}`);
      },
    };
    const io = new FileDataIo({
      chunks: client as unknown as ChunkClient,
      limiter: new Limiter(4),
      requestConcurrency: 2,
    });
    return { io, calls };
  }

  it('sends one batch per chain and cuts the last chunk at the length', async () => {
    const lengths = new Map([0, 1, 2, 3, 4].map((index) => [index, chunkSize]));
    const { io, calls } = cloneChunks({ sourceLengths: lengths });
    await io.clone(file, target, BigInt(4 * chunkSize + 10));
    const chainOf = (index: number) => file.placement.chainOf(BigInt(index));
    const expected = [1, 2].map(
      (chainId) =>
        `batch ${chainId}: ${[0, 1, 2, 3, 4].filter((index) => chainOf(index) === chainId).join(',')}`,
    );
    expect(calls.filter((call) => call.startsWith('batch')).sort()).toEqual(expected.sort());
    expect(calls.filter((call) => !call.startsWith('batch'))).toEqual(['truncate 4 10']);
  });

  it('clones alone the chunks a batch failed, and every chunk of a batch that failed whole', async () => {
    const lengths = new Map([0, 1, 2, 3].map((index) => [index, chunkSize]));
    const partial = cloneChunks({ sourceLengths: lengths, failing: [1, 2] });
    await partial.io.clone(file, target, BigInt(4 * chunkSize));
    expect(partial.calls.filter((call) => call.startsWith('clone')).sort()).toEqual(['clone 1', 'clone 2']);
    const whole = cloneChunks({ sourceLengths: lengths, batchFails: true });
    await whole.io.clone(file, target, BigInt(3 * chunkSize + 1));
    expect(whole.calls.filter((call) => call.startsWith('clone')).sort()).toEqual([
      'clone 0',
      'clone 1',
      'clone 2',
      'clone 3',
    ]);
    expect(whole.calls.filter((call) => call.startsWith('truncate'))).toEqual([`truncate 3 1`]);
  });

  it('clones nothing of an empty file', async () => {
    const { io, calls } = cloneChunks({ sourceLengths: new Map() });
    await io.clone(file, target, 0n);
    expect(calls).toEqual([]);
  });
});
