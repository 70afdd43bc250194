/**
 * NFSv3's wire types (RFC 1813) and their encoding: file attributes (fattr3) from meta inodes,
 * settable attributes (sattr3) into attribute changes, weak cache consistency data, and the
 * procedure numbers. Decoders are bounded by the XDR reader; every length has its protocol maximum.
 */
import type { Inode } from '../../client/index.js';
import { limits } from '../../common/limits.js';
import type { AttributeChanges } from '../export-fs.js';
import { malformed, type XdrReader, type XdrWriter } from '../xdr.js';

export const nfsProgram = 100003;
export const nfs3Version = 3;

/** NFSv3 handles are at most 64 bytes. */
export const fhSize3Max = 64;
/** Names and paths: a name is one component; a symlink target at most a path. */
export const nameBytesMax = 4096;
export const pathBytesMax = 4096;
export const cookieVerifierBytes = 8;
export const createVerifierBytes = 8;
export const writeVerifierBytes = 8;

export const Nfs3Procedure = {
  Null: 0,
  Getattr: 1,
  Setattr: 2,
  Lookup: 3,
  Access: 4,
  Readlink: 5,
  Read: 6,
  Write: 7,
  Create: 8,
  Mkdir: 9,
  Symlink: 10,
  Mknod: 11,
  Remove: 12,
  Rmdir: 13,
  Rename: 14,
  Link: 15,
  Readdir: 16,
  Readdirplus: 17,
  Fsstat: 18,
  Fsinfo: 19,
  Pathconf: 20,
  Commit: 21,
} as const;

/** ftype3. */
export const FileType3 = { Reg: 1, Dir: 2, Blk: 3, Chr: 4, Lnk: 5, Sock: 6, Fifo: 7 } as const;

const fileTypeOf: Readonly<Record<Inode['type'], number>> = {
  file: FileType3.Reg,
  directory: FileType3.Dir,
  blockDevice: FileType3.Blk,
  charDevice: FileType3.Chr,
  symlink: FileType3.Lnk,
  socket: FileType3.Sock,
  fifo: FileType3.Fifo,
};

/** Size shown for a directory, as local file systems show one block. */
const directorySizeBytes = 4096n;

/** The size attribute of an inode (a file's length, a symlink's target length). */
export function sizeOf(inode: Inode): bigint {
  switch (inode.type) {
    case 'file':
      return inode.length;
    case 'symlink':
      return BigInt(Buffer.byteLength(inode.target, 'utf8'));
    case 'directory':
      return directorySizeBytes;
    default:
      return 0n;
  }
}

/** Space used: the size rounded up to 512-byte blocks (meta does not count allocated chunks). */
export function usedOf(inode: Inode): bigint {
  return ((sizeOf(inode) + 511n) / 512n) * 512n;
}

/** nfstime3 (seconds, nanoseconds) from nanoseconds since the epoch. */
export function writeTime3(writer: XdrWriter, timeNs: bigint): void {
  const seconds = timeNs / 1_000_000_000n;
  writer.u32(Number(seconds > 0xffff_ffffn ? 0xffff_ffffn : seconds));
  writer.u32(Number(timeNs % 1_000_000_000n));
}

export function readTime3(reader: XdrReader): bigint {
  const seconds = BigInt(reader.u32('time seconds'));
  const nanoseconds = reader.u32('time nanoseconds');
  if (nanoseconds >= 1_000_000_000) throw malformed(`nanoseconds ${nanoseconds} out of range`);
  return seconds * 1_000_000_000n + BigInt(nanoseconds);
}

/** fattr3 of `inode`; `fsid` identifies the export's file system. */
export function writeFattr3(writer: XdrWriter, inode: Inode, fsid: bigint): void {
  writer.u32(fileTypeOf[inode.type]);
  writer.u32(inode.mode);
  writer.u32(inode.nlink);
  writer.u32(inode.uid);
  writer.u32(inode.gid);
  writer.u64(sizeOf(inode));
  writer.u64(usedOf(inode));
  const device = 'device' in inode ? inode.device : { major: 0, minor: 0 };
  writer.u32(device.major).u32(device.minor);
  writer.u64(fsid);
  writer.u64(inode.ino);
  writeTime3(writer, inode.atimeNs);
  writeTime3(writer, inode.mtimeNs);
  writeTime3(writer, inode.ctimeNs);
}

/** post_op_attr: the attributes when known. */
export function writePostOpAttr(writer: XdrWriter, inode: Inode | undefined, fsid: bigint): void {
  writer.bool(inode !== undefined);
  if (inode !== undefined) writeFattr3(writer, inode, fsid);
}

/** pre_op_attr: size, mtime and ctime before an operation, when known. */
export function writePreOpAttr(writer: XdrWriter, inode: Inode | undefined): void {
  writer.bool(inode !== undefined);
  if (inode === undefined) return;
  writer.u64(sizeOf(inode));
  writeTime3(writer, inode.mtimeNs);
  writeTime3(writer, inode.ctimeNs);
}

/** wcc_data: the object before and after. */
export function writeWcc(
  writer: XdrWriter,
  before: Inode | undefined,
  after: Inode | undefined,
  fsid: bigint,
): void {
  writePreOpAttr(writer, before);
  writePostOpAttr(writer, after, fsid);
}

/** post_op_fh3. */
export function writePostOpFh(writer: XdrWriter, handle: Buffer | undefined): void {
  writer.bool(handle !== undefined);
  if (handle !== undefined) writer.opaque(handle);
}

/** time_how of sattr3. */
const TimeHow = { DontChange: 0, ServerTime: 1, ClientTime: 2 } as const;

function readSetTime(reader: XdrReader, what: string): bigint | 'now' | undefined {
  const how = reader.enumOf([TimeHow.DontChange, TimeHow.ServerTime, TimeHow.ClientTime], what);
  if (how === TimeHow.DontChange) return undefined;
  if (how === TimeHow.ServerTime) return 'now';
  return readTime3(reader);
}

/** sattr3 as attribute changes (mode keeps its permission bits, 0o7777). */
export function readSattr3(reader: XdrReader): AttributeChanges {
  const mode = reader.optional((inner) => inner.u32('mode'), 'set mode');
  const uid = reader.optional((inner) => inner.u32('uid'), 'set uid');
  const gid = reader.optional((inner) => inner.u32('gid'), 'set gid');
  const size = reader.optional((inner) => inner.u64('size'), 'set size');
  const atime = readSetTime(reader, 'set atime');
  const mtime = readSetTime(reader, 'set mtime');
  return {
    ...(mode === undefined ? {} : { mode: mode & 0o7777 }),
    ...(uid === undefined ? {} : { uid }),
    ...(gid === undefined ? {} : { gid }),
    ...(size === undefined ? {} : { size }),
    ...(atime === undefined ? {} : { atime }),
    ...(mtime === undefined ? {} : { mtime }),
  };
}

/** Reads an nfs_fh3 (bytes, checked by the handle codec). */
export function readHandle3(reader: XdrReader): Buffer {
  return reader.opaque(fhSize3Max, 'file handle');
}

/** Reads a filename3 (bytes; export-fs checks them). */
export function readName3(reader: XdrReader): Buffer {
  return reader.opaque(nameBytesMax, 'name');
}

/** A READ count or WRITE size within what the gateway offers. */
export function ioBytes(count: number): number {
  return Math.min(count, limits.nfsIoBytesMax);
}
