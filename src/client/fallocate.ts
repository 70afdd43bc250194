/**
 * fallocate(2) for this file system, decided here and carried out by the open file (pure, so every
 * mode is unit-tested on its own). Chunks are allocated lazily on each replica, when bytes are
 * first written, as in many distributed file systems, so space is promised rather than reserved:
 *
 *  - mode 0 makes the file at least offset + length long (meta, as a writer's length report does,
 *    under the truncate version rules) and FALLOC_FL_KEEP_SIZE leaves the length; both check that
 *    the file system's usable space (statfs) holds the bytes promised past the file's end, and
 *    answer ENOSPC when it does not. Nothing is set aside: a disk others fill meanwhile can still
 *    fail a later write with ENOSPC.
 *  - FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE and FALLOC_FL_ZERO_RANGE make the range read as
 *    zeros in storage (chunk `zero` and `remove` updates, which free whole blocks on every replica);
 *    the part past the file's end already reads as zeros and is left alone. ZERO_RANGE without
 *    KEEP_SIZE then extends the file as mode 0 does.
 *  - COLLAPSE_RANGE, INSERT_RANGE, UNSHARE_RANGE and PUNCH_HOLE without KEEP_SIZE are refused
 *    with EOPNOTSUPP, as Linux refuses what a file system does not do.
 */
import { FsError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import { CommonCode, MetaCode } from '../common/status-code.js';

/** The flags of fallocate(2)'s mode (linux/falloc.h). */
export const FallocateFlag = {
  keepSize: 0x01,
  punchHole: 0x02,
  noHideStale: 0x04,
  collapseRange: 0x08,
  zeroRange: 0x10,
  insertRange: 0x20,
  unshareRange: 0x40,
} as const;

/** What a supported mode asks for. */
export type FallocateKind = 'allocate' | 'punch-hole' | 'zero-range';

export interface FallocateRequest {
  readonly kind: FallocateKind;
  readonly keepSize: boolean;
  readonly offset: bigint;
  readonly length: bigint;
}

/** What one fallocate does to a file of a known length. */
export interface FallocatePlan {
  /** The range to make read as zeros in storage, cut at the file's end; absent when none. */
  readonly zero: { readonly from: bigint; readonly to: bigint } | undefined;
  /** The file's new length, when the call makes it longer. */
  readonly extendTo: bigint | undefined;
  /** Bytes past the file's end that must be free in the file system (statfs), else ENOSPC. */
  readonly promisedBytes: bigint;
  /** True when the file changes (its data or length): meta sets mtime and ctime. */
  readonly modifies: boolean;
}

/**
 * Checks fallocate's arguments as Linux does: EINVAL for a negative offset or a length that is not
 * positive, EFBIG for an end past the largest file, EOPNOTSUPP for a mode this file system lacks.
 */
export function checkFallocate(mode: number, offset: bigint, length: bigint): FallocateRequest {
  if (offset < 0n || length <= 0n) {
    throw new FsError(
      CommonCode.InvalidArgument,
      `fallocate needs offset >= 0 and length > 0 (got ${offset}, ${length})`,
    );
  }
  if (offset + length > limits.metaFileLengthBytesMax) {
    throw new FsError(
      MetaCode.FileTooLarge,
      `fallocate up to ${offset + length} reaches past the largest file (${limits.metaFileLengthBytesMax} bytes)`,
    );
  }
  const keepSize = (mode & FallocateFlag.keepSize) !== 0;
  switch (mode & ~FallocateFlag.keepSize) {
    case 0:
      return { kind: 'allocate', keepSize, offset, length };
    case FallocateFlag.zeroRange:
      return { kind: 'zero-range', keepSize, offset, length };
    // Linux refuses a punched hole that would change the length.
    case FallocateFlag.punchHole:
      if (keepSize) return { kind: 'punch-hole', keepSize, offset, length };
      break;
  }
  // A feature this file system lacks (collapse, insert, unshare, and combinations): EOPNOTSUPP.
  throw new FsError(CommonCode.NotImplemented, `fallocate mode 0x${mode.toString(16)} is not supported`);
}

/** The plan of `request` on a file of `fileLength` bytes. */
export function planFallocate(request: FallocateRequest, fileLength: bigint): FallocatePlan {
  const end = request.offset + request.length;
  const grows = !request.keepSize && request.kind !== 'punch-hole' && end > fileLength;
  const zeroTo = end < fileLength ? end : fileLength;
  const zero =
    request.kind !== 'allocate' && request.offset < zeroTo ? { from: request.offset, to: zeroTo } : undefined;
  // Punching a hole promises nothing; the other modes promise the bytes they cover past the end.
  const promiseFrom = request.offset > fileLength ? request.offset : fileLength;
  const promisedBytes = request.kind !== 'punch-hole' && end > promiseFrom ? end - promiseFrom : 0n;
  return {
    zero,
    extendTo: grows ? end : undefined,
    promisedBytes,
    modifies: grows || zero !== undefined,
  };
}
