// Proves how meta inodes become struct stat: file type bits composed with the permission bits, sizes per type, a device node's rdev, and the preferred I/O size.
import { describe, expect, it } from 'vitest';
import {
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFIFO,
  S_IFLNK,
  S_IFREG,
  S_IFSOCK,
  attributesOf,
  specialTypeOf,
  typeBits,
} from '../../../src/fuse/attributes.js';
import type { Inode } from '../../../src/meta/protocol/index.js';

const common = { mode: 0o4755, uid: 10, gid: 20, nlink: 1, atimeNs: 1n, mtimeNs: 2n, ctimeNs: 3n };
const layout = {
  chainTableId: 1,
  chainTableVersion: 1,
  chunkSizeBytes: 4 << 20,
  stripeSize: 1,
  chains: [1],
  seed: 0,
};

describe('attributesOf', () => {
  it('composes a file mode and reports its length, blocks and a 1 MiB preferred I/O size', () => {
    const file: Inode = { type: 'file', ino: 7n, ...common, length: 1000n, truncateVersion: 0, layout };
    expect(attributesOf(file)).toEqual({
      mode: S_IFREG | 0o4755,
      nlink: 1,
      uid: 10,
      gid: 20,
      size: 1000n,
      blocks: 2n,
      blksize: 1 << 20,
      atimeNs: 1n,
      mtimeNs: 2n,
      ctimeNs: 3n,
    });
  });

  it('gives a directory its type bits and one block of size', () => {
    const directory: Inode = {
      type: 'directory',
      ino: 1n,
      ...common,
      nlink: 3,
      parent: 1n,
      layout: { chainTableId: 1, chunkSizeBytes: 1 << 20, stripeSize: 4 },
    };
    const attributes = attributesOf(directory);
    expect(attributes.mode).toBe(S_IFDIR | 0o4755);
    expect(attributes.size).toBe(4096n);
    expect(attributes.nlink).toBe(3);
  });

  it("sizes a symlink by its target's bytes", () => {
    const link: Inode = { type: 'symlink', ino: 9n, ...common, target: 'dé/x' };
    expect(attributesOf(link).mode).toBe(S_IFLNK | 0o4755);
    expect(attributesOf(link).size).toBe(5n);
  });

  it('gives FIFOs and sockets their type bits, no size and no rdev', () => {
    const pipe: Inode = { type: 'fifo', ino: 11n, ...common };
    expect(attributesOf(pipe)).toMatchObject({ mode: S_IFIFO | 0o4755, size: 0n, blocks: 0n });
    expect(attributesOf(pipe).rdev).toBeUndefined();
    expect(attributesOf({ type: 'socket', ino: 12n, ...common }).mode).toBe(S_IFSOCK | 0o4755);
  });

  it('gives device nodes their type bits and their device number as st_rdev', () => {
    const device = { major: 8, minor: 17 };
    expect(attributesOf({ type: 'blockDevice', ino: 13n, ...common, device })).toMatchObject({
      mode: S_IFBLK | 0o4755,
      rdev: 0x811,
      size: 0n,
    });
    expect(attributesOf({ type: 'charDevice', ino: 14n, ...common, device }).mode).toBe(S_IFCHR | 0o4755);
  });
});

describe('special file types from st_mode', () => {
  it('names the special types and nothing else', () => {
    for (const type of ['fifo', 'socket', 'charDevice', 'blockDevice'] as const)
      expect(specialTypeOf(typeBits(type) | 0o644)).toBe(type);
    expect(specialTypeOf(S_IFREG | 0o644)).toBeUndefined();
    expect(specialTypeOf(S_IFDIR)).toBeUndefined();
    expect(specialTypeOf(0o644)).toBeUndefined();
    expect(specialTypeOf(0o030000)).toBeUndefined();
  });
});
