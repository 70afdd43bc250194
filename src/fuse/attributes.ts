/**
 * struct stat for the kernel from a meta inode: the file type bits composed with the permission
 * bits (meta keeps them apart), the meta inode id as st_ino, sizes, a device node's st_rdev, and
 * the preferred I/O size (st_blksize), which programs such as cp and stdio size their buffers by.
 */
import type { Inode, SpecialType } from '../meta/protocol/index.js';
import { encodeDevice } from './device-number.js';
import type { Attributes } from './lowlevel/index.js';

export const S_IFMT = 0o170000;
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;

/** Size shown for directories, as local file systems show one block. */
const directorySizeBytes = 4096;
/** Preferred I/O size of files: one FUSE request (cp and stdio then move 1 MiB at a time). */
const fileBlockSizeBytes = 1024 * 1024;

/** The type bits of each inode type. */
const typeBitsOf: Readonly<Record<Inode['type'], number>> = {
  file: S_IFREG,
  directory: S_IFDIR,
  symlink: S_IFLNK,
  fifo: S_IFIFO,
  socket: S_IFSOCK,
  charDevice: S_IFCHR,
  blockDevice: S_IFBLK,
};

/** The type bits of an inode's type. */
export function typeBits(type: Inode['type']): number {
  return typeBitsOf[type];
}

/** The special file type of st_mode's type bits, or undefined for any other type. */
export function specialTypeOf(mode: number): SpecialType | undefined {
  switch (mode & S_IFMT) {
    case S_IFIFO:
      return 'fifo';
    case S_IFSOCK:
      return 'socket';
    case S_IFCHR:
      return 'charDevice';
    case S_IFBLK:
      return 'blockDevice';
    default:
      return undefined;
  }
}

/** Bytes st_size shows: a file's length, a symlink's target, a directory's one block, else 0. */
function sizeOf(inode: Inode): bigint {
  switch (inode.type) {
    case 'file':
      return inode.length;
    case 'symlink':
      return BigInt(Buffer.byteLength(inode.target, 'utf8'));
    case 'directory':
      return BigInt(directorySizeBytes);
    default:
      return 0n;
  }
}

/** The attributes the kernel gets for `inode` (whose length is already this client's view). */
export function attributesOf(inode: Inode): Attributes {
  const size = sizeOf(inode);
  return {
    mode: typeBits(inode.type) | inode.mode,
    ...('device' in inode ? { rdev: encodeDevice(inode.device) } : {}),
    nlink: inode.nlink,
    uid: inode.uid,
    gid: inode.gid,
    size,
    blocks: (size + 511n) / 512n,
    blksize:
      inode.type === 'file' ? Math.min(inode.layout.chunkSizeBytes, fileBlockSizeBytes) : directorySizeBytes,
    atimeNs: inode.atimeNs,
    mtimeNs: inode.mtimeNs,
    ctimeNs: inode.ctimeNs,
  };
}
