/**
 * Buffers for large payloads, used again once nothing holds them: request payloads a server
 * receives in place (DirectReads), and reply payloads its handlers fill (CallContext.replyBuffer). A service that receives a stream of 1 MiB writes otherwise makes a new
 * ArrayBuffer for each: V8 counts every one as external memory and starts a full collection for
 * each 64 MiB of them, which a storage service receiving writes did 18 times per GiB.
 *
 * A buffer goes back to the pool only when every holder has let go, counted per ArrayBuffer:
 * - the connection holds a request's payload, and every reply buffer it lent the handler, from
 *   `take` until the handler has settled and its reply is written (server-connection.ts);
 * - a socket write of it holds it until the write's callback (frame-socket.ts), so a forward that
 *   timed out while its bytes still sat in the socket keeps the buffer out of the pool;
 * - any other code that keeps a payload past its handler must `holdPayload` it. A holder that
 *   forgets to let go costs only the buffer's reuse (the collector frees it); a holder that is not
 *   counted would see its bytes overwritten, so only services whose handlers are done with the
 *   payload when they settle (the storage service) give their server a pool.
 */
import { assert } from '../common/errors.js';

/** How a pooled buffer is held: by whom, and where it goes back. */
interface Lease {
  holds: number;
  readonly pool: PayloadPool;
}

const leases = new WeakMap<ArrayBufferLike, Lease>();

export interface PayloadPoolOptions {
  /** Payloads shorter than this are not pooled. */
  readonly minBytes: number;
  /** Payloads longer than this are not pooled. */
  readonly maxBytes: number;
  /** Free buffers kept, in bytes; a buffer let go beyond this is left to the collector. */
  readonly keptBytesMax: number;
  /**
   * Makes the memory of a new buffer (`new ArrayBuffer` when absent); the storage service's are
   * page-aligned, so the chunk engine can read into them around the page cache.
   */
  readonly allocate?: (size: number) => ArrayBuffer;
}

/** Buffers are kept in sizes that are whole multiples of this. */
const sizeStepBytes = 64 * 1024;

export class PayloadPool {
  private readonly free = new Map<number, ArrayBuffer[]>();
  private keptBytes = 0;
  private takenCount = 0;
  private reusedCount = 0;

  constructor(private readonly options: PayloadPoolOptions) {
    assert(options.minBytes >= 1 && options.minBytes <= options.maxBytes, 'a pooled payload size range');
    assert(options.keptBytesMax >= 0, 'kept bytes are not negative');
  }

  /** Buffers handed out, and how many of them were used before. */
  stats(): { taken: number; reused: number; keptBytes: number } {
    return { taken: this.takenCount, reused: this.reusedCount, keptBytes: this.keptBytes };
  }

  /**
   * A buffer of `length` bytes (contents undefined) held once by the caller, who lets go with
   * `releasePayload`; undefined when such payloads are not pooled.
   */
  take(length: number): Buffer | undefined {
    if (length < this.options.minBytes || length > this.options.maxBytes) return undefined;
    const size = Math.ceil(length / sizeStepBytes) * sizeStepBytes;
    let memory = this.free.get(size)?.pop();
    if (memory === undefined) {
      memory = this.options.allocate?.(size) ?? new ArrayBuffer(size);
      assert(memory.byteLength === size, 'a pooled buffer has the size asked for');
    } else {
      this.keptBytes -= size;
      this.reusedCount += 1;
    }
    this.takenCount += 1;
    leases.set(memory, { holds: 1, pool: this });
    return Buffer.from(memory, 0, length);
  }

  /** A buffer nothing holds any more. */
  private giveBack(memory: ArrayBuffer): void {
    leases.delete(memory);
    const size = memory.byteLength;
    if (this.keptBytes + size > this.options.keptBytesMax) return;
    let list = this.free.get(size);
    if (list === undefined) {
      list = [];
      this.free.set(size, list);
    }
    list.push(memory);
    this.keptBytes += size;
  }

  /** Called through `releasePayload`. */
  static release(lease: Lease, memory: ArrayBuffer): void {
    assert(lease.holds >= 1, 'a pooled payload is let go once per hold');
    lease.holds -= 1;
    if (lease.holds === 0) lease.pool.giveBack(memory);
  }
}

/**
 * Holds `buffer` (a view of a pooled payload, or any other buffer) until the returned function is
 * called; for a buffer that is not pooled, that function does nothing.
 */
export function holdPayload(buffer: Uint8Array): () => void {
  const memory = buffer.buffer;
  const lease = leases.get(memory);
  if (lease === undefined) return noRelease;
  lease.holds += 1;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    PayloadPool.release(lease, memory as ArrayBuffer);
  };
}

/** Lets go of the hold `take` gave (a no-op for a buffer that is not pooled). */
export function releasePayload(buffer: Uint8Array | undefined): void {
  if (buffer === undefined) return;
  const memory = buffer.buffer;
  const lease = leases.get(memory);
  if (lease !== undefined) PayloadPool.release(lease, memory as ArrayBuffer);
}

const noRelease = (): void => undefined;
