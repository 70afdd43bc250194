/**
 * Building blocks of KV keys (DESIGN §5). Keys compare bytewise, so integers inside keys are
 * fixed-width big-endian: numeric order equals key order and one prefix holds exactly one group
 * (every entry of a directory is one range). Inode ids are the exception: they are little-endian
 * in inode keys so that consecutive ids spread over the key space, as 3FS does.
 */
import { FsError } from '../common/errors.js';
import { CommonCode } from '../common/status-code.js';

const u32Max = 0xffff_ffff;
const u64Max = (1n << 64n) - 1n;

/** Compares keys in KV order: bytewise, a proper prefix first. */
export function compareKeys(left: Uint8Array, right: Uint8Array): number {
  return Buffer.compare(left, right);
}

/** A key made of `parts` one after another. */
export function concatKey(...parts: readonly Uint8Array[]): Buffer {
  return Buffer.concat(parts);
}

/** The bytes of an ASCII tag such as `INOD` or `DENT`, used as a record type's key prefix. */
export function asciiKey(text: string): Buffer {
  if (!/^[\x20-\x7e]*$/.test(text)) {
    throw new FsError(CommonCode.InvalidArgument, `key tag ${JSON.stringify(text)} is not printable ASCII`);
  }
  return Buffer.from(text, 'latin1');
}

/** A 4-byte big-endian unsigned integer: encoded order equals numeric order. */
export function u32BigEndian(value: number): Buffer {
  if (!Number.isInteger(value) || value < 0 || value > u32Max) {
    throw new FsError(CommonCode.InvalidArgument, `${value} is not an unsigned 32-bit integer`);
  }
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32BE(value);
  return buffer;
}

/** An 8-byte big-endian unsigned integer: encoded order equals numeric order. */
export function u64BigEndian(value: bigint): Buffer {
  checkU64(value);
  const buffer = Buffer.alloc(8);
  buffer.writeBigUInt64BE(value);
  return buffer;
}

/** An 8-byte little-endian unsigned integer: spreads consecutive ids (inode keys, DESIGN §5). */
export function u64LittleEndian(value: bigint): Buffer {
  checkU64(value);
  const buffer = Buffer.alloc(8);
  buffer.writeBigUInt64LE(value);
  return buffer;
}

/** Reads a u32BigEndian field at `offset`. */
export function readU32BigEndian(key: Uint8Array, offset = 0): number {
  return bufferOf(key).readUInt32BE(offset);
}

/** Reads a u64BigEndian field at `offset`. */
export function readU64BigEndian(key: Uint8Array, offset = 0): bigint {
  return bufferOf(key).readBigUInt64BE(offset);
}

/** Reads a u64LittleEndian field at `offset`. */
export function readU64LittleEndian(key: Uint8Array, offset = 0): bigint {
  return bufferOf(key).readBigUInt64LE(offset);
}

/**
 * The first key after every key that starts with `prefix` (FoundationDB's strinc), so that
 * `getRange(prefix, prefixEnd(prefix))` reads exactly the keys with that prefix: trailing 0xff
 * bytes are dropped and the last remaining byte is incremented.
 */
export function prefixEnd(prefix: Uint8Array): Buffer {
  let length = prefix.length;
  while (length > 0 && prefix[length - 1] === 0xff) length--;
  if (length === 0) {
    throw new FsError(
      CommonCode.InvalidArgument,
      'a prefix that is empty or all 0xff bytes has no end key: every key after it has the prefix',
    );
  }
  const end = Buffer.from(prefix.subarray(0, length));
  end[length - 1] = (end[length - 1] ?? 0) + 1;
  return end;
}

/** The first key after `key` (the key followed by a zero byte): the end of a range holding only `key`. */
export function keyAfter(key: Uint8Array): Buffer {
  return Buffer.concat([key, zeroByte]);
}

/** True when `key` begins with `prefix`. */
export function hasPrefix(key: Uint8Array, prefix: Uint8Array): boolean {
  return key.length >= prefix.length && Buffer.compare(key.subarray(0, prefix.length), prefix) === 0;
}

/** A readable rendering of a key for logs and error messages: printable ASCII as is, other bytes as \xNN. */
export function formatKey(key: Uint8Array, bytesShownMax = 64): string {
  let text = '';
  const shown = Math.min(key.length, bytesShownMax);
  for (let index = 0; index < shown; index++) {
    const byte = key[index] ?? 0;
    text +=
      byte >= 0x20 && byte < 0x7f && byte !== 0x5c
        ? String.fromCharCode(byte)
        : `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  if (key.length > shown) text += `... (${key.length} bytes)`;
  return `"${text}"`;
}

const zeroByte = Buffer.from([0]);

function checkU64(value: bigint): void {
  if (value < 0n || value > u64Max) {
    throw new FsError(CommonCode.InvalidArgument, `${value} is not an unsigned 64-bit integer`);
  }
}

function bufferOf(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
