// Proves recovery's pacing and bookkeeping on a ManualClock: the bandwidth limiter lets a burst
// through and then holds copies to the configured rate, serves takers in order and stops waiting
// when aborted; the chunk cursors walk both sides page by page and pair every chunk id once; and
// the progress tracker reports totals, done counts and a rate over recent copies only.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/common/clock.js';
import { compareChunkIds, type ChunkId } from '../../../src/storage/protocol/index.js';
import { BandwidthLimiter } from '../../../src/storage/recovery/bandwidth-limiter.js';
import { ChunkCursor, pairChunks, type ChunkMetaEntry } from '../../../src/storage/recovery/chunk-cursor.js';
import { RecoveryProgressTracker } from '../../../src/storage/recovery/recovery-progress.js';

/** Lets pending promise callbacks run. */
async function settle(): Promise<void> {
  for (let round = 0; round < 10; round++) await Promise.resolve();
}

describe('the recovery bandwidth limiter', () => {
  it('lets a quarter second of bytes through at once, then paces the rest', async () => {
    const clock = new ManualClock();
    const limiter = new BandwidthLimiter({ clock, bytesPerSecond: 1_000 });
    let granted = 0;
    const takes = [250, 500, 500].map((bytes) => limiter.take(bytes).then(() => (granted += 1)));
    await settle();
    // The bucket starts full (250 bytes): the first two go at once, the second into debt.
    expect(granted).toBe(2);
    clock.advance(499);
    await settle();
    expect(granted).toBe(2);
    clock.advance(1);
    await settle();
    expect(granted).toBe(3);
    await Promise.all(takes);
  });

  it('stops waiting when aborted, without holding up the takers behind', async () => {
    const clock = new ManualClock();
    const limiter = new BandwidthLimiter({ clock, bytesPerSecond: 100 });
    await limiter.take(1_000);
    const controller = new AbortController();
    const aborted = limiter.take(10, controller.signal);
    const next = limiter.take(10);
    controller.abort(new Error('stop'));
    await expect(aborted).rejects.toThrow('stop');
    clock.advance(10_000);
    await expect(next).resolves.toBeUndefined();
  });
});

function entries(ids: Array<[number, number]>): ChunkMetaEntry[] {
  return ids.map(([inode, index]) => ({
    chunkId: { inode: BigInt(inode), index },
    version: 1,
    length: 1,
    checksum: 1,
  }));
}

/** A cursor over `all`, served `pageSize` at a time after the given cursor. */
function cursorOver(all: ChunkMetaEntry[], pageSize: number): { cursor: ChunkCursor; fetches: () => number } {
  let fetches = 0;
  const cursor = new ChunkCursor(async (after: ChunkId | undefined) => {
    fetches += 1;
    const rest = all.filter((entry) => after === undefined || compareChunkIds(entry.chunkId, after) > 0);
    const chunks = rest.slice(0, pageSize);
    const last = chunks[chunks.length - 1];
    return { chunks, next: rest.length > pageSize && last !== undefined ? last.chunkId : undefined };
  });
  return { cursor, fetches: () => fetches };
}

describe('walking two chunk lists', () => {
  it('pairs every chunk id of either side once, in order, reading a page at a time', async () => {
    const local = entries([
      [1, 0],
      [1, 1],
      [2, 0],
      [5, 3],
    ]);
    const remote = entries([
      [1, 1],
      [3, 0],
      [5, 3],
      [5, 4],
      [9, 9],
    ]);
    const ours = cursorOver(local, 2);
    const theirs = cursorOver(remote, 2);
    const pairs = [];
    for await (const pair of pairChunks(ours.cursor, theirs.cursor)) {
      pairs.push(
        `${pair.chunkId.inode}:${pair.chunkId.index}:${pair.local ? 'L' : '-'}${pair.remote ? 'R' : '-'}`,
      );
    }
    expect(pairs).toEqual(['1:0:L-', '1:1:LR', '2:0:L-', '3:0:-R', '5:3:LR', '5:4:-R', '9:9:-R']);
    expect(ours.fetches()).toBe(2);
    expect(theirs.fetches()).toBe(3);
  });

  it('ends at once when both sides are empty', async () => {
    const pairs = [];
    for await (const pair of pairChunks(cursorOver([], 4).cursor, cursorOver([], 4).cursor)) pairs.push(pair);
    expect(pairs).toEqual([]);
  });
});

describe('recovery progress', () => {
  it('reports totals, done counts and the rate of the last few seconds', () => {
    const clock = new ManualClock();
    const tracker = new RecoveryProgressTracker(
      { chainId: 1, chainVersion: 4, fromTargetId: 2, targetId: 3 },
      clock,
    );
    tracker.planned(1_000);
    tracker.planned(3_000);
    tracker.planned(0);
    tracker.skipped();
    tracker.copying();
    clock.advance(1_000);
    tracker.copied(1_000);
    clock.advance(1_000);
    tracker.copied(3_000);
    expect(tracker.snapshot()).toMatchObject({
      phase: 'copying',
      chunksTotal: 3,
      bytesTotal: 4_000,
      chunksDone: 2,
      bytesDone: 4_000,
      chunksSkipped: 1,
      bytesPerSecond: 4_000,
    });
    clock.advance(10_000);
    expect(tracker.snapshot().bytesPerSecond).toBe(0);
    tracker.finish('failed', 'the successor went away');
    expect(tracker.snapshot()).toMatchObject({ phase: 'failed', error: 'the successor went away' });
  });
});
