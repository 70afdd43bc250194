/**
 * How an update turns a chunk's committed version into its pending version. Pure: the store
 * carries the plan out. The rule that keeps a crash from ever damaging the committed version:
 * bytes inside the committed length are never written in place. An update that only adds bytes
 * past the committed end (an append, or a truncate that extends) writes them in place, because
 * readers of the committed version never look past its length; an update that changes bytes
 * inside it builds the new version in a new data file (copy on write); a shrink writes nothing.
 */
import { assert } from '../../common/errors.js';
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
  | { readonly kind: 'remove' };

const empty = Buffer.alloc(0);

/** The plan for `update` on a committed version of `baseLength` bytes (0 for a new chunk). */
export function planUpdate(baseLength: number, update: ChunkUpdate): UpdatePlan {
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
  }
}

/** Bytes the plan puts on disk, for the free-space check before it runs. */
export function plannedWriteBytes(plan: UpdatePlan): number {
  switch (plan.kind) {
    case 'append':
      return plan.zeroFillBytes + plan.data.length;
    case 'rewrite':
      return plan.newLength;
    case 'shrink':
    case 'remove':
      return 0;
  }
}
