/**
 * struct stat for the kernel from a meta inode: the file type bits composed with the permission
 * bits (meta keeps them apart), the meta inode id as st_ino, sizes, and the preferred I/O size
 * (st_blksize), which programs such as cp and stdio size their buffers by.
 */
import type { Inode } from '../meta/protocol/index.js';
import type { Attributes } from './lowlevel/index.js';

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;

/** Size shown for directories, as local file systems show one block. */
const directorySizeBytes = 4096;
/** Preferred I/O size of files: one FUSE request (cp and stdio then move 1 MiB at a time). */
const fileBlockSizeBytes = 1024 * 1024;

/** The type bits of an inode's type. */
export function typeBits(type: Inode['type']): number {
  switch (type) {
    case 'file':
      return S_IFREG;
    case 'directory':
      return S_IFDIR;
    case 'symlink':
      return S_IFLNK;
  }
}

/** The attributes the kernel gets for `inode` (whose length is already this client's view). */
export function attributesOf(inode: Inode): Attributes {
  const size =
    inode.type === 'file'
      ? inode.length
      : inode.type === 'symlink'
        ? BigInt(Buffer.byteLength(inode.target, 'utf8'))
        : BigInt(directorySizeBytes);
  return {
    mode: typeBits(inode.type) | inode.mode,
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
