/**
 * Streaming frame decoder: socket chunks go in, whole frames come out. Received chunks are kept in a
 * list and every byte is copied at most once: a part of a frame that lies inside one chunk is a view
 * of it (zero copy), a part that spans chunks is assembled into one fresh buffer when it is complete.
 * There is no buffer concatenation per chunk, so a 64 MiB frame costs O(size), not O(size^2).
 *
 * A socket that lets the reader choose where each read lands (net's `onread`) can receive a large
 * payload in place: once a frame's header and body are in and its payload is at least
 * `directPayloadMinBytes`, the payload's own buffer is allocated, the bytes already here are moved
 * into it, and `directRegion()` names its unfilled rest for the next reads, so the kernel copies
 * the payload straight where the frame hands it out, with no chunk buffers and no second copy.
 *
 * Frames are pulled with `next()`, so a reader that is at its in-flight bound simply stops pulling.
 * The header is validated as soon as it is complete: an oversized frame is refused before its bytes
 * are buffered. After `next()` throws, the stream is out of sync and the decoder refuses more input.
 */
import { FsError, assert } from '../common/errors.js';
import { RpcCode } from '../common/status-code.js';
import {
  FrameFlag,
  decodeHeader,
  frameHeaderBytes,
  frameLength,
  type Frame,
  type FrameHeader,
} from './frame.js';

/** Decodes a byte stream into frames; see the file comment. */
export class FrameDecoder {
  private frameBytesMax: number;
  private readonly chunks: Buffer[] = [];
  /** Bytes of chunks[0] already consumed. */
  private firstChunkOffset = 0;
  private buffered = 0;
  /** The header of the frame being received, once its 32 bytes have arrived. */
  private header: FrameHeader | undefined;
  private failure: FsError | undefined;
  private readonly directPayloadMinBytes: number | undefined;
  /** Where an in-place payload's buffer comes from (payload-pool.ts) when it has one to give. */
  private readonly takePayload: ((length: number) => Buffer | undefined) | undefined;
  /** The body and in-place payload of the frame being received directly, and its filled bytes. */
  private direct: { body: Buffer; payload: Buffer; filled: number } | undefined;

  constructor(options: {
    frameBytesMax: number;
    directPayloadMinBytes?: number;
    takePayload?: (length: number) => Buffer | undefined;
  }) {
    assert(Number.isInteger(options.frameBytesMax), 'frameBytesMax is an integer');
    assert(options.frameBytesMax >= frameHeaderBytes, 'frameBytesMax holds at least a header');
    assert(
      options.directPayloadMinBytes === undefined || options.directPayloadMinBytes >= 1,
      'a direct payload has bytes',
    );
    this.frameBytesMax = options.frameBytesMax;
    this.directPayloadMinBytes = options.directPayloadMinBytes;
    this.takePayload = options.takePayload;
  }

  /**
   * Where the next read should land: the unfilled rest of a payload being received in place, or
   * undefined when it may land anywhere (and be pushed).
   */
  directRegion(): Buffer | undefined {
    const direct = this.direct;
    return direct === undefined ? undefined : direct.payload.subarray(direct.filled);
  }

  /** `length` bytes were read into the region `directRegion()` returned last. */
  receivedDirect(length: number): void {
    const direct = this.direct;
    assert(
      direct !== undefined && length <= direct.payload.length - direct.filled,
      'a direct read fits its region',
    );
    direct.filled += length;
  }

  /** Changes the largest frame accepted from the next header on (raised once a peer has authenticated). */
  setFrameBytesMax(frameBytesMax: number): void {
    assert(
      Number.isInteger(frameBytesMax) && frameBytesMax >= frameHeaderBytes,
      'frameBytesMax holds at least a header',
    );
    this.frameBytesMax = frameBytesMax;
  }

  /** Bytes received but not yet returned as part of a frame. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** Adds received bytes. The decoder keeps a reference to `chunk`; the caller must not reuse it. */
  push(chunk: Buffer): void {
    if (this.failure !== undefined) throw this.failure;
    let rest = chunk;
    const direct = this.direct;
    if (direct !== undefined) {
      // Read elsewhere while a payload is received in place: its bytes go into it all the same.
      const count = Math.min(rest.length, direct.payload.length - direct.filled);
      rest.copy(direct.payload, direct.filled, 0, count);
      direct.filled += count;
      rest = rest.subarray(count);
    }
    if (rest.length === 0) return;
    this.chunks.push(rest);
    this.buffered += rest.length;
  }

  /**
   * The next complete frame, or undefined when more bytes are needed. Throws FsError(MalformedFrame)
   * or FsError(FrameTooLarge) when the stream holds something that is not an acceptable frame.
   */
  next(): Frame | undefined {
    if (this.failure !== undefined) throw this.failure;
    if (this.header === undefined) {
      if (this.buffered < frameHeaderBytes) return undefined;
      try {
        this.header = decodeHeader(this.take(frameHeaderBytes), { frameBytesMax: this.frameBytesMax });
      } catch (error) {
        this.failure = error instanceof FsError ? error : new FsError(RpcCode.MalformedFrame, String(error));
        this.discardAll();
        throw this.failure;
      }
    }
    const header = this.header;
    const direct = this.direct;
    if (direct !== undefined) {
      if (direct.filled < direct.payload.length) return undefined;
      this.direct = undefined;
      this.header = undefined;
      return { header, body: direct.body, payload: direct.payload };
    }
    if (this.buffered < frameLength(header) - frameHeaderBytes) {
      this.startDirect(header);
      return undefined;
    }
    this.header = undefined;
    const body = this.take(header.bodyLength);
    // A frame with the payload flag and length 0 carries an empty payload, which differs from none.
    const payload = (header.flags & FrameFlag.HasPayload) !== 0 ? this.take(header.payloadLength) : undefined;
    return { header, body, payload };
  }

  /**
   * Receives the rest of `header`'s payload in place when it is large enough and its body is in:
   * every byte buffered now belongs to the payload (the frame is incomplete), and moves into it.
   */
  private startDirect(header: FrameHeader): void {
    const minimum = this.directPayloadMinBytes;
    if (minimum === undefined || (header.flags & FrameFlag.HasPayload) === 0) return;
    if (header.payloadLength < minimum || this.buffered < header.bodyLength) return;
    const body = this.take(header.bodyLength);
    const payload = this.takePayload?.(header.payloadLength) ?? Buffer.allocUnsafe(header.payloadLength);
    let filled = 0;
    this.chunks.forEach((chunk, index) => {
      filled += chunk.copy(payload, filled, index === 0 ? this.firstChunkOffset : 0);
    });
    assert(filled === this.buffered, 'every buffered byte moved into the payload');
    this.direct = { body, payload, filled };
    this.chunks.length = 0;
    this.firstChunkOffset = 0;
    this.buffered = 0;
  }

  /** Removes and returns the next `length` bytes; the caller has checked they are buffered. */
  private take(length: number): Buffer {
    assert(length <= this.buffered, 'take stays within the buffered bytes');
    this.buffered -= length;
    if (length === 0) return Buffer.alloc(0);
    const first = this.chunks[0];
    assert(first !== undefined, 'a buffered byte lives in a chunk');
    const available = first.length - this.firstChunkOffset;
    if (available >= length) {
      const view = first.subarray(this.firstChunkOffset, this.firstChunkOffset + length);
      this.firstChunkOffset += length;
      if (this.firstChunkOffset === first.length) {
        this.chunks.shift();
        this.firstChunkOffset = 0;
      }
      return view;
    }
    return this.assemble(length);
  }

  /** Copies `length` bytes that span several chunks into one new buffer. */
  private assemble(length: number): Buffer {
    const target = Buffer.allocUnsafe(length);
    let written = 0;
    let consumedChunks = 0;
    while (written < length) {
      const chunk = this.chunks[consumedChunks];
      assert(chunk !== undefined, 'assembled bytes are buffered');
      const start = this.firstChunkOffset;
      const count = Math.min(chunk.length - start, length - written);
      chunk.copy(target, written, start, start + count);
      written += count;
      if (start + count === chunk.length) {
        consumedChunks += 1;
        this.firstChunkOffset = 0;
      } else {
        this.firstChunkOffset = start + count;
      }
    }
    // One splice per assembled part keeps chunk bookkeeping linear in the number of chunks.
    this.chunks.splice(0, consumedChunks);
    return target;
  }

  private discardAll(): void {
    this.chunks.length = 0;
    this.firstChunkOffset = 0;
    this.buffered = 0;
    this.header = undefined;
    this.direct = undefined;
  }
}
