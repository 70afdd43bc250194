/**
 * Write buffering of one file (DESIGN §9): writes are kept in memory as extents and sent to
 * storage in the background, whole chunks at a time where the writer goes sequentially, so a
 * writer does not wait for the chain on every call. Buffered bytes are bounded per file and for
 * the whole client (a writer waits beyond either bound). `flush` sends everything and waits for it.
 *
 * Invariants:
 *  - Writes to one chunk reach storage in the order they were made (each chunk has a tail promise
 *    its next write waits for), so overlapping writes end as the last one says.
 *  - A failure of a background write is counted and kept, and reported to every handle of the file
 *    that was open when it happened: by that handle's next write (which fails with it) and its next
 *    flush (which fails with it and marks it seen, for that handle only). Handles share the writer,
 *    so one handle's flush never takes the failure away from another whose bytes may be the lost
 *    ones: errors surface on the calls that can report them, never swallowed.
 *  - `localEnd` is the end of everything written (buffered included); `durableEnd` the highest end
 *    of writes storage acknowledged: only that is reported to meta as the file's length.
 *  - The bytes buffered are the writer's own: a write copies the caller's bytes before it returns
 *    (the caller may fill its buffer again at once), unless the caller hands the buffer over and
 *    never touches it again (the FUSE daemon's receive buffers, the gateways' request bodies).
 *    Copies and joined extents live in buffers of the host's staging pool, each held by its
 *    extent and by every piece of it in flight, and taken again only once all of them let go.
 */
import { assert } from '../common/errors.js';
import { holdPayload, releasePayload, type PayloadPool } from '../rpc/index.js';
import type { ChunkPiece } from './chunk-ranges.js';
import type { FileDataIo, FileRef } from './file-data.js';
import type { ByteBudget } from './limiter.js';

/** How many of its writer's background write failures one handle has reported. */
export interface FailureCursor {
  seen: number;
}

/** What all writers of a client share. */
export interface WriterHost {
  readonly io: FileDataIo;
  /** Buffered bytes of the whole client. */
  readonly budget: ByteBudget;
  readonly perFileBytesMax: number;
  /** Pending extents of one file before they are sent anyway. */
  readonly extentsMax: number;
  /** The whole client is out of buffer space: send what every writer holds. */
  onPressure(): void;
  /** Buffers for the copies of callers' bytes and for joined extents (plain buffers when absent). */
  readonly staging?: PayloadPool;
}

/** How a write's bytes come in. */
export interface WriteOptions {
  /** Which of the writer's background failures the caller has reported (default: the writer's own). */
  cursor?: FailureCursor;
  /**
   * The caller gives the buffer away: it never reads nor changes it again, so it is buffered as it
   * is, without a copy. Otherwise its bytes are copied before the write returns.
   */
  handOver?: boolean;
}

interface Extent {
  offset: bigint;
  parts: Buffer[];
  length: number;
}

export class FileWriter {
  /** End offset of everything written, buffered bytes included. */
  localEnd = 0n;
  /** Highest end offset of a write storage acknowledged. */
  durableEnd = 0n;
  /** Writes accepted so far (tells whether data was written since some earlier moment). */
  writeCount = 0;
  private pending: Extent[] = [];
  private pendingBytes = 0;
  /** Bytes pending or in flight, for the per-file bound. */
  private heldBytes = 0;
  private readonly inflight = new Set<Promise<void>>();
  private readonly chunkTails = new Map<number, Promise<void>>();
  /** Background writes that failed so far, and the latest failure. */
  private failureCount = 0;
  private latestFailure: { error: unknown } | undefined;
  /** The cursor of callers that name none (a writer used by one caller only). */
  private readonly ownCursor: FailureCursor = { seen: 0 };
  private roomWaiters: Array<() => void> = [];

  constructor(
    readonly file: FileRef,
    private readonly host: WriterHost,
  ) {
    assert(host.perFileBytesMax >= 1, 'a file may buffer at least one byte');
  }

  /** True while bytes are buffered or in flight. */
  get busy(): boolean {
    return this.pending.length > 0 || this.inflight.size > 0;
  }

  /** A cursor that reports the failures after this moment (a handle opened now). */
  cursor(): FailureCursor {
    return { seen: this.failureCount };
  }

  /**
   * Buffers `data` at `offset` (a copy of it, unless handed over); fails with a background failure
   * the cursor has not seen, if any.
   */
  async write(offset: bigint, data: Buffer, options: WriteOptions = {}): Promise<void> {
    const cursor = options.cursor ?? this.ownCursor;
    this.throwFailure(cursor, false);
    if (data.length === 0) return;
    assert(data.length <= this.host.budget.max, 'one buffered write fits the client budget');
    while (this.heldBytes > 0 && this.heldBytes + data.length > this.host.perFileBytesMax) {
      this.dispatch(true);
      await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
      this.throwFailure(cursor, false);
    }
    if (this.host.budget.tryAcquire(data.length) === 0) {
      this.host.onPressure();
      await this.host.budget.acquire(data.length);
    }
    this.heldBytes += data.length;
    this.append(offset, options.handOver === true ? data : this.copyOf(data));
    const end = offset + BigInt(data.length);
    if (end > this.localEnd) this.localEnd = end;
    this.writeCount += 1;
    if (this.shouldDispatch()) this.dispatch(false);
  }

  /**
   * Sends everything buffered and waits for all of it; fails with a failure `cursor` has not seen,
   * marking it seen.
   */
  async flush(cursor: FailureCursor = this.ownCursor): Promise<void> {
    await this.settle();
    this.throwFailure(cursor, true);
  }

  /** Sends everything buffered and waits for all of it, without reporting failures (reads, truncates). */
  async settle(): Promise<void> {
    this.dispatch(true);
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  /**
   * Sends buffered extents to storage. Unless `all`, the last extent's tail that does not reach
   * a chunk boundary stays buffered, so a sequential writer's next bytes complete that chunk first.
   */
  dispatch(all: boolean): void {
    if (this.pending.length === 0) return;
    const extents = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    if (!all) {
      const last = extents.pop() as Extent;
      const kept = this.keepTail(last);
      if (kept !== undefined) {
        this.pending.push(kept.tail);
        this.pendingBytes = kept.tail.length;
        if (kept.head !== undefined) extents.push(kept.head);
      } else {
        extents.push(last);
      }
    }
    for (const extent of extents) this.sendExtent(extent);
  }

  /** After a truncate to `length`: nothing is buffered then (the caller settled first). */
  truncated(length: bigint): void {
    assert(!this.busy, 'a truncate waits for buffered writes first');
    if (this.localEnd > length) this.localEnd = length;
    if (this.durableEnd > length) this.durableEnd = length;
  }

  /** The writer's own copy of a caller's bytes. */
  private copyOf(data: Buffer): Buffer {
    const copy = this.host.staging?.take(data.length) ?? Buffer.allocUnsafe(data.length);
    data.copy(copy);
    return copy;
  }

  private append(offset: bigint, data: Buffer): void {
    const last = this.pending[this.pending.length - 1];
    if (last !== undefined && last.offset + BigInt(last.length) === offset) {
      last.parts.push(data);
      last.length += data.length;
    } else {
      this.pending.push({ offset, parts: [data], length: data.length });
    }
    this.pendingBytes += data.length;
  }

  private shouldDispatch(): boolean {
    const chunkSize = this.file.layout.chunkSizeBytes;
    const last = this.pending[this.pending.length - 1];
    if (last === undefined) return false;
    return (
      this.pendingBytes >= Math.min(chunkSize, this.host.perFileBytesMax / 2) ||
      this.pending.length >= this.host.extentsMax ||
      (last.offset + BigInt(last.length)) % BigInt(chunkSize) === 0n
    );
  }

  /** Splits `extent` at its last chunk boundary: the part before is sent, the tail kept. */
  private keepTail(extent: Extent): { head: Extent | undefined; tail: Extent } | undefined {
    const chunkSize = BigInt(this.file.layout.chunkSizeBytes);
    const end = extent.offset + BigInt(extent.length);
    if (end % chunkSize === 0n) return undefined;
    const boundary = (end / chunkSize) * chunkSize;
    if (boundary <= extent.offset) return { head: undefined, tail: extent };
    const data = this.joined(extent);
    // Head and tail are views of one buffer: each extent holds it once.
    holdPayload(data);
    const headLength = Number(boundary - extent.offset);
    return {
      head: { offset: extent.offset, parts: [data.subarray(0, headLength)], length: headLength },
      tail: { offset: boundary, parts: [data.subarray(headLength)], length: extent.length - headLength },
    };
  }

  private sendExtent(extent: Extent): void {
    const data = this.joined(extent);
    for (const piece of this.host.io.pieces(this.file, extent.offset, extent.length)) {
      this.sendPiece(piece, data.subarray(piece.bufferOffset, piece.bufferOffset + piece.length));
    }
    // Each piece holds the buffer until storage answered; the extent lets go of it here.
    releasePayload(data);
  }

  /**
   * An extent's bytes as one buffer, held once by the extent: its only part, or a buffer its parts
   * are copied into (they are let go of then).
   */
  private joined(extent: Extent): Buffer {
    if (extent.parts.length === 1) return extent.parts[0] as Buffer;
    const data = this.host.staging?.take(extent.length) ?? Buffer.allocUnsafe(extent.length);
    let at = 0;
    for (const part of extent.parts) {
      at += part.copy(data, at);
      releasePayload(part);
    }
    extent.parts = [data];
    return data;
  }

  private sendPiece(piece: ChunkPiece, data: Buffer): void {
    const previous = this.chunkTails.get(piece.chunkIndex);
    const letGo = holdPayload(data);
    const run = async (): Promise<void> => {
      // The previous write of this chunk reports its own failure; this one only waits for it.
      if (previous !== undefined) await previous.catch(() => undefined);
      try {
        await this.host.io.writePiece(this.file, piece, data);
        const end = piece.fileOffset + BigInt(piece.length);
        if (end > this.durableEnd) this.durableEnd = end;
      } catch (error) {
        this.failureCount += 1;
        this.latestFailure = { error };
      } finally {
        letGo();
        this.release(piece.length);
      }
    };
    const done = run();
    this.chunkTails.set(piece.chunkIndex, done);
    this.inflight.add(done);
    const forget = (): void => {
      this.inflight.delete(done);
      if (this.chunkTails.get(piece.chunkIndex) === done) this.chunkTails.delete(piece.chunkIndex);
    };
    done.then(forget, forget);
  }

  private release(bytes: number): void {
    this.heldBytes -= bytes;
    assert(this.heldBytes >= 0, 'a file never releases more buffer than it held');
    this.host.budget.release(bytes);
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const wake of waiters) wake();
  }

  private throwFailure(cursor: FailureCursor, markSeen: boolean): void {
    if (cursor.seen >= this.failureCount) return;
    assert(this.latestFailure !== undefined, 'a counted failure is kept');
    if (markSeen) cursor.seen = this.failureCount;
    throw this.latestFailure.error;
  }
}
