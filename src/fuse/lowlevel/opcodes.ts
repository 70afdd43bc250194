/**
 * The numbers the native addon uses for requests and events, and the bits of the values it takes.
 * native/fuse/src/opcodes.h holds the same table; native-binding.ts checks both agree at load.
 */

/** Requests (each answered once) and events (no answer) the addon hands to JavaScript. */
export const Opcode = {
  lookup: 1,
  forget: 2,
  forgetMulti: 3,
  getattr: 4,
  setattr: 5,
  readlink: 6,
  mknod: 7,
  mkdir: 8,
  unlink: 9,
  rmdir: 10,
  symlink: 11,
  rename: 12,
  link: 13,
  open: 14,
  read: 15,
  write: 16,
  flush: 17,
  release: 18,
  fsync: 19,
  opendir: 20,
  readdir: 21,
  readdirplus: 22,
  releasedir: 23,
  fsyncdir: 24,
  statfs: 25,
  setxattr: 26,
  getxattr: 27,
  listxattr: 28,
  removexattr: 29,
  access: 30,
  create: 31,
  getlk: 32,
  setlk: 33,
  flock: 34,
  fallocate: 35,
  copyFileRange: 36,
  lseek: 37,
  init: 100,
  interrupt: 101,
  ended: 102,
} as const;
export type Opcode = (typeof Opcode)[keyof typeof Opcode];

/** Bits of the open-reply flags the addon takes (replyOpen, replyCreate). */
export const OpenFlag = {
  directIo: 1,
  keepCache: 2,
  nonSeekable: 4,
  cacheDirectory: 8,
  noFlush: 16,
} as const;

/** Bits of setattr's to_set (FUSE_SET_ATTR_*): which fields a setattr request changes. */
export const SetattrField = {
  mode: 1 << 0,
  uid: 1 << 1,
  gid: 1 << 2,
  size: 1 << 3,
  atime: 1 << 4,
  mtime: 1 << 5,
  atimeNow: 1 << 7,
  mtimeNow: 1 << 8,
  ctime: 1 << 10,
} as const;

/** flock(2) operations as libfuse passes them. */
export const FlockOperation = { shared: 1, exclusive: 2, nonBlocking: 4, unlock: 8 } as const;

/** readdirplus option values the addon takes. */
export const ReaddirplusMode = { never: 0, auto: 1, always: 2 } as const;
