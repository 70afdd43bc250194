/**
 * What the GC worker does with a queue entry, decided from the metadata alone (pure):
 *
 * - a removed file's chunks are deleted only while its inode does not exist: inode ids are never
 *   given out twice, so an existing inode means the entry is wrong and nothing is touched;
 * - a pending truncation waits while the file has write sessions (a writer may be putting data
 *   past the new end right now). When nothing happened to the file since the truncate (same
 *   truncate version, mtime still the truncate's), everything from the truncate point is cut;
 *   otherwise only what lies past the current length, since bytes below it may have been written
 *   after the truncate by a writer whose length report the meta service adopted;
 * - per chunk, the part past the cut point goes: the whole chunk when it starts at or past it.
 */
import { assert } from '../../common/errors.js';
import type { FileInode, Inode, PendingTruncation } from '../protocol/index.js';

export type TruncationPlan =
  /** The file is gone (its GC entry removes every chunk) or was never a file: drop the record. */
  | { readonly action: 'drop'; readonly reason: string }
  /** Writers are active: try again in a later round. */
  | { readonly action: 'defer'; readonly reason: string }
  /** Cut chunk data in [fromBytes, toBytes); the file as it was when decided is kept to re-check. */
  | {
      readonly action: 'cut';
      readonly fromBytes: bigint;
      readonly toBytes: bigint;
      readonly file: FileInode;
    };

export function planTruncation(input: {
  record: PendingTruncation;
  inode: Inode | undefined;
  writeSessions: number;
}): TruncationPlan {
  const { record, inode } = input;
  if (inode === undefined) return { action: 'drop', reason: 'the file was removed' };
  if (inode.type !== 'file') return { action: 'drop', reason: `inode ${inode.ino} is a ${inode.type}` };
  if (input.writeSessions > 0) return { action: 'defer', reason: 'the file is open for writing' };
  const untouched =
    inode.truncateVersion === record.truncateVersion && inode.mtimeNs === record.requestedAtNs;
  const fromBytes = untouched ? record.fromBytes : maxBigint(record.fromBytes, inode.length);
  return { action: 'cut', fromBytes, toBytes: record.toBytes, file: inode };
}

/** True when the file is as it was when the plan was made (so the plan still holds). */
export function sameFileState(before: FileInode, after: Inode | undefined): boolean {
  return (
    after?.type === 'file' &&
    after.length === before.length &&
    after.truncateVersion === before.truncateVersion &&
    after.mtimeNs === before.mtimeNs
  );
}

/** The chunk indexes [begin, end) that bytes [fromBytes, toBytes) touch. */
export function chunkIndexRange(range: { fromBytes: bigint; toBytes: bigint; chunkSizeBytes: number }): {
  begin: number;
  end: number;
} {
  const size = BigInt(range.chunkSizeBytes);
  if (range.toBytes <= range.fromBytes) return { begin: 0, end: 0 };
  const begin = range.fromBytes / size;
  const end = (range.toBytes + size - 1n) / size;
  const indexLimit = 0x1_0000_0000n;
  return { begin: Number(minBigint(begin, indexLimit)), end: Number(minBigint(end, indexLimit)) };
}

export type ChunkCut =
  { readonly kind: 'remove' } | { readonly kind: 'truncate'; readonly length: number } | undefined;

/** What to do with chunk `index` (currently `length` bytes) to cut everything from `cutFromBytes`. */
export function planChunkCut(input: {
  index: number;
  length: number;
  chunkSizeBytes: number;
  cutFromBytes: bigint;
}): ChunkCut {
  assert(Number.isInteger(input.index) && input.index >= 0, 'a chunk index');
  const start = BigInt(input.index) * BigInt(input.chunkSizeBytes);
  if (start >= input.cutFromBytes) return { kind: 'remove' };
  const keep = Number(input.cutFromBytes - start);
  return keep < input.length ? { kind: 'truncate', length: keep } : undefined;
}

function maxBigint(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

function minBigint(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}
