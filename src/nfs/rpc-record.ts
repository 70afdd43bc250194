/**
 * ONC RPC record marking over TCP: a record (one RPC message) is sent as fragments, each behind a
 * 4-byte header whose top bit marks the record's last fragment and whose other 31 bits give the
 * fragment's length.
 *
 * Invariants of the decoder, which sees whatever a peer sends:
 * - a record larger than `recordBytesMax` fails (NfsCode.RecordTooLarge) as soon as a fragment
 *   header announces it, before its bytes arrive; the caller closes the connection;
 * - memory held is what was received and not yet handed out, never a length a header announced;
 * - a record of more than `fragmentsMax` fragments fails, so empty fragments cannot spin forever;
 * - complete records are handed out in order, each as one buffer.
 */
import { FsError } from '../common/errors.js';
import { NfsCode } from '../common/status-code.js';

const lastFragmentBit = 0x8000_0000;
const fragmentLengthMask = 0x7fff_ffff;
const headerBytes = 4;

export interface RecordDecoderOptions {
  /** The largest record accepted (the sum of its fragments). */
  readonly recordBytesMax: number;
  /** Fragments one record may have at most. */
  readonly fragmentsMax: number;
}

/** Turns a byte stream into records; see the file comment. */
export class RecordDecoder {
  /** Received bytes not yet parsed (a partial header or a partial fragment). */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Fragments of the record being assembled. */
  private fragments: Buffer[] = [];
  private recordBytes = 0;
  /** The fragment being received: its length and whether it ends the record; undefined between. */
  private fragment: { length: number; last: boolean } | undefined;
  private failed = false;

  constructor(private readonly options: RecordDecoderOptions) {
    if (!(options.recordBytesMax > 0 && options.recordBytesMax <= fragmentLengthMask)) {
      throw new RangeError('recordBytesMax must be within 1..2^31-1');
    }
    if (!(options.fragmentsMax >= 1)) throw new RangeError('fragmentsMax must be at least 1');
  }

  /** Bytes held now (received, not yet handed out as a record). */
  get bufferedBytes(): number {
    return this.pendingBytes + this.recordBytes;
  }

  /** Feeds received bytes; returns the records they completed. Throws on a bad stream. */
  push(chunk: Buffer): Buffer[] {
    if (this.failed) throw new FsError(NfsCode.MalformedXdr, 'the record stream failed before');
    if (chunk.length > 0) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
    }
    const records: Buffer[] = [];
    try {
      for (;;) {
        if (this.fragment === undefined) {
          if (this.pendingBytes < headerBytes) break;
          this.startFragment(this.take(headerBytes).readUInt32BE(0));
        }
        const fragment = this.fragment as { length: number; last: boolean } | undefined;
        if (fragment === undefined) continue;
        if (this.pendingBytes < fragment.length) break;
        if (fragment.length > 0) {
          this.fragments.push(this.take(fragment.length));
          this.recordBytes += fragment.length;
        }
        this.fragment = undefined;
        if (fragment.last) records.push(this.finishRecord());
      }
    } catch (error) {
      this.failed = true;
      this.pending = [];
      this.fragments = [];
      this.pendingBytes = 0;
      this.recordBytes = 0;
      throw error;
    }
    return records;
  }

  private startFragment(header: number): void {
    const length = header & fragmentLengthMask;
    const last = (header & lastFragmentBit) !== 0;
    if (this.recordBytes + length > this.options.recordBytesMax) {
      throw new FsError(
        NfsCode.RecordTooLarge,
        `a record of over ${this.options.recordBytesMax} bytes (fragment of ${length} after ${this.recordBytes})`,
      );
    }
    if (this.fragments.length + 1 > this.options.fragmentsMax) {
      throw new FsError(NfsCode.MalformedXdr, `a record of over ${this.options.fragmentsMax} fragments`);
    }
    // An empty fragment still counts towards the bound, so a stream of them ends.
    if (length === 0) this.fragments.push(Buffer.alloc(0));
    this.fragment = { length, last };
  }

  private finishRecord(): Buffer {
    const parts = this.fragments.filter((part) => part.length > 0);
    const record = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, this.recordBytes);
    this.fragments = [];
    this.recordBytes = 0;
    return record;
  }

  /** Removes `bytes` from the front of the pending bytes (there are at least that many). */
  private take(bytes: number): Buffer {
    const first = this.pending[0] as Buffer;
    if (first.length >= bytes) {
      const taken = first.subarray(0, bytes);
      if (first.length === bytes) this.pending.shift();
      else this.pending[0] = first.subarray(bytes);
      this.pendingBytes -= bytes;
      return taken;
    }
    const taken = Buffer.allocUnsafe(bytes);
    let filled = 0;
    while (filled < bytes) {
      const part = this.pending[0] as Buffer;
      const used = Math.min(part.length, bytes - filled);
      part.copy(taken, filled, 0, used);
      filled += used;
      if (used === part.length) this.pending.shift();
      else this.pending[0] = part.subarray(used);
    }
    this.pendingBytes -= bytes;
    return taken;
  }
}

/** The record-marking header of a one-fragment record of `length` bytes. */
export function recordHeader(length: number): Buffer {
  if (!(Number.isInteger(length) && length >= 0 && length <= fragmentLengthMask)) {
    throw new RangeError(`record of ${length} bytes cannot be one fragment`);
  }
  const header = Buffer.allocUnsafe(headerBytes);
  header.writeUInt32BE((lastFragmentBit | length) >>> 0, 0);
  return header;
}

/** A whole record as buffers to write: its header, then the message's segments. */
export function encodeRecord(segments: readonly Buffer[]): Buffer[] {
  const length = segments.reduce((sum, segment) => sum + segment.length, 0);
  return [recordHeader(length), ...segments];
}
