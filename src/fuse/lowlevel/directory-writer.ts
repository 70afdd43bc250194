/**
 * Packs one readdir or readdirplus reply in the kernel's wire layout (struct fuse_dirent, struct
 * fuse_direntplus of <linux/fuse.h>: a stable ABI), so the addon sends the whole reply with one
 * call instead of one crossing and a struct stat conversion per entry. Invariants:
 *  - The reply never exceeds the kernel's requested size: an entry that does not fit is not
 *    written and `add` returns false.
 *  - A rejected entry (bad name, offset, mode) throws a TypeError with code ERR_FUSE_INVALID_REPLY
 *    before any byte of it is written, as the addon's own checks do; the addon walks the bytes
 *    again before they reach the kernel (native/fuse/src/directory-reply.cc).
 *  - The bytes are those libfuse's fuse_add_direntry / fuse_add_direntry_plus would produce for
 *    the same entry (tests/integration/fuse-binding/directory-replies.test.ts compares them).
 */
import { endianness } from 'node:os';

import type { Attributes } from './types.js';

/** Bytes before a readdir entry's name: ino, off (u64), namelen, type (u32). */
const direntNameOffset = 24;
/** Bytes before a readdirplus entry's name: struct fuse_entry_out (128), then a fuse_dirent. */
const direntplusNameOffset = 152;
/** Where the fuse_dirent starts in a readdirplus entry. */
const direntplusDirentOffset = 128;
/** Where struct fuse_attr starts in struct fuse_entry_out. */
const entryAttrOffset = 40;
/** NAME_MAX: the kernel refuses longer names in a listing. */
const nameBytesMax = 255;
const fileTypeMask = 0o170000;
const knownFileTypes = new Set([0o140000, 0o120000, 0o100000, 0o060000, 0o040000, 0o020000, 0o010000]);
const int64Max = (1n << 63n) - 1n;
const uint64Max = (1n << 64n) - 1n;
const nanosPerSecond = 1_000_000_000n;
const defaultBlockSizeBytes = 4096;
/** A day in milliseconds times ten thousand years, the addon's bound on timeouts. */
const timeoutMsMax = 86_400_000 * 365 * 10_000;
/** The wire layout is in the host's byte order. */
const littleEndian = endianness() === 'LE';

/** Bytes of one record: the fixed part, the name, padding to 8 bytes (FUSE_DIRENT_ALIGN). */
function recordBytes(nameOffset: number, nameBytes: number): number {
  return (nameOffset + nameBytes + 7) & ~7;
}

function invalid(message: string): TypeError {
  const error = new TypeError(message);
  (error as TypeError & { code: string }).code = 'ERR_FUSE_INVALID_REPLY';
  return error;
}

/** A 64-bit field given as a bigint or a safe-integer number, checked against [0, max]. */
function toUint64(value: bigint | number, what: string, max: bigint = uint64Max): bigint {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw invalid(`${what} must be a non-negative safe integer or a bigint`);
    }
    value = BigInt(value);
  } else if (typeof value !== 'bigint' || value < 0n) {
    throw invalid(`${what} must be a non-negative 64-bit integer`);
  }
  if (value > max) throw invalid(`${what} is too large`);
  return value;
}

function toUint32(value: unknown, what: string, max = 0xffff_ffff): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    throw invalid(`${what} must be an integer between 0 and ${max}`);
  }
  return value;
}

/** Timeouts already split: replies use one or two values over and over. */
const timeoutPartsCache = new Map<number, { seconds: bigint; nanos: number }>();
const timeoutPartsCacheMax = 64;

/** Seconds and nanoseconds of a timeout, rounded as libfuse rounds a double of seconds. */
function timeoutParts(ms: number, what: string): { seconds: bigint; nanos: number } {
  const cached = timeoutPartsCache.get(ms);
  if (cached !== undefined) return cached;
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0 || ms > timeoutMsMax) {
    throw invalid(`${what} must be a finite, non-negative number of milliseconds`);
  }
  const total = ms / 1000;
  const seconds = Math.floor(total);
  const fraction = total - seconds;
  const parts = {
    seconds: BigInt(seconds),
    nanos: fraction >= 0.999999999 ? 999_999_999 : Math.trunc(fraction * 1e9),
  };
  if (timeoutPartsCache.size >= timeoutPartsCacheMax) timeoutPartsCache.clear();
  timeoutPartsCache.set(ms, parts);
  return parts;
}

/** Nanoseconds since the epoch as seconds (floored, so before 1970 too) and nanoseconds. */
function splitTime(value: unknown, what: string): { seconds: bigint; nanos: number } {
  if (typeof value !== 'bigint') throw invalid(`${what} must be a bigint (nanoseconds since the epoch)`);
  if (value > int64Max || value < -int64Max - 1n) throw invalid(`${what} is out of range`);
  let seconds = value / nanosPerSecond;
  let nanos = value - seconds * nanosPerSecond;
  if (nanos < 0n) {
    nanos += nanosPerSecond;
    seconds -= 1n;
  }
  return { seconds, nanos: Number(nanos) };
}

/** An entry's name as UTF-8: 1..255 bytes, no '/' or NUL (what the kernel accepts in a listing). */
function checkName(name: string, bytes: number): void {
  if (typeof name !== 'string') throw invalid('entry name must be a string');
  if (bytes === 0) throw invalid('entry name must not be empty');
  if (bytes > nameBytesMax) throw invalid(`entry name is longer than ${nameBytesMax} bytes`);
  if (name.includes('/')) throw invalid("entry name must not contain '/'");
  if (name.includes('\0')) throw invalid('entry name must not contain NUL');
}

/** A readdir entry's fields, checked. */
interface CheckedDirent {
  readonly name: string;
  readonly nameBytes: number;
  readonly inode: bigint;
  readonly offset: bigint;
  readonly type: number;
}

/** Checks an entry as the kernel and the addon would take it; throws before anything is written. */
function checkDirent(
  name: string,
  ino: bigint | number,
  mode: number,
  nextOffset: bigint | number,
): CheckedDirent {
  const nameBytes = typeof name === 'string' ? Buffer.byteLength(name, 'utf8') : 0;
  checkName(name, nameBytes);
  const inode = toUint64(ino, 'entry ino');
  const offset = toUint64(nextOffset, 'entry nextOffset', int64Max);
  if (offset === 0n) throw invalid('entry nextOffset must not be 0 (0 means the start of the directory)');
  const type = toUint32(mode, 'entry mode', 0xffff);
  return { name, nameBytes, inode, offset, type };
}

/** Writes a checked struct fuse_dirent and its name at `at` (the padding is left as it is: zero). */
function putDirent(bytes: Buffer, view: DataView, at: number, dirent: CheckedDirent): void {
  view.setBigUint64(at, dirent.inode, littleEndian);
  view.setBigUint64(at + 8, dirent.offset, littleEndian);
  view.setUint32(at + 16, dirent.nameBytes, littleEndian);
  view.setUint32(at + 20, (dirent.type & fileTypeMask) >>> 12, littleEndian);
  bytes.write(dirent.name, at + direntNameOffset, dirent.nameBytes, 'utf8');
}

/** Cache lifetimes and generation of an instantiated readdirplus entry. */
export interface DirectoryEntryAttributes {
  readonly generation: bigint | number;
  readonly attributes: Attributes;
  readonly attrTimeoutMs: number;
  readonly entryTimeoutMs: number;
}

/** One reply's entries, packed into a buffer of at most the kernel's requested size. */
export class DirectoryWriter {
  private buffer: Buffer | undefined;
  private view: DataView | undefined;
  private used = 0;
  /** Entries written so far. */
  count = 0;

  /**
   * @param sizeBytes the kernel's requested size (the reply may be shorter, never longer)
   * @param plus readdirplus (fuse_direntplus) rather than readdir (fuse_dirent) entries
   */
  constructor(
    private readonly sizeBytes: number,
    readonly plus: boolean,
  ) {
    toUint32(sizeBytes, 'reply size');
  }

  /** Bytes written so far. */
  get usedBytes(): number {
    return this.used;
  }

  /** The packed entries (a view of the writer's buffer: send it before adding more). */
  bytes(): Buffer {
    return this.buffer === undefined ? Buffer.alloc(0) : this.buffer.subarray(0, this.used);
  }

  /**
   * Adds a plain entry: for readdir, or for readdirplus a name the kernel does not instantiate
   * (node id 0, no lookup reference), as for "." and "..". False when it does not fit.
   */
  add(name: string, ino: bigint | number, mode: number, nextOffset: bigint | number): boolean {
    return this.write(name, ino, mode, nextOffset, undefined);
  }

  /**
   * Adds the records of `packed` from index `from` on, as many as fit, with one copy; returns the
   * index after the last one added (`from` when none fits).
   */
  addPacked(packed: PackedDirents, from: number): number {
    if (this.plus) throw invalid('packed records are readdir entries, not readdirplus ones');
    const starts = packed.starts;
    if (!Number.isInteger(from) || from < 0 || from > packed.count)
      throw invalid('packed index out of range');
    const base = starts[from] as number;
    const room = this.sizeBytes - this.used;
    // The last record boundary within the room left: starts only grow, so a binary search finds it.
    let low = from;
    let high = packed.count;
    while (low < high) {
      const middle = (low + high + 1) >>> 1;
      if ((starts[middle] as number) - base <= room) low = middle;
      else high = middle - 1;
    }
    if (low === from) return from;
    this.ensureView();
    const end = starts[low] as number;
    packed.bytes.copy(this.buffer as Buffer, this.used, base, end);
    this.used += end - base;
    this.count += low - from;
    return low;
  }

  /** Adds a readdirplus entry with attributes: the kernel takes one lookup reference to `ino`. */
  addEntry(
    name: string,
    ino: bigint | number,
    mode: number,
    nextOffset: bigint | number,
    entry: DirectoryEntryAttributes,
  ): boolean {
    if (!this.plus) throw invalid('a readdir reply carries no attributes');
    return this.write(name, ino, mode, nextOffset, entry);
  }

  private write(
    name: string,
    ino: bigint | number,
    mode: number,
    nextOffset: bigint | number,
    entry: DirectoryEntryAttributes | undefined,
  ): boolean {
    const { nameBytes, inode, offset, type } = checkDirent(name, ino, mode, nextOffset);
    if (entry !== undefined && inode === 0n) throw invalid('an entry with attributes needs a non-zero ino');
    const nameOffset = this.plus ? direntplusNameOffset : direntNameOffset;
    // The buffer is zeroed, so is the padding.
    const record = recordBytes(nameOffset, nameBytes);
    if (this.used + record > this.sizeBytes) return false;
    const start = this.used;
    if (this.plus) {
      if (entry !== undefined) this.writeEntryOut(start, inode, entry);
      else this.writePlainEntryOut(start, inode, type);
    }
    // The dirent's type is the file type of the attributes when there are any, as libfuse does.
    const direntMode = entry === undefined ? type : entry.attributes.mode;
    const view = this.ensureView();
    putDirent(this.buffer as Buffer, view, start + (this.plus ? direntplusDirentOffset : 0), {
      name,
      nameBytes,
      inode,
      offset,
      type: direntMode,
    });
    this.used = start + record;
    this.count += 1;
    return true;
  }

  /** A readdirplus entry the kernel does not instantiate: only attr.ino and attr.mode are set. */
  private writePlainEntryOut(start: number, ino: bigint, mode: number): void {
    const view = this.ensureView();
    view.setBigUint64(start + entryAttrOffset, ino, littleEndian);
    view.setUint32(start + entryAttrOffset + 60, mode, littleEndian);
  }

  private writeEntryOut(start: number, ino: bigint, entry: DirectoryEntryAttributes): void {
    const attributes = entry.attributes;
    if (typeof attributes !== 'object' || attributes === null) throw invalid('attributes must be an object');
    const mode = toUint32(attributes.mode, 'mode');
    if (!knownFileTypes.has(mode & fileTypeMask)) {
      throw invalid('attributes.mode must include a file type (S_IFREG, S_IFDIR, ...)');
    }
    const nlink = toUint32(attributes.nlink, 'nlink');
    const uid = toUint32(attributes.uid, 'uid');
    const gid = toUint32(attributes.gid, 'gid');
    const rdev = attributes.rdev === undefined ? 0 : toUint32(attributes.rdev, 'rdev');
    const size = toUint64(attributes.size, 'size', int64Max);
    const blocks =
      attributes.blocks === undefined
        ? (size + 511n) / 512n
        : toUint64(attributes.blocks, 'blocks', int64Max);
    const blksize =
      attributes.blksize === undefined ? defaultBlockSizeBytes : toUint32(attributes.blksize, 'blksize');
    const entryTimeout = timeoutParts(entry.entryTimeoutMs, 'entryTimeoutMs');
    const attrTimeout = timeoutParts(entry.attrTimeoutMs, 'attrTimeoutMs');
    const generation = toUint64(entry.generation, 'generation');
    const atime = splitTime(attributes.atimeNs, 'atimeNs');
    const mtime = splitTime(attributes.mtimeNs, 'mtimeNs');
    const ctime = splitTime(attributes.ctimeNs, 'ctimeNs');
    // Everything is checked: from here on nothing throws, so no entry is ever half written.
    const view = this.ensureView();
    view.setBigUint64(start, ino, littleEndian);
    view.setBigUint64(start + 8, generation, littleEndian);
    view.setBigUint64(start + 16, entryTimeout.seconds, littleEndian);
    view.setBigUint64(start + 24, attrTimeout.seconds, littleEndian);
    view.setUint32(start + 32, entryTimeout.nanos, littleEndian);
    view.setUint32(start + 36, attrTimeout.nanos, littleEndian);
    const attr = start + entryAttrOffset;
    view.setBigUint64(attr, ino, littleEndian);
    view.setBigUint64(attr + 8, size, littleEndian);
    view.setBigUint64(attr + 16, blocks, littleEndian);
    view.setBigInt64(attr + 24, atime.seconds, littleEndian);
    view.setBigInt64(attr + 32, mtime.seconds, littleEndian);
    view.setBigInt64(attr + 40, ctime.seconds, littleEndian);
    view.setUint32(attr + 48, atime.nanos, littleEndian);
    view.setUint32(attr + 52, mtime.nanos, littleEndian);
    view.setUint32(attr + 56, ctime.nanos, littleEndian);
    view.setUint32(attr + 60, mode, littleEndian);
    view.setUint32(attr + 64, nlink, littleEndian);
    view.setUint32(attr + 68, uid, littleEndian);
    view.setUint32(attr + 72, gid, littleEndian);
    view.setUint32(attr + 76, rdev, littleEndian);
    view.setUint32(attr + 80, blksize, littleEndian);
  }

  private ensureView(): DataView {
    if (this.view === undefined) {
      // Zeroed: padding and the fields an entry leaves unset must read as 0.
      this.buffer = Buffer.alloc(this.sizeBytes);
      this.view = new DataView(this.buffer.buffer, this.buffer.byteOffset, this.buffer.byteLength);
    }
    return this.view;
  }
}

/**
 * Plain readdir entries packed once, for a listing served many times (a directory whose names the
 * daemon holds): the records end to end, and where each starts. Record i resumes at `firstOffset
 * + i`, so a readdir at offset o starts at record o - firstOffset + 1, found by subtraction, and a
 * reply is one copy however long the listing.
 */
export class PackedDirents {
  private view: DataView;

  private constructor(
    private bytesValue: Buffer,
    /** Where record i starts, and (at `count`) where the last one ends; may have room beyond. */
    private startsValue: Uint32Array,
    private countValue: number,
    /** The next offset of record 0. */
    readonly firstOffset: number,
  ) {
    this.view = new DataView(bytesValue.buffer, bytesValue.byteOffset, bytesValue.byteLength);
  }

  /** The records (bytes from `starts[count]` on are room for more, zeroed). */
  get bytes(): Buffer {
    return this.bytesValue;
  }

  get starts(): Uint32Array {
    return this.startsValue;
  }

  /** Records packed. */
  get count(): number {
    return this.countValue;
  }

  /** No records yet, numbered from `firstOffset` as they are pushed. */
  static empty(firstOffset: number): PackedDirents {
    checkFirstOffset(firstOffset, 0);
    // Nothing allocated until a name comes: a daemon holds one of these per directory it made.
    return new PackedDirents(Buffer.alloc(0), new Uint32Array(1), 0, firstOffset);
  }

  /**
   * Appends a record with the next offset after the last one, checked as `add` checks (a bad
   * entry throws and appends nothing). Records already packed do not move within `bytes`, so a
   * reply being copied from them is unaffected; growing replaces `bytes` and `starts`.
   */
  push(name: string, ino: bigint, mode: number): void {
    checkFirstOffset(this.firstOffset, this.countValue + 1);
    const dirent = checkDirent(name, ino, mode, this.firstOffset + this.countValue);
    const start = this.startsValue[this.countValue] as number;
    const end = start + recordBytes(direntNameOffset, dirent.nameBytes);
    if (end > this.bytesValue.length) {
      const bytes = Buffer.alloc(Math.max(end, this.bytesValue.length * 2));
      this.bytesValue.copy(bytes, 0, 0, start);
      this.bytesValue = bytes;
      this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    }
    if (this.countValue + 2 > this.startsValue.length) {
      const starts = new Uint32Array(this.startsValue.length * 2);
      starts.set(this.startsValue);
      this.startsValue = starts;
    }
    putDirent(this.bytesValue, this.view, start, dirent);
    this.countValue += 1;
    this.startsValue[this.countValue] = end;
  }

  /**
   * Packs `entries` with next offsets `firstOffset`, `firstOffset + 1`, ..., checked as `add`
   * checks. ASCII names (the common case) are encoded in one call and copied byte by byte, which
   * also finds a '/' or NUL in them; a listing with other names goes through `add` one by one.
   */
  static pack(
    entries: ReadonlyArray<{ readonly name: string; readonly ino: bigint; readonly mode: number }>,
    firstOffset: number,
  ): PackedDirents {
    checkFirstOffset(firstOffset, entries.length);
    const names = entries.map((entry) => entry.name);
    const joined = names.join('\0');
    const nameBytes = Buffer.from(joined, 'utf8');
    const ascii = nameBytes.length === joined.length;
    const starts = new Uint32Array(entries.length + 1);
    let total = 0;
    for (let index = 0; index < entries.length; index += 1) {
      starts[index] = total;
      const name = names[index];
      const length = typeof name !== 'string' ? 0 : ascii ? name.length : Buffer.byteLength(name, 'utf8');
      total += recordBytes(direntNameOffset, length);
    }
    starts[entries.length] = total;
    return (
      (ascii ? PackedDirents.packAscii(entries, names, nameBytes, starts, firstOffset) : undefined) ??
      PackedDirents.packEach(entries, names, starts, firstOffset)
    );
  }

  /** `nameBytes` holds the names, one byte per character, separated by one byte each. */
  private static packAscii(
    entries: ReadonlyArray<{ readonly ino: bigint; readonly mode: number }>,
    names: readonly string[],
    nameBytes: Buffer,
    starts: Uint32Array,
    firstOffset: number,
  ): PackedDirents | undefined {
    const count = entries.length;
    const bytes = Buffer.alloc(starts[count] as number);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let source = 0;
    for (let index = 0; index < count; index += 1) {
      const entry = entries[index] as { readonly ino: bigint; readonly mode: number };
      const start = starts[index] as number;
      const length = (names[index] as string).length;
      if (length === 0 || length > nameBytesMax) return undefined;
      const ino = entry.ino;
      const mode = entry.mode;
      if (typeof ino !== 'bigint' || ino < 0n || ino > uint64Max) return undefined;
      if (!Number.isInteger(mode) || mode < 0 || mode > 0xffff) return undefined;
      const offset = firstOffset + index;
      view.setBigUint64(start, ino, littleEndian);
      view.setUint32(start + (littleEndian ? 8 : 12), offset % 0x1_0000_0000, littleEndian);
      view.setUint32(start + (littleEndian ? 12 : 8), Math.floor(offset / 0x1_0000_0000), littleEndian);
      view.setUint32(start + 16, length, littleEndian);
      view.setUint32(start + 20, (mode & fileTypeMask) >>> 12, littleEndian);
      const name = start + direntNameOffset;
      for (let at = 0; at < length; at += 1) {
        const byte = nameBytes[source + at] as number;
        // '/' or NUL: not a name the kernel takes; `add` says which and why.
        if (byte === 0x2f || byte === 0) return undefined;
        bytes[name + at] = byte;
      }
      source += length + 1;
    }
    return new PackedDirents(bytes, starts, count, firstOffset);
  }

  /** One `add` per entry: any names, and the error `add` gives for a bad one. */
  private static packEach(
    entries: ReadonlyArray<{ readonly ino: bigint; readonly mode: number }>,
    names: readonly string[],
    starts: Uint32Array,
    firstOffset: number,
  ): PackedDirents {
    const writer = new DirectoryWriter(starts[entries.length] as number, false);
    for (let index = 0; index < entries.length; index += 1) {
      const entry = entries[index] as { readonly ino: bigint; readonly mode: number };
      // Sized above to hold every record, so only a bad entry (which throws) can fail to go in.
      writer.add(names[index] as string, entry.ino, entry.mode, firstOffset + index);
    }
    const bytes = writer.usedBytes === 0 ? Buffer.alloc(0) : writer.bytes();
    return new PackedDirents(bytes, starts, entries.length, firstOffset);
  }
}

/** Offsets `firstOffset` .. `firstOffset + count - 1` are positive safe integers. */
function checkFirstOffset(firstOffset: number, count: number): void {
  if (!Number.isSafeInteger(firstOffset) || firstOffset < 1 || firstOffset + count > Number.MAX_SAFE_INTEGER)
    throw invalid('packed entries need positive safe-integer offsets');
}

/** Rounds of warmDirectoryWriters: enough calls that V8 keeps feedback for the functions run. */
const warmRounds = 8;

/**
 * Runs the directory reply writers on made-up entries (plain and readdirplus records, a packed
 * listing and a reply copied from it) and returns the last replies they wrote. A session calls it
 * before mounting: the first listing after a mount would otherwise pay for running this code for
 * the first time, about a millisecond for one readdirplus reply of 32 entries, which was most of
 * what listing a directory of 10,000 names the daemon already held cost. Nothing outside the
 * returned buffers is touched.
 */
export function warmDirectoryWriters(): { plain: Buffer; plus: Buffer; packed: Buffer } {
  for (let round = 1; round < warmRounds; round++) writeWarmReplies();
  return writeWarmReplies();
}

function writeWarmReplies(): { plain: Buffer; plus: Buffer; packed: Buffer } {
  const attributes: Attributes = {
    mode: 0o100644,
    nlink: 1,
    uid: 0,
    gid: 0,
    size: 4_096n,
    atimeNs: 1_000_000_001n,
    mtimeNs: 1_000_000_002n,
    ctimeNs: 1_000_000_003n,
  };
  const entry: DirectoryEntryAttributes = {
    generation: 0n,
    attributes,
    attrTimeoutMs: 1_000,
    entryTimeoutMs: 1_000,
  };
  const names = Array.from({ length: 32 }, (_, index) => ({
    name: `warm-${index}`,
    ino: BigInt(index + 2),
    mode: 0o100644,
  }));
  const plain = new DirectoryWriter(8_192, false);
  const plus = new DirectoryWriter(8_192, true);
  plain.add('.', 1n, 0o040755, 1n);
  plus.add('.', 1n, 0o040755, 1n);
  for (const [index, { name, ino, mode }] of names.entries()) {
    plain.add(name, ino, mode, BigInt(index + 2));
    plus.addEntry(name, ino, mode, BigInt(index + 2), entry);
  }
  const listing = PackedDirents.pack(names.slice(0, 16), 2);
  for (const { name, ino, mode } of names.slice(16)) listing.push(name, ino, mode);
  const copied = new DirectoryWriter(8_192, false);
  copied.addPacked(listing, 0);
  return { plain: plain.bytes(), plus: plus.bytes(), packed: copied.bytes() };
}
