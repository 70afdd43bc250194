/**
 * XDR (the External Data Representation of ONC RPC): a bounded reader over one received message
 * and a writer that builds a reply without copying large payloads.
 *
 * Invariants of the reader, which only ever sees bytes from the network:
 * - every read checks the bytes left first and fails with NfsCode.MalformedXdr, never reading past
 *   the end of its message;
 * - a variable-length item (opaque, string, array) has a caller-given maximum, and its length is
 *   checked against both that maximum and the bytes left before anything is allocated, so a
 *   forged length can neither allocate nor loop beyond what the message itself holds;
 * - opaque data is returned as a view of the message (no copy); padding bytes are skipped.
 *
 * The writer keeps small items in a growing buffer and large byte ranges (READ data) as separate
 * segments, so a reply's payload goes to the socket without being copied; its total size is bounded
 * by the caller's maximum.
 */
import { FsError } from '../common/errors.js';
import { NfsCode } from '../common/status-code.js';

/** Thrown for a truncated or malformed message. */
export function malformed(message: string): FsError {
  return new FsError(NfsCode.MalformedXdr, message);
}

const u32Max = 0xffff_ffff;
const u64Max = (1n << 64n) - 1n;

/** Bytes of padding after `length` bytes of opaque data (XDR aligns items to 4 bytes). */
export function paddingOf(length: number): number {
  return (4 - (length & 3)) & 3;
}

/** A cursor over one message's bytes; see the file comment. */
export class XdrReader {
  private offset: number;
  private readonly end: number;

  constructor(
    private readonly buffer: Buffer,
    start = 0,
    end = buffer.length,
  ) {
    if (start < 0 || end > buffer.length || start > end) throw malformed('reader bounds outside the buffer');
    this.offset = start;
    this.end = end;
  }

  /** Bytes not read yet. */
  get remaining(): number {
    return this.end - this.offset;
  }

  /** The position in the buffer (for tests and for views of what was read). */
  get position(): number {
    return this.offset;
  }

  private need(bytes: number, what: string): void {
    if (bytes > this.end - this.offset) {
      throw malformed(`${what}: needs ${bytes} bytes, ${this.end - this.offset} left`);
    }
  }

  u32(what = 'u32'): number {
    this.need(4, what);
    const value = this.buffer.readUInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  i32(what = 'i32'): number {
    this.need(4, what);
    const value = this.buffer.readInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  u64(what = 'u64'): bigint {
    this.need(8, what);
    const value = this.buffer.readBigUInt64BE(this.offset);
    this.offset += 8;
    return value;
  }

  i64(what = 'i64'): bigint {
    this.need(8, what);
    const value = this.buffer.readBigInt64BE(this.offset);
    this.offset += 8;
    return value;
  }

  /** A bool: 0 or 1, anything else is malformed. */
  bool(what = 'bool'): boolean {
    const value = this.u32(what);
    if (value > 1) throw malformed(`${what}: ${value} is not a boolean`);
    return value === 1;
  }

  /** An enum value that must be one of `allowed`. */
  enumOf<T extends number>(allowed: readonly T[], what: string): T {
    const value = this.u32(what);
    if (!(allowed as readonly number[]).includes(value)) throw malformed(`${what}: unknown value ${value}`);
    return value as T;
  }

  /** Exactly `length` bytes (plus padding), as a view of the message. */
  fixedOpaque(length: number, what = 'opaque'): Buffer {
    if (!Number.isSafeInteger(length) || length < 0) throw malformed(`${what}: bad fixed length`);
    const padded = length + paddingOf(length);
    this.need(padded, what);
    const view = this.buffer.subarray(this.offset, this.offset + length);
    this.offset += padded;
    return view;
  }

  /** Variable-length opaque data of at most `maxBytes`, as a view of the message. */
  opaque(maxBytes: number, what = 'opaque'): Buffer {
    const length = this.u32(`${what} length`);
    if (length > maxBytes) throw malformed(`${what}: ${length} bytes, at most ${maxBytes} allowed`);
    return this.fixedOpaque(length, what);
  }

  /** A string of at most `maxBytes`, decoded as UTF-8 leniently (for names use opaque and check). */
  string(maxBytes: number, what = 'string'): string {
    return this.opaque(maxBytes, what).toString('utf8');
  }

  /**
   * A counted array of at most `maxItems`; `itemBytesMin` (4 unless told) is the smallest encoding
   * of one item, so the count is checked against the bytes left before any item is read.
   */
  array<T>(maxItems: number, read: (reader: XdrReader) => T, what = 'array', itemBytesMin = 4): T[] {
    const count = this.u32(`${what} count`);
    if (count > maxItems) throw malformed(`${what}: ${count} items, at most ${maxItems} allowed`);
    if (count * itemBytesMin > this.remaining) {
      throw malformed(`${what}: ${count} items cannot fit in ${this.remaining} bytes`);
    }
    const items: T[] = [];
    for (let index = 0; index < count; index++) items.push(read(this));
    return items;
  }

  /** An optional item (XDR's `*`): a bool, then the item when true. */
  optional<T>(read: (reader: XdrReader) => T, what = 'optional'): T | undefined {
    return this.bool(what) ? read(this) : undefined;
  }
}

/** Initial size of a writer's buffer; it doubles as needed up to the writer's bound. */
const initialBytes = 512;

/** Builds one message; see the file comment. */
export class XdrWriter {
  private buffer: Buffer;
  private used = 0;
  /** Finished segments before `buffer`: flushed small items and payloads kept by reference. */
  private readonly segments: Buffer[] = [];
  private segmentBytes = 0;
  /** Slots to fill in later; they follow the buffer when it grows (a closed segment keeps it). */
  private readonly placeholders: Array<{ buffer: Buffer; at: number }> = [];

  /** `maxBytes` bounds the whole message; writing past it fails (a bug in the caller's sizing). */
  constructor(readonly maxBytes: number) {
    this.buffer = Buffer.allocUnsafe(Math.min(initialBytes, Math.max(maxBytes, 4)));
  }

  /** Bytes written so far. */
  get length(): number {
    return this.segmentBytes + this.used;
  }

  private reserve(bytes: number): void {
    if (this.length + bytes > this.maxBytes) {
      throw new FsError(NfsCode.RecordTooLarge, `reply of over ${this.maxBytes} bytes`);
    }
    if (this.used + bytes <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < this.used + bytes) size *= 2;
    const grown = Buffer.allocUnsafe(Math.min(size, Math.max(this.maxBytes, this.used + bytes)));
    this.buffer.copy(grown, 0, 0, this.used);
    for (const slot of this.placeholders) if (slot.buffer === this.buffer) slot.buffer = grown;
    this.buffer = grown;
  }

  u32(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > u32Max)
      throw new RangeError(`u32 out of range: ${value}`);
    this.reserve(4);
    this.buffer.writeUInt32BE(value, this.used);
    this.used += 4;
    return this;
  }

  i32(value: number): this {
    this.reserve(4);
    this.buffer.writeInt32BE(value, this.used);
    this.used += 4;
    return this;
  }

  u64(value: bigint): this {
    if (value < 0n || value > u64Max) throw new RangeError(`u64 out of range: ${value}`);
    this.reserve(8);
    this.buffer.writeBigUInt64BE(value, this.used);
    this.used += 8;
    return this;
  }

  i64(value: bigint): this {
    this.reserve(8);
    this.buffer.writeBigInt64BE(value, this.used);
    this.used += 8;
    return this;
  }

  bool(value: boolean): this {
    return this.u32(value ? 1 : 0);
  }

  /** Fixed-length opaque data (the length is not written), padded. */
  fixedOpaque(bytes: Uint8Array): this {
    const padding = paddingOf(bytes.length);
    this.reserve(bytes.length + padding);
    this.buffer.set(bytes, this.used);
    this.used += bytes.length;
    this.buffer.fill(0, this.used, this.used + padding);
    this.used += padding;
    return this;
  }

  /** Variable-length opaque data: its length, the bytes, padding. */
  opaque(bytes: Uint8Array): this {
    return this.u32(bytes.length).fixedOpaque(bytes);
  }

  string(text: string): this {
    return this.opaque(Buffer.from(text, 'utf8'));
  }

  /**
   * Variable-length opaque data kept by reference (a READ's payload): the bytes are not copied
   * into the writer and must not change until the message is sent.
   */
  opaqueByReference(bytes: Buffer): this {
    this.u32(bytes.length);
    if (bytes.length < initialBytes) return this.fixedOpaque(bytes);
    const padding = paddingOf(bytes.length);
    if (this.length + bytes.length + padding > this.maxBytes) {
      throw new FsError(NfsCode.RecordTooLarge, `reply of over ${this.maxBytes} bytes`);
    }
    this.closeSegment();
    this.segments.push(bytes);
    this.segmentBytes += bytes.length;
    if (padding > 0) {
      this.reserve(padding);
      this.buffer.fill(0, this.used, this.used + padding);
      this.used += padding;
    }
    return this;
  }

  /** Reserves a u32 to fill in later (a count known only after the items); returns its handle. */
  placeholder(): { set(value: number): void } {
    this.reserve(4);
    const slot = { buffer: this.buffer, at: this.used };
    this.used += 4;
    slot.buffer.writeUInt32BE(0, slot.at);
    this.placeholders.push(slot);
    return { set: (value: number) => slot.buffer.writeUInt32BE(value, slot.at) };
  }

  private closeSegment(): void {
    if (this.used === 0) return;
    this.segments.push(this.buffer.subarray(0, this.used));
    this.segmentBytes += this.used;
    this.buffer = Buffer.allocUnsafe(initialBytes);
    this.used = 0;
  }

  /** The message as segments, in order (the writer must not be used after). */
  toSegments(): Buffer[] {
    this.closeSegment();
    return this.segments;
  }

  /** The message as one buffer (copies when there are several segments). */
  toBuffer(): Buffer {
    const segments = this.toSegments();
    return segments.length === 1 ? (segments[0] as Buffer) : Buffer.concat(segments);
  }
}
