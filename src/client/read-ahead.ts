/**
 * Read-ahead for one open file (DESIGN §9): once reads go sequentially, the next `windowBytes`
 * after each read are fetched in blocks in the background, so the next read finds its bytes in
 * memory or already on the way instead of waiting for a storage round trip. A read that jumps
 * elsewhere drops the window. Prefetched bytes are bounded for the whole client (a ByteBudget);
 * when it is exhausted, reads simply go to storage.
 *
 * Blocks remember the file's data version they were fetched under; a write or truncate through
 * this client bumps the version, and stale blocks are never served.
 *
 * A block's bytes may be a pooled reply payload (payload-pool.ts): the window holds it while the
 * block is in the window, and a read served from one block alone gets a view of it held once more
 * for its caller, who may let go with `releasePayload`. The buffer goes back to the pool only when
 * both have let go.
 */
import { assert } from '../common/errors.js';
import { holdPayload, releasePayload, type PayloadPool } from '../rpc/index.js';
import { assemblyBuffer } from './file-data.js';
import type { ByteBudget } from './limiter.js';

interface Block {
  /** Resolves with the block's bytes (shorter at the end of the file). */
  readonly data: Promise<Buffer>;
  readonly version: number;
  /** The file length the block was cut at. */
  readonly fileLength: bigint;
  /** Budget bytes held. */
  readonly held: number;
}

export interface ReadAheadOptions {
  readonly blockBytes: number;
  readonly windowBytes: number;
  readonly budget: ByteBudget;
  /** Fetches [offset, offset + length) cut at `fileLength`. */
  readonly fetch: (offset: bigint, length: number, fileLength: bigint) => Promise<Buffer>;
  /** Where a read that spans blocks is copied together (file-data.ts assemblyBuffer). */
  readonly pool?: PayloadPool | undefined;
}

export class ReadAhead {
  private readonly blocks = new Map<bigint, Block>();
  /** Where the last read ended: a read starting here is sequential. */
  private nextOffset = 0n;

  constructor(private readonly options: ReadAheadOptions) {
    assert(options.blockBytes >= 1, 'read-ahead blocks hold bytes');
  }

  /**
   * Serves a read from the window when it is sequential, and moves the window on; resolves
   * undefined when the read is not sequential or its bytes are not prefetched (read directly).
   * The bytes are held for the caller (see the file comment).
   */
  async read(offset: bigint, length: number, state: { version: number; fileLength: bigint }) {
    const sequential = offset === this.nextOffset || this.blocks.has(this.blockStart(offset));
    this.nextOffset = offset + BigInt(length);
    if (!sequential || this.options.windowBytes === 0) {
      this.clear();
      return undefined;
    }
    this.dropBefore(this.blockStart(offset));
    this.prefetch(offset, length, state);
    return this.assemble(offset, length, state);
  }

  /** Drops every block and gives back its budget. */
  clear(): void {
    for (const start of [...this.blocks.keys()]) this.drop(start);
  }

  private blockStart(offset: bigint): bigint {
    const size = BigInt(this.options.blockBytes);
    return (offset / size) * size;
  }

  /** Starts fetching the blocks of [offset, offset + length + window) that are missing. */
  private prefetch(offset: bigint, length: number, state: { version: number; fileLength: bigint }): void {
    const size = BigInt(this.options.blockBytes);
    const end = offset + BigInt(length) + BigInt(this.options.windowBytes);
    const limit = end < state.fileLength ? end : state.fileLength;
    for (let start = this.blockStart(offset); start < limit; start += size) {
      const existing = this.blocks.get(start);
      if (existing !== undefined && existing.version === state.version) continue;
      if (existing !== undefined) this.drop(start);
      const held = this.options.budget.tryAcquire(this.options.blockBytes);
      if (held === 0) return;
      const data = this.options.fetch(start, this.options.blockBytes, state.fileLength);
      // A failed prefetch is reported by the read that needs it; unused, it is dropped silently.
      data.catch(() => undefined);
      this.blocks.set(start, { data, version: state.version, fileLength: state.fileLength, held });
    }
  }

  /** The read's bytes from the window, or undefined when some are not there (or are stale). */
  private async assemble(offset: bigint, length: number, state: { version: number; fileLength: bigint }) {
    const size = BigInt(this.options.blockBytes);
    const end = offset + BigInt(length) < state.fileLength ? offset + BigInt(length) : state.fileLength;
    if (end <= offset) return Buffer.alloc(0);
    // Each part is held from the moment it is taken: while a later block is awaited, the window
    // may drop an earlier one, whose buffer must not go back to the pool under this read.
    const parts: Buffer[] = [];
    let whole = false;
    try {
      for (let start = this.blockStart(offset); start < end; start += size) {
        const block = this.blocks.get(start);
        if (block === undefined || block.version !== state.version) return undefined;
        let data: Buffer;
        try {
          data = await block.data;
        } catch (error) {
          this.drop(start);
          throw error;
        }
        const from = offset > start ? Number(offset - start) : 0;
        const to = Number((end < start + size ? end : start + size) - start);
        // The file grew since the block was cut at its old end: fetch directly instead.
        if (data.length < to && block.fileLength < state.fileLength) return undefined;
        const part = data.length >= to ? data.subarray(from, to) : zeroPadded(data, from, to);
        holdPayload(part);
        parts.push(part);
      }
      whole = parts.length === 1;
      if (whole) return parts[0] as Buffer;
      const joined = assemblyBuffer(this.options.pool, Number(end - offset));
      let at = 0;
      for (const part of parts) at += part.copy(joined, at);
      return joined;
    } finally {
      // A read served from one block keeps its hold for the caller.
      if (!whole) for (const part of parts) releasePayload(part);
    }
  }

  private dropBefore(start: bigint): void {
    for (const key of [...this.blocks.keys()]) if (key < start) this.drop(key);
  }

  private drop(start: bigint): void {
    const block = this.blocks.get(start);
    if (block === undefined) return;
    this.blocks.delete(start);
    this.options.budget.release(block.held);
    block.data.then(releasePayload, () => undefined);
  }
}

/** Bytes [from, to) of `data`, zeros where `data` ends first. */
function zeroPadded(data: Buffer, from: number, to: number): Buffer {
  const result = Buffer.alloc(to - from);
  if (data.length > from) data.copy(result, 0, from, Math.min(data.length, to));
  return result;
}
