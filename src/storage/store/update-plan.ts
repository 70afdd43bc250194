/**
 * How an update turns a chunk's committed version into its pending version. Pure: the store
 * carries the plan out. The rule that keeps a crash from ever damaging the committed version:
 * bytes inside the committed length are never written in place. An update that only adds bytes
 * past the committed end (an append, or a truncate that extends) writes them in place, because
 * readers of the committed version never look past its length; an update that changes bytes
 * inside it builds the new version in a new data file (copy on write); a shrink writes nothing.
 * Zeroing a range inside the chunk is a copy on write too, whose new data file leaves the range
 * unwritten (a hole of the file system), so the disk blocks under it are freed; a range reaching
 * the end is a shrink, and one covering the whole chunk a remove.
 */
import { AssertionError, assert } from '../../common/errors.js';
import type { ChunkUpdate } from './chunk-store.js';

export type UpdatePlan =
  /** Write `zeroFillBytes` zeros and then `data` at the committed end, in the same data file. */
  | {
      readonly kind: 'append';
      readonly zeroFillBytes: number;
      readonly data: Buffer;
      readonly newLength: number;
    }
  /** Cut the chunk to `newLength`; no bytes are written. */
  | { readonly kind: 'shrink'; readonly newLength: number }
  /**
   * A new data file: the first `keepBytes` of the committed version, zeros up to `newLength`, and
   * `data` at `patchOffset` over them.
   */
  | {
      readonly kind: 'rewrite';
      readonly keepBytes: number;
      readonly patchOffset: number;
      readonly data: Buffer;
      readonly newLength: number;
      /** The verified CRC32C of `data`, when the caller passed it. */
      readonly dataChecksum?: number;
    }
  /**
   * A new data file: the committed version's `keepBytes` with [zeroOffset, zeroOffset + zeroLength)
   * zeroed; the zeroed range is not written. The range lies inside the chunk and ends before its end.
   */
  | {
      readonly kind: 'zero';
      readonly keepBytes: number;
      readonly zeroOffset: number;
      readonly zeroLength: number;
      readonly newLength: number;
    }
  | { readonly kind: 'remove' };

const empty = Buffer.alloc(0);

/**
 * The plan for `update` on a committed version of `committedLength` bytes (undefined when the
 * chunk does not exist; a write, replace or truncate then starts from an empty chunk).
 */
export function planUpdate(committedLength: number | undefined, update: ChunkUpdate): UpdatePlan {
  const baseLength = committedLength ?? 0;
  assert(Number.isSafeInteger(baseLength) && baseLength >= 0, 'the base length is a byte count');
  switch (update.kind) {
    case 'write': {
      const end = update.offset + update.data.length;
      if (update.offset >= baseLength) {
        return {
          kind: 'append',
          zeroFillBytes: update.offset - baseLength,
          data: update.data,
          newLength: end,
        };
      }
      return {
        kind: 'rewrite',
        keepBytes: baseLength,
        patchOffset: update.offset,
        data: update.data,
        newLength: Math.max(baseLength, end),
      };
    }
    case 'replace':
      return {
        kind: 'rewrite',
        keepBytes: 0,
        patchOffset: 0,
        data: update.data,
        newLength: update.data.length,
      };
    case 'truncate':
      if (update.length >= baseLength) {
        return {
          kind: 'append',
          zeroFillBytes: update.length - baseLength,
          data: empty,
          newLength: update.length,
        };
      }
      return { kind: 'shrink', newLength: update.length };
    case 'remove':
      return { kind: 'remove' };
    case 'zero':
      return planZero(committedLength, update);
    case 'clone':
      // Each store carries a clone out its own way (shared blocks, or a copy turned into a replace).
      throw new AssertionError('a clone is resolved by the store before it is planned');
  }
}

/** Zeroing never creates a chunk nor makes one longer (see ChunkUpdateOp in the protocol). */
function planZero(
  committedLength: number | undefined,
  update: Extract<ChunkUpdate, { kind: 'zero' }>,
): UpdatePlan {
  if (committedLength === undefined) return { kind: 'remove' };
  const start = update.offset;
  const end = Math.min(committedLength, update.offset + update.length);
  if (start >= end) return { kind: 'append', zeroFillBytes: 0, data: empty, newLength: committedLength };
  if (end === committedLength) return start === 0 ? { kind: 'remove' } : { kind: 'shrink', newLength: start };
  return {
    kind: 'zero',
    keepBytes: committedLength,
    zeroOffset: start,
    zeroLength: end - start,
    newLength: committedLength,
  };
}

/** Bytes the plan puts on disk, for the free-space check before it runs. */
export function plannedWriteBytes(plan: UpdatePlan): number {
  switch (plan.kind) {
    case 'append':
      return plan.zeroFillBytes + plan.data.length;
    case 'rewrite':
      return plan.newLength;
    case 'zero':
      return plan.newLength - plan.zeroLength;
    case 'shrink':
    case 'remove':
      return 0;
  }
}
