/**
 * The one file that loads native/fuse (libfuse 3's low-level API as an N-API addon) and types its
 * interface. Everything here is inode-based and raw: positional arguments, errnos, open-flag bits.
 * session.ts and dispatcher.ts build the FuseOperations interface on top of it.
 *
 * The addon validates every value it receives and throws (TypeError with code
 * ERR_FUSE_INVALID_REPLY, Error with ERR_FUSE_ALREADY_ANSWERED / ERR_FUSE_SESSION_CLOSED) rather
 * than pass a bad one to libfuse; a refused reply leaves the request unanswered.
 */
import { createRequire } from 'node:module';

import { FsError } from '../../common/errors.js';
import { findNativeAddon } from '../../common/native-addon.js';
import { CommonCode } from '../../common/status-code.js';
import { Opcode } from './opcodes.js';

/** One request from the kernel; answer it with exactly one reply method. Replies return false when the
 * kernel no longer waited for the answer (the caller was interrupted). */
export interface NativeRequest {
  readonly id: number;
  interrupted(): boolean;
  answered(): boolean;
  groups(): number[] | undefined;
  replyErr(errno: number): boolean;
  replyOk(): boolean;
  replyNone(): boolean;
  replyEntry(
    ino: bigint | number,
    generation: bigint | number,
    attributes: unknown,
    attrTimeoutMs: number,
    entryTimeoutMs: number,
  ): boolean;
  replyCreate(
    ino: bigint | number,
    generation: bigint | number,
    attributes: unknown,
    attrTimeoutMs: number,
    entryTimeoutMs: number,
    fh: bigint | number,
    openFlags: number,
  ): boolean;
  replyAttr(attributes: unknown, attrTimeoutMs: number): boolean;
  replyReadlink(target: string): boolean;
  replyOpen(fh: bigint | number, openFlags: number): boolean;
  replyWrite(count: bigint | number): boolean;
  replyBuffer(data: Uint8Array): boolean;
  replyXattrSize(size: number): boolean;
  replyStatfs(statfs: unknown): boolean;
  replyLock(type: number, start: bigint | number, length: bigint | number, pid: number): boolean;
  replyLseek(offset: bigint | number): boolean;
  /**
   * Adds one entry to a directory reply through libfuse's own packing (a crossing and a struct
   * stat per entry). The dispatcher packs replies itself (DirectoryWriter) and sends them with
   * replyDirectory(bytes); these remain as the reference that packing is tested against.
   */
  addDirentry(name: string, nextOffset: bigint | number, ino: bigint | number, mode: number): boolean;
  addDirentryPlus(
    name: string,
    nextOffset: bigint | number,
    ino: bigint | number,
    mode: number,
    generation?: bigint | number,
    attributes?: unknown,
    attrTimeoutMs?: number,
    entryTimeoutMs?: number,
  ): boolean;
  /**
   * Answers readdir or readdirplus: with `entries`, packed in the kernel's wire layout (fuse_dirent
   * or fuse_direntplus records, at most the requested size; the addon checks every record, and
   * anything addDirentry/addDirentryPlus assembled is dropped), else with what those assembled.
   */
  replyDirectory(entries?: Uint8Array): boolean;
  /** A copy of the bytes addDirentry/addDirentryPlus assembled so far (for comparison in tests). */
  directoryBytes(): Buffer;
}

/**
 * Receives every request as (handle, op, ino, uid, gid, pid, umask, ...arguments) and every event
 * as (null, op, ...arguments); the arguments of each opcode are listed in native/fuse/src/dispatch.cc.
 */
export type NativeDispatch = (handle: NativeRequest | null, op: number, ...args: unknown[]) => void;

/** Options of a native session (validated again by the addon). */
export interface NativeSessionOptions {
  operations: readonly string[];
  fsName?: string;
  subtype?: string;
  allowOther?: boolean;
  defaultPermissions?: boolean;
  readOnly?: boolean;
  autoUnmount?: boolean;
  debug?: boolean;
  maxReadBytes?: number;
  maxWriteBytes?: number;
  maxReadaheadBytes?: number;
  maxBackground?: number;
  congestionThreshold?: number;
  writebackCache?: boolean;
  asyncRead?: boolean;
  parallelDirops?: boolean;
  atomicOTrunc?: boolean;
  cacheSymlinks?: boolean;
  spliceRead?: boolean;
  readdirplus?: number;
  posixLocks?: boolean;
  flockLocks?: boolean;
  posixAcl?: boolean;
  flushOnlyTouched?: boolean;
  threads?: number;
  maxInflight?: number;
}

/** The binding's side (FuseSession.enableFastReads). */
export interface FastReadsNative {
  /** Takes over a duplicate of `fd`, an authenticated connection; 0 or a negative errno. */
  connect(address: string, fd: number): number;
  hasConnection(address: string): boolean;
  setTarget(targetId: number, address: string): void;
  setChain(chainId: number, groups: number[][]): void;
  setFile(fh: bigint, inode: bigint, chunkBytes: number, length: bigint, chains: number[]): void;
  forgetFile(fh: bigint): void;
  forgetInode(inode: bigint): void;
  stats(): FastReadStats;
}

export interface FastReadStats {
  /** Reads the binding answered. */
  readonly answered: number;
  /** Reads it sent to storage and then handed back (short, failed, or their connection lost). */
  readonly handedOver: number;
  readonly connectionsLost: number;
}

export interface NativeSession {
  readonly mounted: boolean;
  /** FLUSH requests answered without the dispatcher (flushOnlyTouched). */
  readonly flushesAnswered: number;
  /** READDIR requests answered from served listings without the dispatcher. */
  readonly readdirsAnswered: number;
  /**
   * Answers the later READDIRs of `fh` past the dots from these packed records (copied): record i
   * starts at starts[i] and resumes at firstOffset + i, `count` of them. Until dropListing(fh) or
   * the handle's RELEASEDIR.
   */
  serveListing(fh: bigint, bytes: Buffer, starts: Uint32Array, count: number, firstOffset: number): void;
  /** Stops answering READDIRs of `fh` from a served listing. */
  dropListing(fh: bigint): void;
  /** Mounts and starts the worker threads; throws (code ERR_FUSE_MOUNT) with libfuse's reason. */
  mount(mountpoint: string, dispatch: NativeDispatch): void;
  /** Stops reading requests; those already queued still reach the dispatcher. */
  stopWorkers(): void;
  /** Requests not answered yet, queued ones included. */
  pendingCount(): number;
  /** This process's reference to fusermount3's auto-unmount socket, or -1 without one. */
  autoUnmountSocket(): number;
  /** Answers what is pending with EIO, unmounts, frees. Idempotent. */
  close(): void;
  /** Resolves true when the kernel had the inode cached. Negative offset: attributes only. */
  notifyInvalidateInode(ino: bigint, offset: bigint, length: bigint): Promise<boolean>;
  notifyInvalidateEntry(parent: bigint, name: string): Promise<boolean>;
  notifyDelete(parent: bigint, child: bigint, name: string): Promise<boolean>;
  /** Starts the reads the binding answers itself; false when the session reads on worker threads. */
  enableFastReads(options: {
    readBytesMax: number;
    regionBytes: number;
    timeoutMs: number;
    penaltyMs: number;
  }): boolean;
  fastReadsConnect(address: string, fd: number): number;
  fastReadsHasConnection(address: string): boolean;
  fastReadsSetTarget(targetId: number, address: string): void;
  fastReadsSetChain(chainId: number, groups: number[][]): void;
  fastReadsSetFile(fh: bigint, inode: bigint, chunkBytes: number, length: bigint, chains: number[]): void;
  fastReadsForgetFile(fh: bigint): void;
  fastReadsForgetInode(inode: bigint): void;
  fastReadsStats(): { answered: number; handedOver: number; connectionsLost: number };
}

export interface NativeBinding {
  FuseSession: new (options: NativeSessionOptions) => NativeSession;
  opcodes: Record<string, number>;
  /** FUSE_CAP_* bits by name. */
  capabilities: Record<string, number>;
  /** umount2(path, MNT_DETACH); returns 0 or the errno. */
  detachMount(path: string): number;
  /** libfuse's version as major * 100 + minor (314 for 3.14). */
  libfuseVersion: number;
}

let binding: NativeBinding | undefined;

/** The addon, loaded once; throws an FsError naming the missing build step or package. */
export function loadNativeBinding(): NativeBinding {
  if (binding !== undefined) return binding;
  const path = findNativeAddon('fuse');
  if (path === undefined) {
    throw new FsError(
      CommonCode.NotImplemented,
      'the FUSE binding (native/fuse) is not built: install libfuse3-dev, fuse3 and pkg-config ' +
        '(Debian/Ubuntu; fuse3 and pkg-config on nixpkgs), then run "npm run build"',
    );
  }
  const loaded = createRequire(import.meta.url)(path) as NativeBinding;
  checkOpcodes(loaded.opcodes);
  binding = loaded;
  return loaded;
}

/** The TypeScript opcode table must be the addon's, or requests would reach the wrong handlers. */
function checkOpcodes(native: Record<string, number>): void {
  const ours = Object.entries(Opcode);
  const mismatched = ours.filter(([name, value]) => native[name] !== value);
  if (mismatched.length > 0 || Object.keys(native).length !== ours.length) {
    throw new FsError(
      CommonCode.Internal,
      `native/fuse was built from a different opcode table (rebuild it with "npm run build"): ` +
        mismatched.map(([name]) => name).join(', '),
    );
  }
}
