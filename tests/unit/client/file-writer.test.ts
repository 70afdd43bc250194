// Proves write buffering: sequential writes reach storage as whole chunks, overlapping writes land in order, buffered bytes stay within their bounds, a failed background write surfaces on the next write and flush, and the bytes buffered are the writer's own (a caller may reuse its buffer at once; pooled copies are reused only after storage answered).
import { describe, expect, it } from 'vitest';
import { chunkPieces, type ChunkPiece } from '../../../src/client/chunk-ranges.js';
import { fileRef, type FileDataIo, type FileRef } from '../../../src/client/file-data.js';
import { FileWriter, type WriterHost } from '../../../src/client/file-writer.js';
import { ByteBudget } from '../../../src/client/limiter.js';
import { FsError } from '../../../src/common/errors.js';
import { StorageCode } from '../../../src/common/status-code.js';
import { PayloadPool } from '../../../src/rpc/index.js';

const chunkSize = 4096;

/** Storage stand-in: applies piece writes to in-memory chunks, optionally held back or failed. */
class FakeIo {
  readonly chunks = new Map<number, Buffer>();
  readonly writes: Array<{ chunkIndex: number; offset: number; length: number }> = [];
  readonly held: Array<() => void> = [];
  holdWrites = false;
  failure: FsError | undefined;
  inFlight = 0;
  peakInFlight = 0;

  pieces(file: FileRef, offset: bigint, length: number): ChunkPiece[] {
    return chunkPieces(file.layout, file.placement, offset, length);
  }

  async writePiece(_file: FileRef, piece: ChunkPiece, data: Buffer): Promise<void> {
    this.inFlight += 1;
    this.peakInFlight = Math.max(this.peakInFlight, this.inFlight);
    try {
      if (this.holdWrites) await new Promise<void>((resolve) => this.held.push(resolve));
      const failure = this.failure;
      this.failure = undefined;
      if (failure !== undefined) throw failure;
      this.writes.push({ chunkIndex: piece.chunkIndex, offset: piece.offsetInChunk, length: piece.length });
      const old = this.chunks.get(piece.chunkIndex) ?? Buffer.alloc(0);
      const next = Buffer.alloc(Math.max(old.length, piece.offsetInChunk + data.length));
      old.copy(next);
      data.copy(next, piece.offsetInChunk);
      this.chunks.set(piece.chunkIndex, next);
    } finally {
      this.inFlight -= 1;
    }
  }

  release(): void {
    for (const resolve of this.held.splice(0)) resolve();
  }
}

function makeWriter(options: { perFile?: number; total?: number; staging?: PayloadPool } = {}) {
  const io = new FakeIo();
  const layout = {
    chainTableId: 1,
    chainTableVersion: 1,
    chunkSizeBytes: chunkSize,
    stripeSize: 1,
    chains: [1],
    seed: 1,
  };
  let pressure = 0;
  const writers: FileWriter[] = [];
  const host: WriterHost = {
    io: io as unknown as FileDataIo,
    budget: new ByteBudget(options.total ?? 1 << 20),
    perFileBytesMax: options.perFile ?? 1 << 20,
    extentsMax: 16,
    ...(options.staging === undefined ? {} : { staging: options.staging }),
    onPressure: () => {
      pressure += 1;
      for (const writer of writers) writer.dispatch(true);
    },
  };
  const writer = new FileWriter(fileRef(5n, layout), host);
  writers.push(writer);
  return { io, writer, host, pressure: () => pressure };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('FileWriter', () => {
  it('sends a sequential writer as whole chunks and its tail on flush', async () => {
    const { io, writer } = makeWriter();
    for (let offset = 0; offset < 2 * chunkSize + 100; offset += 100) {
      await writer.write(BigInt(offset), Buffer.alloc(100, offset / 100));
    }
    await tick();
    expect(io.writes).toEqual([
      { chunkIndex: 0, offset: 0, length: chunkSize },
      { chunkIndex: 1, offset: 0, length: chunkSize },
    ]);
    expect(writer.localEnd).toBe(BigInt(2 * chunkSize + 108));
    await writer.flush();
    expect(io.writes[2]).toEqual({ chunkIndex: 2, offset: 0, length: 108 });
    expect(writer.durableEnd).toBe(writer.localEnd);
    expect(writer.busy).toBe(false);
  });

  it('lands overlapping writes to one chunk in the order they were made', async () => {
    const { io, writer } = makeWriter();
    io.holdWrites = true;
    await writer.write(0n, Buffer.alloc(100, 1));
    writer.dispatch(true);
    await writer.write(50n, Buffer.alloc(100, 2));
    writer.dispatch(true);
    await tick();
    // The second write waits for the first: one write to the chunk is in flight.
    expect(io.held.length).toBe(1);
    const flushed = writer.flush();
    for (let round = 0; round < 5; round++) {
      io.release();
      await tick();
    }
    io.holdWrites = false;
    io.release();
    await flushed;
    const chunk = io.chunks.get(0)!;
    expect([...chunk.subarray(0, 50)].every((byte) => byte === 1)).toBe(true);
    expect([...chunk.subarray(50, 150)].every((byte) => byte === 2)).toBe(true);
  });

  it('fails the next write and the flush with a background failure, then forgets it', async () => {
    const { io, writer } = makeWriter();
    io.failure = new FsError(StorageCode.NoSpace, 'disk full');
    await writer.write(0n, Buffer.alloc(chunkSize, 1));
    await writer.settle();
    await expect(writer.write(BigInt(chunkSize), Buffer.alloc(10))).rejects.toMatchObject({
      code: StorageCode.NoSpace,
    });
    await expect(writer.flush()).rejects.toMatchObject({ code: StorageCode.NoSpace });
    await writer.write(0n, Buffer.alloc(10, 3));
    await writer.flush();
    expect(io.chunks.get(0)?.subarray(0, 10)).toEqual(Buffer.alloc(10, 3));
  });

  it('makes a writer wait while its file buffers more than its bound', async () => {
    const { io, writer } = makeWriter({ perFile: 2 * chunkSize });
    io.holdWrites = true;
    await writer.write(0n, Buffer.alloc(chunkSize));
    await writer.write(BigInt(chunkSize), Buffer.alloc(chunkSize));
    let third = false;
    const waiting = writer.write(BigInt(2 * chunkSize), Buffer.alloc(chunkSize)).then(() => (third = true));
    await tick();
    expect(third).toBe(false);
    io.holdWrites = false;
    io.release();
    await waiting;
    expect(third).toBe(true);
    await writer.flush();
    expect(io.peakInFlight).toBeLessThanOrEqual(2);
  });

  it('asks every writer to send what it holds when the client budget runs out', async () => {
    const { io, writer, pressure } = makeWriter({ total: chunkSize });
    // A partial chunk stays buffered, holding budget, until something sends it.
    await writer.write(0n, Buffer.alloc(100));
    expect(io.writes).toEqual([]);
    await writer.write(100n, Buffer.alloc(chunkSize));
    expect(pressure()).toBe(1);
    await writer.flush();
    expect(io.writes.reduce((total, write) => total + write.length, 0)).toBe(chunkSize + 100);
  });

  for (const pooled of [false, true]) {
    it(`copies a caller's bytes, so the caller may fill its buffer again at once (${pooled ? 'pooled' : 'plain'} copies)`, async () => {
      const staging = pooled
        ? new PayloadPool({ minBytes: 64, maxBytes: 1 << 20, keptBytesMax: 1 << 20 })
        : undefined;
      const { io, writer } = makeWriter(staging === undefined ? {} : { staging });
      io.holdWrites = true;
      // One buffer, refilled for every write, as a program streaming a file through it does; the
      // writes are still buffered or in flight when it is refilled.
      const reused = Buffer.alloc(1000);
      for (let index = 0; index < 10; index++) {
        reused.fill(index + 1);
        await writer.write(BigInt(index * 1000), reused);
      }
      reused.fill(0xee);
      const flushed = writer.flush();
      while (writer.busy) {
        io.release();
        await tick();
      }
      await flushed;
      const written = Buffer.concat([0, 1, 2].map((index) => io.chunks.get(index) ?? Buffer.alloc(0)));
      expect(written.length).toBe(10_000);
      for (let index = 0; index < 10; index++) {
        const slice = written.subarray(index * 1000, (index + 1) * 1000);
        expect(slice.every((byte) => byte === index + 1)).toBe(true);
      }
    });
  }

  it('buffers a handed-over buffer as it is, without a copy', async () => {
    const { io, writer } = makeWriter();
    io.holdWrites = true;
    const given = Buffer.alloc(100, 1);
    await writer.write(0n, given, { handOver: true });
    // The caller broke its promise not to touch the buffer: storage gets what it holds now, which
    // shows the writer kept the caller's memory rather than a copy.
    given.fill(2);
    const flushed = writer.flush();
    io.holdWrites = false;
    io.release();
    await flushed;
    expect(io.chunks.get(0)).toEqual(Buffer.alloc(100, 2));
  });

  it('reuses a pooled copy only once every piece of it is written', async () => {
    const staging = new PayloadPool({ minBytes: 64, maxBytes: 1 << 20, keptBytesMax: 1 << 20 });
    const { io, writer } = makeWriter({ staging });
    io.holdWrites = true;
    // Two chunks in one write: one copy, sent as two pieces, both held back by storage.
    await writer.write(0n, Buffer.alloc(2 * chunkSize, 7));
    writer.dispatch(true);
    await tick();
    expect(staging.stats()).toMatchObject({ taken: 1, reused: 0 });
    // A write made while those pieces are in flight gets other memory than theirs.
    await writer.write(BigInt(2 * chunkSize), Buffer.alloc(2 * chunkSize, 8));
    expect(staging.stats()).toMatchObject({ taken: 2, reused: 0 });
    const flushed = writer.flush();
    while (writer.busy) {
      io.release();
      await tick();
    }
    await flushed;
    for (let index = 0; index < 4; index++) {
      expect(io.chunks.get(index)).toEqual(Buffer.alloc(chunkSize, index < 2 ? 7 : 8));
    }
    // Everything answered: the next copies of that size reuse both buffers.
    await writer.write(0n, Buffer.alloc(2 * chunkSize, 9));
    await writer.write(BigInt(2 * chunkSize), Buffer.alloc(2 * chunkSize, 9));
    expect(staging.stats()).toMatchObject({ taken: 4, reused: 2 });
    io.holdWrites = false;
    io.release();
    await writer.flush();
  });

  it('joins an extent written in parts into one pooled buffer and lets go of the parts', async () => {
    const staging = new PayloadPool({ minBytes: 64, maxBytes: 1 << 20, keptBytesMax: 1 << 20 });
    const { io, writer } = makeWriter({ staging });
    for (let part = 0; part < 4; part++) {
      await writer.write(BigInt(part * 1024), Buffer.alloc(1024, part + 1));
    }
    await writer.flush();
    const chunk = io.chunks.get(0)!;
    for (let part = 0; part < 4; part++) {
      expect(chunk.subarray(part * 1024, (part + 1) * 1024).every((byte) => byte === part + 1)).toBe(true);
    }
    // Four 1 KiB copies and one joined 4 KiB buffer, all back in the pool: the same writes again
    // take no new memory.
    expect(staging.stats()).toMatchObject({ taken: 5, reused: 0 });
    for (let part = 0; part < 4; part++) {
      await writer.write(BigInt(part * 1024), Buffer.alloc(1024, 9));
    }
    await writer.flush();
    expect(staging.stats()).toMatchObject({ taken: 10, reused: 5 });
  });

  it('forgets offsets past a truncate', async () => {
    const { writer } = makeWriter();
    await writer.write(0n, Buffer.alloc(1000));
    await writer.settle();
    writer.truncated(300n);
    expect(writer.localEnd).toBe(300n);
    expect(writer.durableEnd).toBe(300n);
  });
});
