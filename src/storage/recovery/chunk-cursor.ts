/**
 * Walking two targets' chunk metadata side by side, in chunk id order, a page at a time: the
 * predecessor's own store and the syncing target's dump. Each side is read lazily, so recovery of
 * a target holding millions of chunks keeps one page of each side in memory.
 */
import { assert } from '../../common/errors.js';
import { compareChunkIds, type ChunkId } from '../protocol/index.js';
import type { ChunkMetaView } from './sync-plan.js';

/** One chunk's committed metadata on one side. */
export interface ChunkMetaEntry extends ChunkMetaView {
  readonly chunkId: ChunkId;
}

/** A page and the cursor after it (undefined: this was the last page). */
export interface ChunkMetaPage {
  readonly chunks: readonly ChunkMetaEntry[];
  readonly next: ChunkId | undefined;
}

/** Reads one side page by page. */
export class ChunkCursor {
  private page: readonly ChunkMetaEntry[] = [];
  private index = 0;
  private next: ChunkId | undefined;
  private exhausted = false;
  private started = false;

  constructor(private readonly fetch: (after: ChunkId | undefined) => Promise<ChunkMetaPage>) {}

  /** The next entry without consuming it; undefined at the end. */
  async peek(): Promise<ChunkMetaEntry | undefined> {
    while (this.index >= this.page.length && !this.exhausted) {
      const previous = this.next;
      const page = await this.fetch(this.started ? this.next : undefined);
      this.started = true;
      this.page = page.chunks;
      this.index = 0;
      this.next = page.next;
      this.exhausted = page.next === undefined;
      if (previous !== undefined && page.next !== undefined) {
        assert(compareChunkIds(page.next, previous) > 0, 'chunk metadata pages move forward');
      }
    }
    return this.page[this.index];
  }

  /** Consumes the entry `peek` returned. */
  take(): void {
    assert(this.index < this.page.length, 'take follows a peek that found an entry');
    this.index += 1;
  }
}

/** One chunk id with what each side holds of it. */
export interface ChunkPair {
  readonly chunkId: ChunkId;
  readonly local: ChunkMetaEntry | undefined;
  readonly remote: ChunkMetaEntry | undefined;
}

/** Every chunk id of either side, in order, paired with both sides' metadata. */
export async function* pairChunks(local: ChunkCursor, remote: ChunkCursor): AsyncGenerator<ChunkPair> {
  let previous: ChunkId | undefined;
  for (;;) {
    const ours = await local.peek();
    const theirs = await remote.peek();
    if (ours === undefined && theirs === undefined) return;
    const order =
      ours === undefined ? 1 : theirs === undefined ? -1 : compareChunkIds(ours.chunkId, theirs.chunkId);
    const chunkId = (order <= 0 ? ours?.chunkId : theirs?.chunkId) as ChunkId;
    assert(previous === undefined || compareChunkIds(chunkId, previous) > 0, 'chunk ids come in order');
    previous = chunkId;
    if (order <= 0) local.take();
    if (order >= 0) remote.take();
    yield {
      chunkId,
      local: order <= 0 ? ours : undefined,
      remote: order >= 0 ? theirs : undefined,
    };
  }
}
