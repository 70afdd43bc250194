/**
 * The byte-range arithmetic of locks, pure: what one owner holds after a lock or unlock, and
 * which held range stands in a request's way. Ranges include both ends ([start, end]).
 *
 * Invariants of one owner's ranges on one file (`isNormal`), kept by `applyRange`:
 *  - sorted by start and pairwise disjoint (an owner never holds a byte twice);
 *  - two ranges of the same mode never touch (end + 1 === next start): they are one range.
 *
 * POSIX rules (fcntl(2), and Linux's posix_lock_inode): a new lock of an owner replaces whatever
 * that owner held on its bytes, so locking part of an own range in the other mode splits it, and
 * unlocking its middle leaves the two ends; the new lock then merges with the owner's ranges of
 * the same mode it overlaps or touches, and the merged range carries the new lock's pid. Locks of
 * one owner never conflict with each other; two ranges of different owners conflict when they
 * share a byte and either is a write lock.
 */
import { assert } from '../../common/errors.js';
import type { ByteRange, HeldRange, LockMode } from '../protocol/index.js';

/** A change of one owner's locks: a range to lock in `mode`, or to unlock. */
export interface RangeChange extends ByteRange {
  readonly mode: LockMode | 'unlock';
  readonly pid: number;
}

/** True when the two ranges share at least one byte. */
export function overlaps(a: ByteRange, b: ByteRange): boolean {
  return a.start <= b.end && b.start <= a.end;
}

/** True when locks of two different owners cannot both be held. */
export function conflicts(
  a: ByteRange & { readonly mode: LockMode },
  b: ByteRange & { readonly mode: LockMode },
): boolean {
  return overlaps(a, b) && (a.mode === 'write' || b.mode === 'write');
}

/** True when `ranges` keep the invariants of the file comment. */
export function isNormal(ranges: readonly HeldRange[]): boolean {
  for (const [index, range] of ranges.entries()) {
    if (range.start > range.end) return false;
    const next = ranges[index + 1];
    if (next === undefined) continue;
    if (next.start <= range.end) return false;
    if (next.mode === range.mode && next.start === range.end + 1n) return false;
  }
  return true;
}

/** One owner's ranges after `change`, as the file comment says; `held` must be normal. */
export function applyRange(held: readonly HeldRange[], change: RangeChange): HeldRange[] {
  assert(change.start <= change.end, 'a lock range starts at or before its end');
  assert(isNormal(held), 'an owner’s held ranges are normal before a change');
  // Cut the changed bytes out of every held range: what stays are the parts on either side.
  const kept: HeldRange[] = [];
  for (const range of held) {
    if (!overlaps(range, change)) {
      kept.push(range);
      continue;
    }
    if (range.start < change.start) kept.push({ ...range, end: change.start - 1n });
    if (range.end > change.end) kept.push({ ...range, start: change.end + 1n });
  }
  if (change.mode === 'unlock') return kept;
  // The new range takes in its neighbours of the same mode that touch it, and their bytes.
  let start = change.start;
  let end = change.end;
  const result: HeldRange[] = [];
  for (const range of kept) {
    const touches = range.end + 1n === change.start || change.end + 1n === range.start;
    if (range.mode === change.mode && touches) {
      if (range.start < start) start = range.start;
      if (range.end > end) end = range.end;
    } else {
      result.push(range);
    }
  }
  const merged: HeldRange = { mode: change.mode, start, end, pid: change.pid };
  const at = result.findIndex((range) => range.start > merged.start);
  result.splice(at === -1 ? result.length : at, 0, merged);
  assert(isNormal(result), 'an owner’s held ranges are normal after a change');
  return result;
}

/** The held range of `ranges` with the lowest start that conflicts with `wanted`, if any. */
export function firstConflict<T extends HeldRange>(
  ranges: Iterable<T>,
  wanted: ByteRange & { readonly mode: LockMode },
): T | undefined {
  let first: T | undefined;
  for (const range of ranges) {
    if (!conflicts(range, wanted)) continue;
    if (first === undefined || range.start < first.start) first = range;
  }
  return first;
}
