/**
 * Chunk ids: a chunk is named by the file it belongs to and its index in that file, as in 3FS
 * (chunk id = (inode id, chunk index)). The binary form is 12 bytes, the inode id as a big-endian
 * u64 followed by the index as a big-endian u32, so that byte order is (inode, index) order: all
 * chunks of one file are one contiguous range, and the last chunk of a file is the range's end.
 */
import { z } from 'zod';
import { FsError, assert } from '../../common/errors.js';
import { CommonCode } from '../../common/status-code.js';

const u64Max = (1n << 64n) - 1n;
const u32Max = 0xffff_ffff;

/** Bytes of an encoded chunk id. */
export const chunkIdBytes = 12;

/** One chunk: `inode` is the file's inode id (u64), `index` the chunk's position in the file (u32). */
export interface ChunkId {
  readonly inode: bigint;
  readonly index: number;
}

export const inodeIdSchema = z.bigint().min(0n).max(u64Max);
export const chunkIndexSchema = z.number().int().min(0).max(u32Max);
export const chunkIdSchema = z.strictObject({ inode: inodeIdSchema, index: chunkIndexSchema });

function checkChunkId(id: ChunkId): void {
  assert(id.inode >= 0n && id.inode <= u64Max, 'a chunk id holds a u64 inode id');
  assert(Number.isInteger(id.index) && id.index >= 0 && id.index <= u32Max, 'a chunk id holds a u32 index');
}

/** The 12-byte binary form (see the file comment). */
export function encodeChunkId(id: ChunkId): Buffer {
  checkChunkId(id);
  const bytes = Buffer.allocUnsafe(chunkIdBytes);
  bytes.writeBigUInt64BE(id.inode, 0);
  bytes.writeUInt32BE(id.index, 8);
  return bytes;
}

/** Decodes the binary form; anything but 12 bytes is refused. */
export function decodeChunkId(bytes: Uint8Array): ChunkId {
  if (bytes.length !== chunkIdBytes) {
    throw new FsError(
      CommonCode.InvalidArgument,
      `a chunk id has ${chunkIdBytes} bytes, not ${bytes.length}`,
    );
  }
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { inode: view.readBigUInt64BE(0), index: view.readUInt32BE(8) };
}

/**
 * The text form "<inode as 16 hex digits>-<index as 8 hex digits>": fixed width, so it sorts like
 * the binary form; used in logs, in data file names and as a map key.
 */
export function formatChunkId(id: ChunkId): string {
  checkChunkId(id);
  return `${id.inode.toString(16).padStart(16, '0')}-${id.index.toString(16).padStart(8, '0')}`;
}

const textPattern = /^([0-9a-f]{16})-([0-9a-f]{8})$/;

/** Parses the text form; undefined when `text` is not one. */
export function parseChunkId(text: string): ChunkId | undefined {
  const match = textPattern.exec(text);
  if (match === null) return undefined;
  return { inode: BigInt(`0x${match[1] ?? ''}`), index: Number.parseInt(match[2] ?? '', 16) };
}

/** Orders chunk ids as their binary forms order: by inode, then index. */
export function compareChunkIds(a: ChunkId, b: ChunkId): number {
  if (a.inode !== b.inode) return a.inode < b.inode ? -1 : 1;
  return a.index - b.index;
}
