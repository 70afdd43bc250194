/**
 * Block checksums of a chunk: the chunk is cut into blocks of `blockBytes` (the last one may be
 * shorter) and the CRC32C of each block is kept, as consecutive u32 little-endian values. A read
 * of a small range then verifies only the blocks it touches. Because a CRC32C can be continued
 * over more bytes, an append extends the last block's checksum without reading the block again,
 * which keeps appends O(bytes written). The whole chunk's CRC32C comes from the block checksums
 * (crc32cCombine), so each byte is summed once. Pure functions over buffers.
 */
import { crc32c, crc32cCombine } from '../../common/crc32c.js';
import { assert } from '../../common/errors.js';

const entryBytes = 4;

/** Number of blocks of a chunk of `length` bytes. */
export function blockCount(length: number, blockBytes: number): number {
  return Math.ceil(length / blockBytes);
}

/** The block checksums of `data`, taken as a whole chunk. */
export function computeBlockChecksums(data: Uint8Array, blockBytes: number): Buffer {
  assert(blockBytes > 0, 'blocks are not empty');
  const count = blockCount(data.length, blockBytes);
  const checksums = Buffer.alloc(count * entryBytes);
  for (let block = 0; block < count; block++) {
    const start = block * blockBytes;
    const end = Math.min(data.length, start + blockBytes);
    checksums.writeUInt32LE(crc32c(data.subarray(start, end)), block * entryBytes);
  }
  return checksums;
}

/** The block checksums of `data` and the CRC32C of all of it, each byte summed once. */
export function computeChunkChecksums(
  data: Uint8Array,
  blockBytes: number,
): { blockChecksums: Buffer; checksum: number } {
  assert(blockBytes > 0, 'blocks are not empty');
  const count = blockCount(data.length, blockBytes);
  const blockChecksums = Buffer.alloc(count * entryBytes);
  let checksum = 0;
  for (let block = 0; block < count; block++) {
    const piece = data.subarray(block * blockBytes, Math.min(data.length, (block + 1) * blockBytes));
    const pieceChecksum = crc32c(piece);
    blockChecksums.writeUInt32LE(pieceChecksum, block * entryBytes);
    checksum = crc32cCombine(checksum, pieceChecksum, piece.length);
  }
  return { blockChecksums, checksum };
}

/**
 * The block checksums after `appended` is written at `oldLength`, the current end of a chunk whose
 * block checksums are `checksums`. Costs O(appended.length), whatever the chunk's size.
 */
export function extendBlockChecksums(options: {
  checksums: Buffer;
  oldLength: number;
  appended: Uint8Array;
  blockBytes: number;
}): Buffer {
  const { checksums, oldLength, appended, blockBytes } = options;
  assert(checksums.length === blockCount(oldLength, blockBytes) * entryBytes, 'checksums match the length');
  const newLength = oldLength + appended.length;
  const result = Buffer.alloc(blockCount(newLength, blockBytes) * entryBytes);
  checksums.copy(result);
  let position = oldLength;
  let consumed = 0;
  while (consumed < appended.length) {
    const block = Math.floor(position / blockBytes);
    const blockEnd = (block + 1) * blockBytes;
    const take = Math.min(appended.length - consumed, blockEnd - position);
    // A block that already holds bytes continues from its checksum; a new block starts fresh.
    const initial = position % blockBytes === 0 ? 0 : result.readUInt32LE(block * entryBytes);
    const crc = crc32c(appended.subarray(consumed, consumed + take), initial);
    result.writeUInt32LE(crc, block * entryBytes);
    position += take;
    consumed += take;
  }
  return result;
}

/**
 * The block checksums after a chunk shrinks to `newLength`. `lastBlock` holds the bytes of the
 * new last block that remain (empty when `newLength` is a block boundary).
 */
export function shrinkBlockChecksums(options: {
  checksums: Buffer;
  newLength: number;
  lastBlock: Uint8Array;
  blockBytes: number;
}): Buffer {
  const { checksums, newLength, lastBlock, blockBytes } = options;
  const count = blockCount(newLength, blockBytes);
  assert(count * entryBytes <= checksums.length, 'shrinking keeps at most the existing blocks');
  assert(
    lastBlock.length === newLength - Math.floor(newLength / blockBytes) * blockBytes,
    'the last block is partial',
  );
  const result = Buffer.from(checksums.subarray(0, count * entryBytes));
  if (lastBlock.length > 0) result.writeUInt32LE(crc32c(lastBlock), (count - 1) * entryBytes);
  return result;
}

/** The stored checksum of block `block`. */
export function blockChecksum(checksums: Buffer, block: number): number {
  assert((block + 1) * entryBytes <= checksums.length, 'the block exists');
  return checksums.readUInt32LE(block * entryBytes);
}

/**
 * Verifies `data`, the bytes of the chunk from `start` (a block boundary) up to the end of a block
 * or the chunk. Returns the index of the first block that fails (-1 when all hold) and, when all
 * hold, the CRC32C of the whole of `data`, combined from the blocks' (each byte summed once).
 */
export function verifyBlocks(options: {
  checksums: Buffer;
  start: number;
  data: Uint8Array;
  blockBytes: number;
}): { badBlock: number; checksum: number } {
  const { checksums, start, data, blockBytes } = options;
  assert(start % blockBytes === 0, 'verification starts at a block boundary');
  const firstBlock = start / blockBytes;
  let checksum = 0;
  for (let offset = 0; offset < data.length; offset += blockBytes) {
    const block = firstBlock + offset / blockBytes;
    const piece = data.subarray(offset, Math.min(data.length, offset + blockBytes));
    const actual = crc32c(piece);
    if (actual !== blockChecksum(checksums, block)) return { badBlock: block, checksum: 0 };
    checksum = crc32cCombine(checksum, actual, piece.length);
  }
  return { badBlock: -1, checksum };
}

/** The index of the first block of `data` that fails its checksum, or -1 (see verifyBlocks). */
export function firstBadBlock(options: {
  checksums: Buffer;
  start: number;
  data: Uint8Array;
  blockBytes: number;
}): number {
  return verifyBlocks(options).badBlock;
}
