/**
 * The typed, inode-based interface of the FUSE low-level binding: what a file system implements
 * (FuseOperations), what each handler receives and what it returns.
 *
 * Numbers: every 64-bit quantity the kernel sends (inode ids, file handles, offsets, lengths, lock
 * owners, generations, timestamps) arrives as a `bigint`, as inode ids are everywhere in this project;
 * 32-bit ones (modes, uids, flags, sizes of one request) are `number`. Replies accept a `bigint`
 * or a safe-integer `number` for 64-bit fields; anything else is refused, never truncated.
 *
 * Inode ids are chosen by the file system and must stay stable while the kernel holds a lookup
 * reference to them; 1n is the root (FUSE_ROOT_ID). Timestamps are nanoseconds since the epoch.
 */

import type { PackedDirents } from './directory-writer.js';

/** An inode id chosen by the file system; 1n is the root. */
export type InodeId = bigint;

/** Who asked: the calling thread's credentials as the kernel reports them. */
export interface RequestContext {
  /** Effective uid of the caller (0 when the kernel cannot map it, e.g. from another user namespace). */
  readonly uid: number;
  readonly gid: number;
  /** Thread id of the caller (0 for requests the kernel makes on its own, e.g. writeback). */
  readonly pid: number;
  /**
   * The caller's umask; meaningful for mknod, mkdir and create. The kernel already applied it to
   * their mode unless the session has posixAcl (then the handler applies it, or a default ACL).
   */
  readonly umask: number;
  /**
   * Supplementary groups of the caller, read on demand from /proc (fuse_req_getgroups), or
   * undefined when they cannot be read. Only valid while the handler runs.
   */
  groups(): readonly number[] | undefined;
}

/** File attributes (struct stat). st_ino is the inode the reply is about. */
export interface Attributes {
  /** File type and permission bits (S_IFREG | 0o644, ...). */
  readonly mode: number;
  readonly nlink: number;
  readonly uid: number;
  readonly gid: number;
  readonly rdev?: number;
  readonly size: bigint | number;
  /** 512-byte blocks allocated; defaults to ceil(size / 512). */
  readonly blocks?: bigint | number;
  /** Preferred I/O size; defaults to 4096. */
  readonly blksize?: number;
  readonly atimeNs: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
}

/** Cache lifetimes the kernel may keep an answer for; absent values use the mount's defaults. */
export interface CacheTimeouts {
  readonly attrTimeoutMs?: number;
  readonly entryTimeoutMs?: number;
}

/**
 * A name resolved to an inode. Replying with an entry gives the kernel one lookup reference to
 * `ino`, which it returns through `forget` (lookup, mknod, mkdir, symlink, link, create, and
 * readdirplus entries with attributes).
 */
export interface Entry extends CacheTimeouts {
  readonly ino: InodeId;
  /** Distinguishes reuses of one inode id; 0n when ids are never reused. */
  readonly generation?: bigint;
  readonly attributes: Attributes;
}

/** "This name does not exist", cached by the kernel for `entryTimeoutMs` (lookup only). */
export interface NegativeEntry {
  readonly negative: true;
  readonly entryTimeoutMs: number;
}

/** The answer to getattr and setattr. */
export interface AttributesReply {
  readonly attributes: Attributes;
  readonly attrTimeoutMs?: number;
}

/** How the kernel should treat an opened file or directory. */
export interface OpenReply {
  /** The file handle, returned with every later request on this open file. Defaults to 0n. */
  readonly fh?: bigint | number;
  /** Bypass the page cache: every read and write reaches the file system. */
  readonly directIo?: boolean;
  /** Keep cached data from earlier opens (the file did not change behind the kernel's back). */
  readonly keepCache?: boolean;
  readonly nonSeekable?: boolean;
  /** opendir only: let the kernel cache directory entries. */
  readonly cacheDirectory?: boolean;
  /** Do not send flush on close. */
  readonly noFlush?: boolean;
}

/** The answer to create: the new entry and its open file. */
export interface CreateReply extends Entry {
  readonly open: OpenReply;
}

/** struct statvfs. */
export interface StatfsReply {
  readonly blockSize: number;
  readonly fragmentSize?: number;
  readonly blocks: bigint | number;
  readonly blocksFree: bigint | number;
  readonly blocksAvailable?: bigint | number;
  readonly files: bigint | number;
  readonly filesFree: bigint | number;
  readonly filesAvailable?: bigint | number;
  readonly nameMax?: number;
}

/** A POSIX byte-range lock type. */
export const LockType = { Read: 0, Write: 1, Unlock: 2 } as const;
export type LockType = (typeof LockType)[keyof typeof LockType];

/** A byte range of a POSIX lock: `length` 0n means "to the end of the file". */
export interface LockRange {
  readonly type: LockType;
  readonly start: bigint;
  readonly length: bigint;
  readonly pid: number;
}

/** Entries of a directory listing: the handler adds them until `add` returns false (full). */
export interface DirectorySink {
  /**
   * Adds one entry; `nextOffset` is where a later readdir resumes after it (never 0n, unique and
   * stable for the directory's lifetime). Returns false, without adding, when the reply is full.
   */
  add(entry: { name: string; ino: InodeId; mode: number; nextOffset: bigint }): boolean;
  /**
   * Adds records of a packed listing from index `from` on, as many as fit, in one copy; returns the
   * index after the last one added.
   */
  addPacked(packed: PackedDirents, from: number): number;
}

/** Entries of a readdirplus listing. An entry with `entry` set gives the kernel a lookup reference. */
export interface DirectoryPlusSink {
  /**
   * Adds one entry: with `entry` (the attributes of `ino`), the kernel instantiates it, taking one
   * lookup reference as lookup would; without (for "." and "..", or when attributes are unknown)
   * it is a plain name. Returns false, without adding, when the reply is full: a lookup reference
   * is taken only when it returns true.
   */
  add(item: {
    name: string;
    ino: InodeId;
    mode: number;
    nextOffset: bigint;
    entry?: Omit<Entry, 'ino'>;
  }): boolean;
}

// ---- Requests: the arguments of each operation, after the context.

export interface FileRequest {
  readonly ino: InodeId;
  readonly fh: bigint;
}

export interface SetattrRequest {
  readonly ino: InodeId;
  /** Present when the change came through an open file (ftruncate, fchmod...). */
  readonly fh: bigint | undefined;
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly size?: bigint;
  /** 'now': the kernel asks for the current time (utimensat with UTIME_NOW). */
  readonly atimeNs?: bigint | 'now';
  readonly mtimeNs?: bigint | 'now';
  readonly ctimeNs?: bigint;
}

export interface ReadRequest extends FileRequest {
  readonly offset: bigint;
  /** Bytes requested; a reply may be shorter only at the end of the file (or with directIo). */
  readonly size: number;
  readonly flags: number;
  readonly lockOwner: bigint;
}

export interface WriteRequest extends FileRequest {
  readonly offset: bigint;
  /** The bytes to write. Owned by the handler: no one else holds them. */
  readonly data: Buffer;
  /** Written back from the page cache: uid, gid and pid of the context are not meaningful. */
  readonly writepage: boolean;
  readonly flags: number;
  readonly lockOwner: bigint;
}

export interface ReaddirRequest extends FileRequest {
  /** 0n for the start, else the `nextOffset` of the last entry returned before. */
  readonly offset: bigint;
}

export interface LockRequest extends FileRequest {
  /** Identifies the lock holder (a process's file table for POSIX locks, an open file for flock). */
  readonly owner: bigint;
  readonly lock: LockRange;
}

export interface SetlkRequest extends LockRequest {
  /** F_SETLKW: wait for a conflicting lock to go away (until `signal` aborts: answer EINTR). */
  readonly wait: boolean;
  readonly signal: AbortSignal | undefined;
}

export interface FlockRequest extends FileRequest {
  readonly owner: bigint;
  readonly operation: 'shared' | 'exclusive' | 'unlock';
  readonly wait: boolean;
  readonly signal: AbortSignal | undefined;
}

export interface CopyFileRangeRequest {
  readonly source: FileRequest & { readonly offset: bigint };
  readonly target: FileRequest & { readonly offset: bigint };
  readonly length: bigint;
  readonly flags: number;
}

/** What the kernel and libfuse agreed on when the session started. */
export interface ConnectionInfo {
  readonly protocolMajor: number;
  readonly protocolMinor: number;
  /** Capabilities the kernel offered and those in use, by name (see capabilityNames). */
  readonly capable: readonly string[];
  readonly enabled: readonly string[];
  readonly maxWriteBytes: number;
  readonly maxReadBytes: number;
  readonly maxReadaheadBytes: number;
  readonly maxBackground: number;
  readonly congestionThreshold: number;
  readonly timeGranularityNs: number;
}

/**
 * The operations of a file system. Every handler is optional: a missing one is answered by
 * libfuse and the kernel with their documented defaults (ENOSYS, which the kernel remembers for
 * flush, fsync, xattrs, fallocate, copy_file_range...; success for opendir and release; local
 * locking without getlk/setlk/flock). A handler returns its reply or throws: an error carrying an
 * errno (FuseErrnoError, a Node.js system error) answers that errno; anything else answers EIO and
 * is logged. Handlers run on the event loop of the mounting process: they must never wait for I/O
 * on their own mount.
 */
export interface FuseOperations {
  /** Called once the connection is negotiated, before the first request. */
  init?(connection: ConnectionInfo): void;
  /** Called after the session ended (unmounted here or elsewhere). */
  destroy?(): void;

  lookup?(
    context: RequestContext,
    request: { parent: InodeId; name: string },
  ): Promise<Entry | NegativeEntry>;
  /** The kernel drops `count` lookup references to `ino` (batch forgets arrive one by one). */
  forget?(request: { ino: InodeId; count: bigint }): void;
  getattr?(
    context: RequestContext,
    request: { ino: InodeId; fh: bigint | undefined },
  ): Promise<AttributesReply>;
  setattr?(context: RequestContext, request: SetattrRequest): Promise<AttributesReply>;
  readlink?(context: RequestContext, request: { ino: InodeId }): Promise<string>;
  mknod?(
    context: RequestContext,
    request: { parent: InodeId; name: string; mode: number; rdev: number },
  ): Promise<Entry>;
  mkdir?(context: RequestContext, request: { parent: InodeId; name: string; mode: number }): Promise<Entry>;
  unlink?(context: RequestContext, request: { parent: InodeId; name: string }): Promise<void>;
  rmdir?(context: RequestContext, request: { parent: InodeId; name: string }): Promise<void>;
  symlink?(
    context: RequestContext,
    request: { parent: InodeId; name: string; target: string },
  ): Promise<Entry>;
  /** flags: RENAME_NOREPLACE (1), RENAME_EXCHANGE (2). */
  rename?(
    context: RequestContext,
    request: { parent: InodeId; name: string; newParent: InodeId; newName: string; flags: number },
  ): Promise<void>;
  link?(
    context: RequestContext,
    request: { ino: InodeId; newParent: InodeId; newName: string },
  ): Promise<Entry>;
  /** With atomicOTrunc (the default), O_TRUNC in `flags` must truncate the file here. */
  open?(context: RequestContext, request: { ino: InodeId; flags: number }): Promise<OpenReply>;
  read?(context: RequestContext, request: ReadRequest): Promise<Uint8Array>;
  /**
   * Called with the bytes `read` resolved to once the reply carrying them is written (or could
   * not be): the kernel has its own copy then, so a buffer lent to the reply may be used again.
   */
  readReplied?(data: Uint8Array): void;
  /** Returns the number of bytes written. */
  write?(context: RequestContext, request: WriteRequest): Promise<number>;
  /** On every close of a file descriptor; with POSIX locks, release `lockOwner`'s locks. */
  flush?(context: RequestContext, request: FileRequest & { lockOwner: bigint }): Promise<void>;
  /** When the last descriptor of an open file is closed; `flockRelease`: drop its flock. */
  release?(
    context: RequestContext,
    request: FileRequest & { flags: number; lockOwner: bigint; flockRelease: boolean },
  ): Promise<void>;
  fsync?(context: RequestContext, request: FileRequest & { datasync: boolean }): Promise<void>;
  opendir?(context: RequestContext, request: { ino: InodeId; flags: number }): Promise<OpenReply>;
  readdir?(context: RequestContext, request: ReaddirRequest, sink: DirectorySink): Promise<void>;
  readdirplus?(context: RequestContext, request: ReaddirRequest, sink: DirectoryPlusSink): Promise<void>;
  releasedir?(context: RequestContext, request: FileRequest & { flags: number }): Promise<void>;
  fsyncdir?(context: RequestContext, request: FileRequest & { datasync: boolean }): Promise<void>;
  statfs?(context: RequestContext, request: { ino: InodeId }): Promise<StatfsReply>;
  /** flags: XATTR_CREATE (1), XATTR_REPLACE (2). */
  setxattr?(
    context: RequestContext,
    request: { ino: InodeId; name: string; value: Buffer; flags: number },
  ): Promise<void>;
  /** Returns the whole value; the binding answers size queries and ERANGE itself. Throw ENODATA if absent. */
  getxattr?(context: RequestContext, request: { ino: InodeId; name: string }): Promise<Uint8Array>;
  /** Returns the names; the binding encodes them and answers size queries and ERANGE itself. */
  listxattr?(context: RequestContext, request: { ino: InodeId }): Promise<readonly string[]>;
  removexattr?(context: RequestContext, request: { ino: InodeId; name: string }): Promise<void>;
  /** mask: R_OK (4) | W_OK (2) | X_OK (1), or F_OK (0). Not called with defaultPermissions. */
  access?(context: RequestContext, request: { ino: InodeId; mask: number }): Promise<void>;
  create?(
    context: RequestContext,
    request: { parent: InodeId; name: string; mode: number; flags: number },
  ): Promise<CreateReply>;
  /** Returns the first conflicting lock, or one of type LockType.Unlock when there is none. */
  getlk?(context: RequestContext, request: LockRequest): Promise<LockRange>;
  setlk?(context: RequestContext, request: SetlkRequest): Promise<void>;
  flock?(context: RequestContext, request: FlockRequest): Promise<void>;
  /** mode: FALLOC_FL_KEEP_SIZE (1), FALLOC_FL_PUNCH_HOLE (2), ... */
  fallocate?(
    context: RequestContext,
    request: FileRequest & { mode: number; offset: bigint; length: bigint },
  ): Promise<void>;
  /** Returns the number of bytes copied. */
  copyFileRange?(context: RequestContext, request: CopyFileRangeRequest): Promise<number>;
  /** whence: SEEK_DATA (3) or SEEK_HOLE (4). Returns the offset found. */
  lseek?(context: RequestContext, request: FileRequest & { offset: bigint; whence: number }): Promise<bigint>;
}

/** Names of the request handlers of FuseOperations (init and destroy are not requests). */
export type OperationName = Exclude<keyof FuseOperations, 'init' | 'destroy' | 'readReplied'>;
