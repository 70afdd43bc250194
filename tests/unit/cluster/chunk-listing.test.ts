// Proves the chunk listing the GC worker relies on: one file's chunks in a range across pages, one walk
// over many inodes that skips the ones not asked for, and the head's versions winning the merge.
import { describe, expect, it } from 'vitest';
import {
  dumpChunksOfInodes,
  dumpFileChunks,
  mergeReplicaChunks,
  sortedChunks,
  type DumpPage,
  type ListedChunk,
} from '../../../src/cluster/chunk-listing.js';
import type { ChunkId } from '../../../src/storage/protocol/index.js';

/** A replica's chunk metadata in chunk id order, served in pages of `pageSize` as dumpChunkMeta does. */
function replica(
  chunks: Array<[bigint, number, number]>,
  pageSize: number,
): { page: DumpPage; pages: number } {
  const sorted = chunks
    .map(([inode, index, version]) => ({ chunkId: { inode, index }, version, length: 100 + index }))
    .sort((a, b) => compare(a.chunkId, b.chunkId));
  const state = { pages: 0 };
  const page: DumpPage = async (after) => {
    state.pages += 1;
    const rest = sorted.filter((chunk) => after === null || compare(chunk.chunkId, after) > 0);
    const taken = rest.slice(0, pageSize);
    const last = taken[taken.length - 1];
    return { chunks: taken, next: rest.length > pageSize && last !== undefined ? last.chunkId : null };
  };
  return {
    page,
    get pages() {
      return state.pages;
    },
  };
}

function compare(a: ChunkId, b: ChunkId): number {
  if (a.inode !== b.inode) return a.inode < b.inode ? -1 : 1;
  return a.index - b.index;
}

describe('listing the chunks a replica holds', () => {
  it("returns one file's chunks in an index range across pages, and nothing of its neighbours", async () => {
    const held = replica(
      [
        [6n, 0, 1],
        [7n, 0, 3],
        [7n, 1, 2],
        [7n, 2, 5],
        [7n, 3, 1],
        [7n, 9, 4],
        [8n, 0, 1],
      ],
      2,
    );
    expect((await dumpFileChunks(held.page, 7n, { begin: 0, end: 100 })).map((c) => c.index)).toEqual([
      0, 1, 2, 3, 9,
    ]);
    expect(await dumpFileChunks(held.page, 7n, { begin: 2, end: 4 })).toEqual([
      { index: 2, version: 5, length: 102 },
      { index: 3, version: 1, length: 103 },
    ]);
    expect(await dumpFileChunks(held.page, 5n, { begin: 0, end: 100 })).toEqual([]);
  });

  it('walks the chunks of many inodes once, stepping over the inodes not asked for', async () => {
    const chunks: Array<[bigint, number, number]> = [];
    for (let inode = 10n; inode < 20n; inode++)
      for (let index = 0; index < 3; index++) chunks.push([inode, index, 1]);
    const held = replica(chunks, 4);
    const found = await dumpChunksOfInodes(held.page, new Set([11n, 15n, 19n]));
    expect(found.map((c) => `${c.inode}/${c.index}`)).toEqual([
      '11/0',
      '11/1',
      '11/2',
      '15/0',
      '15/1',
      '15/2',
      '19/0',
      '19/1',
      '19/2',
    ]);
    // Pages inside an inode not asked for are skipped past in one step, not read through.
    expect(held.pages).toBeLessThan(chunks.length / 4);
  });

  it("keeps the head's versions and adds only what the head lacks from other replicas, at version 0", () => {
    const merged = new Map<number, ListedChunk>();
    mergeReplicaChunks(merged, [{ index: 1, version: 4, length: 10 }], true);
    mergeReplicaChunks(
      merged,
      [
        { index: 1, version: 5, length: 20 },
        { index: 0, version: 2, length: 30 },
      ],
      false,
    );
    expect(sortedChunks(merged)).toEqual([
      { index: 0, version: 0, length: 30 },
      { index: 1, version: 4, length: 10 },
    ]);
  });
});
