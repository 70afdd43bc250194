/**
 * File bytes on storage: reads of a file range (its chunk pieces fetched in parallel, with a bound
 * per request and one for the whole client), writes of one piece, the cut of a truncate, the zeroed
 * range of a punched hole, and the sync of an fsync. A chunk that does not exist, or ends early,
 * reads as zeros up to the file's length: holes and sparse extensions are zeros, as POSIX wants,
 * which is also why a chunk wholly inside a punched hole may simply be removed.
 */
import { FsError, assert } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { FileLayout, InodeId } from '../meta/protocol/index.js';
import type { UpdateReply } from '../storage/protocol/index.js';
import { Placement } from '../meta/protocol/index.js';
import type { ChunkClient } from '../cluster/index.js';
import { chunkPieces, cloneBatches, truncatePlan, type ChunkPiece, type CloneBatch } from './chunk-ranges.js';
import { forEachLimited, type Limiter } from './limiter.js';
import { releasePayload, type PayloadPool } from '../rpc/index.js';

/** The file an I/O is about: its inode id and layout, and the placement drawn from the layout. */
export interface FileRef {
  readonly ino: InodeId;
  readonly layout: FileLayout;
  readonly placement: Placement;
}

/** A FileRef for `ino` with `layout`. */
export function fileRef(ino: InodeId, layout: FileLayout): FileRef {
  return { ino, layout, placement: new Placement(layout) };
}

const u32Max = 0xffff_ffff;

export class FileDataIo {
  constructor(
    private readonly options: {
      chunks: ChunkClient;
      /** Chunk I/Os of the whole client. */
      limiter: Limiter;
      /** Chunk I/Os of one request. */
      requestConcurrency: number;
      /**
       * The client's reply payload pool, if it has one: a read assembled from several pieces is
       * put together in one of its buffers rather than a new one.
       */
      pool?: PayloadPool | undefined;
    },
  ) {}

  /** The pieces of a range of `file`. */
  pieces(file: FileRef, offset: bigint, length: number): ChunkPiece[] {
    return chunkPieces(file.layout, file.placement, offset, length);
  }

  /**
   * Reads [offset, offset + length) of `file`, cut at `fileLength`; holes read as zeros. The
   * result may be a pooled reply payload (RpcClientOptions.replyPayloadPool), held once for the
   * caller, who may let go of it with `releasePayload` once it has no more use for the bytes.
   */
  async read(file: FileRef, offset: bigint, length: number, fileLength: bigint): Promise<Buffer> {
    const end = offset + BigInt(length) < fileLength ? offset + BigInt(length) : fileLength;
    if (end <= offset) return Buffer.alloc(0);
    const size = Number(end - offset);
    const pieces = this.pieces(file, offset, size);
    if (pieces.length === 1) {
      const only = pieces[0] as ChunkPiece;
      const data = await this.readPiece(file, only);
      if (data.length === size) return data;
      const padded = assemblyBuffer(this.options.pool, size);
      data.copy(padded, 0);
      padded.fill(0, data.length);
      releasePayload(data);
      return padded;
    }
    const result = assemblyBuffer(this.options.pool, size);
    await forEachLimited(pieces, this.options.requestConcurrency, async (piece) => {
      const data = await this.readPiece(file, piece);
      data.copy(result, piece.bufferOffset);
      // A hole, or a chunk shorter than the piece, reads as zeros.
      if (data.length < piece.length) {
        result.fill(0, piece.bufferOffset + data.length, piece.bufferOffset + piece.length);
      }
      releasePayload(data);
    });
    return result;
  }

  /** Writes one piece's bytes into its chunk. */
  async writePiece(file: FileRef, piece: ChunkPiece, data: Buffer): Promise<void> {
    assert(data.length === piece.length, 'a piece is written with exactly its bytes');
    await this.options.limiter.run(() =>
      this.options.chunks.write({
        chainId: piece.chainId,
        chunkId: { inode: file.ino, index: piece.chunkIndex },
        chunkSizeBytes: file.layout.chunkSizeBytes,
        offset: piece.offsetInChunk,
        data,
      }),
    );
  }

  /**
   * Cuts the file's data in storage after a truncate to `length`: the chunk holding the new end
   * is shortened and every later chunk is removed. Which chunks exist is asked of each chain (the
   * last chunk there), not taken from the file's length, which may lag behind what was written.
   */
  async cut(file: FileRef, length: bigint): Promise<void> {
    const plan = truncatePlan(length, file.layout.chunkSizeBytes);
    if ((plan.boundary?.chunkIndex ?? plan.firstRemovedIndex) > u32Max) return;
    const beginIndex = plan.boundary?.chunkIndex ?? plan.firstRemovedIndex;
    const chains = [...new Set(file.layout.chains)];
    await forEachLimited(chains, this.options.requestConcurrency, async (chainId) => {
      const found = await this.options.limiter.run(() =>
        this.options.chunks.queryLastChunk({ chainId, inode: file.ino, beginIndex }),
      );
      const last = found.last;
      if (last === null) return;
      const indexes: number[] = [];
      for (let index = beginIndex; index <= last.index; index++) {
        if (file.placement.chainOf(BigInt(index)) === chainId) indexes.push(index);
      }
      // The new end's chunk is the chain's last and no longer than what stays: nothing to cut.
      if (plan.boundary !== undefined && last.index === plan.boundary.chunkIndex) {
        if (last.length <= plan.boundary.keepBytes) return;
      }
      await forEachLimited(indexes, this.options.requestConcurrency, async (index) => {
        const target = {
          chainId,
          chunkId: { inode: file.ino, index },
          chunkSizeBytes: file.layout.chunkSizeBytes,
        };
        await this.options.limiter.run(() =>
          plan.boundary !== undefined && index === plan.boundary.chunkIndex
            ? this.options.chunks.truncate({ ...target, length: plan.boundary.keepBytes })
            : this.options.chunks.remove(target),
        );
      });
    });
  }

  /**
   * Makes [from, to) of `file` read as zeros in storage (punch hole, zero range): each chunk wholly
   * inside is removed, each other one zeroed in part on every replica, which frees the whole blocks
   * in the range and cuts a chunk the range reaches the end of. A window of chunks at a time, so a
   * large range costs bounded memory.
   */
  async zero(file: FileRef, from: bigint, to: bigint): Promise<void> {
    assert(from >= 0n && from <= to, 'a zeroed range is a range');
    const chunkSizeBytes = file.layout.chunkSizeBytes;
    const window = BigInt(chunkSizeBytes) * BigInt(limits.clientZeroChunksPerRoundMax);
    for (let start = from; start < to; start += window) {
      const end = to - start < window ? to : start + window;
      const pieces = this.pieces(file, start, Number(end - start));
      await forEachLimited(pieces, this.options.requestConcurrency, async (piece) => {
        const target = {
          chainId: piece.chainId,
          chunkId: { inode: file.ino, index: piece.chunkIndex },
          chunkSizeBytes,
        };
        await this.options.limiter.run(() =>
          piece.length === chunkSizeBytes
            ? this.options.chunks.remove(target)
            : this.options.chunks.zero({ ...target, offset: piece.offsetInChunk, length: piece.length }),
        );
      });
    }
  }

  /**
   * Clones the first `length` bytes of `source` into `target`, chunk for chunk: the two files have
   * the same layout, so chunk i of both is on the same chain, where each replica makes the target's
   * chunk share the source's blocks (copy on write). A chunk the source lacks stays absent (a hole);
   * the last chunk is cut at `length`, so bytes the source holds past its length (a truncate not yet
   * carried out in storage) never reappear in the clone. A window of chunks at a time, sent to each
   * chain's head in batches (one message for many chunks); a chunk its batch did not clone (the
   * batch failed, or that chunk did) is cloned again alone, with the retries of any update.
   */
  async clone(source: FileRef, target: FileRef, length: bigint): Promise<void> {
    assert(length >= 0n, 'a clone covers a byte count');
    assert(source.layout.chunkSizeBytes === target.layout.chunkSizeBytes, 'a clone keeps the chunk size');
    const chunkSize = BigInt(source.layout.chunkSizeBytes);
    const chunkCount = (length + chunkSize - 1n) / chunkSize;
    assert(chunkCount <= BigInt(u32Max) + 1n, 'a chunk index is a u32');
    const end = { lastIndex: Number(chunkCount) - 1, tailBytes: Number(length % chunkSize) };
    const window = limits.clientCloneChunksPerRoundMax;
    for (let first = 0; first < Number(chunkCount); first += window) {
      const batches = cloneBatches({
        source: source.placement,
        target: target.placement,
        first,
        end: Math.min(Number(chunkCount), first + window),
        batchMax: limits.storageUpdateBatchMax,
      });
      await forEachLimited(batches, limits.clientCloneBatchesInflightMax, (batch) =>
        this.cloneBatch({ source, target }, batch, end),
      );
    }
  }

  /** One batch of a clone, then each chunk it did not clone alone, and the cut of the last chunk. */
  private async cloneBatch(
    files: { source: FileRef; target: FileRef },
    batch: CloneBatch,
    end: { lastIndex: number; tailBytes: number },
  ): Promise<void> {
    const chunkSizeBytes = files.source.layout.chunkSizeBytes;
    let results: Array<UpdateReply | FsError | undefined>;
    try {
      results = await this.options.limiter.run(() =>
        this.options.chunks.cloneBatch({
          chainId: batch.chainId,
          source: files.source.ino,
          inode: files.target.ino,
          indexes: batch.indexes,
          chunkSizeBytes,
        }),
      );
    } catch {
      // Routing, transport, or a head that knows no batches: every chunk again, alone, where the
      // retries of a single update decide what can be cured and report what cannot.
      results = batch.indexes.map(() => undefined);
    }
    await forEachLimited(
      batch.indexes.map((index, at) => ({ index, result: results[at] })),
      this.options.requestConcurrency,
      async ({ index, result }) => {
        const chunkTarget = {
          chainId: batch.chainId,
          chunkId: { inode: files.target.ino, index },
          chunkSizeBytes,
        };
        const reply =
          result === undefined || result instanceof FsError
            ? await this.options.limiter.run(() =>
                this.options.chunks.clone({ ...chunkTarget, source: { inode: files.source.ino, index } }),
              )
            : result;
        if (index === end.lastIndex && end.tailBytes > 0 && reply.exists && reply.length > end.tailBytes) {
          await this.options.limiter.run(() =>
            this.options.chunks.truncate({ ...chunkTarget, length: end.tailBytes }),
          );
        }
      },
    );
  }

  /** Makes what every serving replica of the file's chains committed durable (fsync). */
  sync(file: FileRef): Promise<void> {
    return this.options.chunks.syncChains(file.layout.chains);
  }

  private readPiece(file: FileRef, piece: ChunkPiece): Promise<Buffer> {
    return this.options.limiter.run(() =>
      this.options.chunks.read({
        chainId: piece.chainId,
        chunkId: { inode: file.ino, index: piece.chunkIndex },
        offset: piece.offsetInChunk,
        length: piece.length,
      }),
    );
  }
}

/**
 * A buffer of `size` bytes to copy a read's pieces into: one of the pool's (held once, for the
 * caller; its old contents are there until overwritten) or a new one.
 */
export function assemblyBuffer(pool: PayloadPool | undefined, size: number): Buffer {
  return pool?.take(size) ?? Buffer.allocUnsafe(size);
}
