/**
 * Checks of what a caller hands a chunk store, shared by both stores so that they refuse the same
 * input with the same status codes, before anything is planned or written: a chunk id outside
 * (u64 inode, u32 index), an offset or length past the chunk size (a zeroed range included), a
 * payload larger than a chunk.
 * A refused update leaves the chunk untouched.
 */
import { crc32c } from '../../common/crc32c.js';
import { FsError } from '../../common/errors.js';
import { StorageCode } from '../../common/status-code.js';
import type { ChunkId } from '../protocol/index.js';
import type { ChunkUpdate } from './chunk-store.js';

const u64Max = (1n << 64n) - 1n;
const u32Max = 0xffff_ffff;

function isByteCount(value: unknown, max: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= max;
}

/** Refuses a chunk id that does not fit the 12-byte form (OffsetOutOfRange: no file reaches it). */
export function checkChunkIdInput(chunkId: ChunkId): void {
  const { inode, index } = chunkId as { inode: unknown; index: unknown };
  if (typeof inode !== 'bigint' || inode < 0n || inode > u64Max || !isByteCount(index, u32Max)) {
    throw new FsError(
      StorageCode.OffsetOutOfRange,
      `chunk id (${String(inode)}, ${String(index)}) is outside (u64 inode, u32 index)`,
    );
  }
}

/**
 * Refuses a write or replace whose payload fails the CRC32C it must have (`checkAgainst`, for a
 * payload nobody checked on the way in), before anything is written. The native engine does this
 * inside its prepare instead.
 */
export function checkPayloadChecksum(update: ChunkUpdate): void {
  if (update.kind !== 'write' && update.kind !== 'replace') return;
  if (update.checkAgainst === undefined) return;
  const actual = crc32c(update.data);
  if (actual !== update.checkAgainst) {
    throw new FsError(
      StorageCode.ChecksumMismatch,
      `the payload's CRC32C is ${actual.toString(16)}, the request says ${update.checkAgainst.toString(16)}`,
    );
  }
}

/** Refuses an update that does not fit a chunk of `chunkBytesMax` bytes. */
export function checkUpdateInput(update: ChunkUpdate, chunkBytesMax: number): void {
  switch (update.kind) {
    case 'write':
    case 'replace': {
      if (!Buffer.isBuffer(update.data)) {
        throw new FsError(StorageCode.PayloadLengthMismatch, `a ${update.kind} carries no payload buffer`);
      }
      if (update.data.length > chunkBytesMax) {
        throw new FsError(
          StorageCode.PayloadTooLarge,
          `a payload of ${update.data.length} bytes is larger than a chunk (${chunkBytesMax} bytes)`,
        );
      }
      const offset = update.kind === 'write' ? update.offset : 0;
      if (!isByteCount(offset, chunkBytesMax) || offset + update.data.length > chunkBytesMax) {
        throw new FsError(
          StorageCode.OffsetOutOfRange,
          `a write of ${update.data.length} bytes at ${String(offset)} ends past the chunk size (${chunkBytesMax} bytes)`,
        );
      }
      return;
    }
    case 'truncate':
      if (!isByteCount(update.length, chunkBytesMax)) {
        throw new FsError(
          StorageCode.OffsetOutOfRange,
          `a truncate to ${String(update.length)} bytes is past the chunk size (${chunkBytesMax} bytes)`,
        );
      }
      return;
    case 'remove':
      return;
    case 'clone':
      checkChunkIdInput(update.source);
      if (!isByteCount(update.sourceVersion, u32Max)) {
        throw new FsError(
          StorageCode.ChunkVersionMismatch,
          `a clone expects its source at version ${String(update.sourceVersion)}, which is no u32`,
        );
      }
      return;
    case 'zero':
      if (
        !isByteCount(update.offset, chunkBytesMax) ||
        !isByteCount(update.length, chunkBytesMax) ||
        update.offset + update.length > chunkBytesMax
      ) {
        throw new FsError(
          StorageCode.OffsetOutOfRange,
          `zeroing ${String(update.length)} bytes at ${String(update.offset)} reaches past the chunk size (${chunkBytesMax} bytes)`,
        );
      }
      return;
  }
}

/** Refuses a read range whose offset is past the chunk size or that is not a byte count. */
export function checkReadInput(range: { offset: number; length: number }, chunkBytesMax: number): void {
  if (!isByteCount(range.offset, chunkBytesMax) || !isByteCount(range.length, Number.MAX_SAFE_INTEGER)) {
    throw new FsError(
      StorageCode.OffsetOutOfRange,
      `a read of ${String(range.length)} bytes at ${String(range.offset)} is outside the chunk size (${chunkBytesMax} bytes)`,
    );
  }
}
