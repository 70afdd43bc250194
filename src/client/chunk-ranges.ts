/**
 * Where the bytes of a file range live (DESIGN §6, §9): a range of a file is cut at chunk
 * boundaries into pieces, each naming its chunk index, its chain (from the layout's placement),
 * where it starts inside the chunk, and where it starts in the caller's buffer. Pure, so it is
 * unit-tested on its own.
 */
import { FsError, assert } from '../common/errors.js';
import { ClientCode } from '../common/status-code.js';
import type { FileLayout, Placement } from '../meta/protocol/index.js';

/** Largest chunk index a chunk id holds (u32). */
const chunkIndexMax = 0xffff_ffff;

/** One chunk's share of a file range. */
export interface ChunkPiece {
  readonly chunkIndex: number;
  readonly chainId: number;
  /** Byte offset inside the chunk. */
  readonly offsetInChunk: number;
  readonly length: number;
  /** Byte offset in the file. */
  readonly fileOffset: bigint;
  /** Byte offset in the caller's buffer (0 for the range's first byte). */
  readonly bufferOffset: number;
}

/** The chunk index holding byte `offset`, refused with OffsetTooLarge past what a chunk id names. */
export function chunkIndexAt(offset: bigint, chunkSizeBytes: number): number {
  assert(offset >= 0n, 'file offsets are not negative');
  const index = offset / BigInt(chunkSizeBytes);
  if (index > BigInt(chunkIndexMax)) {
    throw new FsError(
      ClientCode.OffsetTooLarge,
      `offset ${offset} is beyond the ${chunkIndexMax + 1} chunks of ${chunkSizeBytes} bytes a file may have`,
    );
  }
  return Number(index);
}

/** The pieces of [offset, offset + length) of a file with `layout`, in file order. */
export function chunkPieces(
  layout: FileLayout,
  placement: Placement,
  offset: bigint,
  length: number,
): ChunkPiece[] {
  assert(Number.isSafeInteger(length) && length >= 0, 'a range length is a non-negative integer');
  const pieces: ChunkPiece[] = [];
  if (length === 0) return pieces;
  const chunkSize = layout.chunkSizeBytes;
  const chunkSizeBig = BigInt(chunkSize);
  let done = 0;
  // The last byte's chunk must be addressable too.
  chunkIndexAt(offset + BigInt(length - 1), chunkSize);
  while (done < length) {
    const fileOffset = offset + BigInt(done);
    const chunkIndex = Number(fileOffset / chunkSizeBig);
    const offsetInChunk = Number(fileOffset % chunkSizeBig);
    const pieceLength = Math.min(chunkSize - offsetInChunk, length - done);
    pieces.push({
      chunkIndex,
      chainId: placement.chainOf(BigInt(chunkIndex)),
      offsetInChunk,
      length: pieceLength,
      fileOffset,
      bufferOffset: done,
    });
    done += pieceLength;
  }
  assert(done === length, 'the pieces cover the range exactly');
  return pieces;
}

/**
 * What a truncate to `length` leaves to cut in storage: the chunk holding the new end, cut to
 * `keepBytes` (absent when the new end falls on a chunk boundary), and every chunk from
 * `firstRemovedIndex` on, which is removed.
 */
export function truncatePlan(
  length: bigint,
  chunkSizeBytes: number,
): { boundary: { chunkIndex: number; keepBytes: number } | undefined; firstRemovedIndex: number } {
  assert(length >= 0n, 'a length is not negative');
  const chunkSize = BigInt(chunkSizeBytes);
  const keepBytes = Number(length % chunkSize);
  const boundaryIndex = Number(length / chunkSize);
  if (keepBytes === 0) return { boundary: undefined, firstRemovedIndex: boundaryIndex };
  return { boundary: { chunkIndex: boundaryIndex, keepBytes }, firstRemovedIndex: boundaryIndex + 1 };
}

/** Chunks of a clone sent to one chain's head in one message. */
export interface CloneBatch {
  readonly chainId: number;
  /** Ascending. */
  readonly indexes: number[];
}

/**
 * The chunks [first, end) of a clone in batches of at most `batchMax`, each of one chain (chunk i
 * of the source and of the target are on the same chain, which is asserted), in index order.
 */
export function cloneBatches(plan: {
  source: Placement;
  target: Placement;
  first: number;
  end: number;
  batchMax: number;
}): CloneBatch[] {
  assert(plan.batchMax >= 1, 'a clone batch holds a chunk at least');
  assert(plan.first >= 0 && plan.first <= plan.end, 'a clone covers a range of chunks');
  const batches: CloneBatch[] = [];
  const open = new Map<number, CloneBatch>();
  for (let index = plan.first; index < plan.end; index++) {
    const chainId = plan.source.chainOf(BigInt(index));
    assert(
      chainId === plan.target.chainOf(BigInt(index)),
      'chunk i of a clone is on the chain of the source',
    );
    let batch = open.get(chainId);
    if (batch === undefined || batch.indexes.length >= plan.batchMax) {
      batch = { chainId, indexes: [] };
      open.set(chainId, batch);
      batches.push(batch);
    }
    batch.indexes.push(index);
  }
  return batches;
}
