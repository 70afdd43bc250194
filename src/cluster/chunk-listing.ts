/**
 * Which chunks of files a chain holds, from its replicas' chunk metadata (Storage.dumpChunkMeta,
 * paged in chunk id order). ChunkClient asks every serving replica of the chain and merges what
 * they hold: the head's committed version is the one a conditional update is checked against, and
 * the other replicas add chunks the head lacks (committed at the tail while the head still had
 * them pending), with version 0.
 */
import type { ChunkId } from '../storage/protocol/index.js';

/** A chunk of a file on one chain: its index, the head's committed version (0: none) and length. */
export interface ListedChunk {
  readonly index: number;
  readonly version: number;
  readonly length: number;
}

/** One page of a replica's chunk metadata after `after` (null: from the first chunk id). */
export type DumpPage = (after: ChunkId | null) => Promise<{
  chunks: ReadonlyArray<{ chunkId: ChunkId; version: number; length: number }>;
  next: ChunkId | null;
}>;

/** The chunks of `inode` with index in [begin, end) on one replica, in index order. */
export async function dumpFileChunks(
  page: DumpPage,
  inode: bigint,
  range: { begin: number; end: number },
): Promise<ListedChunk[]> {
  const chunks: ListedChunk[] = [];
  // The first page starts after the chunk id just before (inode, begin).
  let after: ChunkId | null =
    range.begin > 0 ? { inode, index: range.begin - 1 } : { inode: inode - 1n, index: 0xffff_ffff };
  for (;;) {
    const { chunks: listed, next } = await page(after);
    for (const chunk of listed) {
      if (chunk.chunkId.inode !== inode || chunk.chunkId.index >= range.end) return chunks;
      chunks.push({ index: chunk.chunkId.index, version: chunk.version, length: chunk.length });
    }
    if (next === null) return chunks;
    after = next;
  }
}

/**
 * The chunks of any of `inodes` on one replica, in chunk id order: one walk over the inodes' span,
 * stepping over the chunks of inodes not asked for, rather than one walk per inode.
 */
export async function dumpChunksOfInodes(
  page: DumpPage,
  inodes: ReadonlySet<bigint>,
): Promise<Array<ListedChunk & { inode: bigint }>> {
  const sorted = [...inodes].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const first = sorted[0] ?? 0n;
  const last = sorted[sorted.length - 1] ?? 0n;
  const chunks: Array<ListedChunk & { inode: bigint }> = [];
  let after: ChunkId | null = first > 0n ? { inode: first - 1n, index: 0xffff_ffff } : null;
  for (;;) {
    const { chunks: listed, next } = await page(after);
    let lastSkipped: bigint | undefined;
    for (const chunk of listed) {
      const { inode, index } = chunk.chunkId;
      if (inode > last) return chunks;
      lastSkipped = inodes.has(inode) ? undefined : inode;
      if (lastSkipped === undefined)
        chunks.push({ inode, index, version: chunk.version, length: chunk.length });
    }
    if (next === null) return chunks;
    // A page ending inside the chunks of an inode not asked for: the next one starts after them all.
    after = lastSkipped === undefined ? next : { inode: lastSkipped, index: 0xffff_ffff };
  }
}

/** Adds one replica's chunks to `into` (by index): the head's win; others only add what is missing. */
export function mergeReplicaChunks(
  into: Map<number, ListedChunk>,
  chunks: readonly ListedChunk[],
  isHead: boolean,
): void {
  for (const chunk of chunks) {
    if (isHead) into.set(chunk.index, { index: chunk.index, version: chunk.version, length: chunk.length });
    else if (!into.has(chunk.index))
      into.set(chunk.index, { index: chunk.index, version: 0, length: chunk.length });
  }
}

/** The merged chunks in index order. */
export function sortedChunks(chunks: Map<number, ListedChunk>): ListedChunk[] {
  return [...chunks.values()].sort((a, b) => a.index - b.index);
}
