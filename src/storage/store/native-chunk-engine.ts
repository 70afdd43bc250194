/**
 * The one loader of the native chunk engine (native/chunk-engine, C++ via node-gyp): its typed
 * interface, and the mapping of its failures onto status codes. The engine reports each failure
 * as an Error with an `engineCode`; nothing else in the project touches the addon.
 */
import { FsError } from '../../common/errors.js';
import { loadNativeAddon, findNativeAddon } from '../../common/native-addon.js';
import { CommonCode, StorageCode, type StatusCode } from '../../common/status-code.js';

/** One version as the engine reports it. */
export interface EngineVersionInfo {
  readonly version: number;
  readonly chainVersion: number;
  readonly length: number;
  readonly checksum: number;
}

export interface EngineChunkState {
  readonly committed: EngineVersionInfo | undefined;
  readonly pending: EngineVersionInfo | undefined;
  readonly removed: boolean;
}

export interface EngineOpenOptions {
  readonly directory: string;
  readonly targetId: number;
  readonly blockBytes: number;
  readonly minSlotBytes: number;
  readonly dataFileBytes: number;
  readonly growBytes: number;
  readonly chunkBytesMax: number;
  readonly compactMinBytes: number;
  readonly durable: boolean;
  /** Whole page-aligned blocks are written with O_DIRECT (data-files.h); true when absent. */
  readonly directWrites?: boolean;
  /**
   * Reads of at least this many bytes into page-aligned memory (alignedArrayBuffer) read with
   * O_DIRECT (data-files.h); 0 or absent: none do.
   */
  readonly directReadBytesMin?: number;
  /** Small reads may go through io_uring (true when absent): see `readRing`. */
  readonly readRing?: boolean;
}

/**
 * What a read resolves to: its bytes in `data`, or, for a read given a buffer to fill, the count
 * of bytes it put there in `length` (no `data`).
 */
export interface EngineReadResult {
  readonly data?: Buffer;
  readonly length?: number;
  readonly checksum: number;
  readonly info: EngineVersionInfo;
  readonly uncommitted: boolean;
}

/** Update kinds as the engine numbers them. */
export const EngineUpdateKind = { write: 0, replace: 1, truncate: 2, remove: 3, zero: 4 } as const;
export type EngineUpdateKind = (typeof EngineUpdateKind)[keyof typeof EngineUpdateKind];

export interface NativeChunkEngine {
  stat(key: Buffer): EngineChunkState | undefined;
  hasPending(key: Buffer): boolean;
  list(after: Buffer | undefined, limit: number): Array<EngineChunkState & { readonly key: Buffer }>;
  summarize(
    inode: bigint,
    beginIndex: number,
    endIndex: number,
  ): {
    last: { index: number; version: number; length: number } | undefined;
    chunkCount: number;
    totalBytes: number;
    uncommittedCount: number;
  };
  totals(): { chunkCount: number; committedBytes: number };
  prepare(
    key: Buffer,
    kind: EngineUpdateKind,
    offset: number,
    length: number,
    data: Buffer | undefined,
    version: number,
    chainVersion: number,
    /** A write's or replace's payload is checked against this CRC32C (ChecksumMismatch). */
    dataCrc?: number,
  ): Promise<EngineVersionInfo & { readonly removed: boolean }>;
  /**
   * A pending version sharing the committed blocks of the chunk `sourceKey`, which must be at
   * `sourceVersion` (0: absent, and the clone then removes the chunk); nothing is written, so the
   * pending version is in place when the call returns (its promise is settled already).
   */
  clone(
    key: Buffer,
    sourceKey: Buffer,
    sourceVersion: number,
    version: number,
    chainVersion: number,
  ): Promise<EngineVersionInfo & { readonly removed: boolean }>;
  commit(key: Buffer, version: number): Promise<EngineVersionInfo | undefined>;
  /**
   * The commits of several chunks with one metadata-log append: per key, its committed version
   * (undefined after a removal) or the Error it was refused with (no such pending version, busy);
   * rejects when the append failed, which fails them all.
   */
  commitMany(keys: Buffer[], versions: number[]): Promise<Array<EngineVersionInfo | undefined | Error>>;
  discard(key: Buffer): void;
  /** `into`, when it holds at least the bytes the read returns, receives them. */
  read(
    key: Buffer,
    offset: number,
    length: number,
    pending: boolean,
    into?: Buffer,
  ): Promise<EngineReadResult>;
  /**
   * The same read on the calling thread when every block it touches is in the page cache;
   * undefined when one is not, or on any failure (then `read` does it and reports the failure).
   */
  readCached(
    key: Buffer,
    offset: number,
    length: number,
    pending: boolean,
    into?: Buffer,
  ): EngineReadResult | undefined;
  /**
   * The same read submitted through the engine's io_uring and completed by the kernel (at once
   * when the page cache holds it), with no worker thread; undefined when the engine has no ring
   * (or no room in it now): then `readCached` or `read` does it.
   */
  readRing(
    key: Buffer,
    offset: number,
    length: number,
    pending: boolean,
    into?: Buffer,
  ): Promise<EngineReadResult> | undefined;
  sync(): Promise<void>;
  /** Rewrites the metadata log as a snapshot now (it also happens by itself as the log grows). */
  compact(): Promise<boolean>;
  close(): Promise<void>;
  stats(): {
    logBytes: number;
    logGeneration: number;
    usedSlots: number;
    /** Slots named by more than one chunk (clones sharing them). */
    sharedSlots: number;
    blockBytes: number;
    /** Reads that went around the page cache since the engine opened. */
    directReads: number;
    /** "io_uring" when small reads go through the engine's ring; otherwise why they do not. */
    readRing: string;
  };
}

/**
 * Storage.read answered without JavaScript on connections handed to it
 * (native/chunk-engine/src/read-server.h).
 */
export interface NativeReadServer {
  /** Serves the target's reads from `engine` (an engine this addon opened) while `readable`. */
  setTarget(targetId: number, engine: NativeChunkEngine, readable: boolean): void;
  setReadable(targetId: number, readable: boolean): void;
  removeTarget(targetId: number): void;
  /** Serves reads on a duplicate of `fd`: the channel's id (> 0), or a negative errno. */
  adopt(fd: number): number;
  isOpen(id: number): boolean;
  /** Closes channel `id`; reads in flight are dropped. */
  closeConnection(id: number): void;
  /** Reads served per target since the last call. */
  takeCounters(): Array<{ targetId: number; reads: number; bytes: number }>;
  readonly connections: number;
  close(): void;
}

interface ChunkEngineAddon {
  open(options: EngineOpenOptions): Promise<NativeChunkEngine>;
  ReadServer: new (readBytesMax: number) => NativeReadServer;
  crc32c(data: Buffer, initial?: number): number;
  crc32cCombine(first: number, second: number, secondLength: number): number;
  /** An ArrayBuffer of `size` bytes whose memory starts on a page (contents undefined). */
  alignedArrayBuffer(size: number): ArrayBuffer;
  readonly crc32cImplementation: string;
}

let addon: ChunkEngineAddon | undefined;

/** True when the addon is built (`npm run build`). */
export function nativeChunkEngineAvailable(): boolean {
  return findNativeAddon('chunk-engine') !== undefined;
}

/**
 * Page-aligned ArrayBuffers from the addon, for buffers the engine reads into around the page
 * cache; undefined when the addon is not built (the TypeScript store reads through the cache).
 */
export function pageAlignedAllocator(): ((size: number) => ArrayBuffer) | undefined {
  if (!nativeChunkEngineAvailable()) return undefined;
  const engine = chunkEngineAddon();
  return (size) => engine.alignedArrayBuffer(size);
}

/** The addon; throws a clear error naming the build step when it is not built. */
export function chunkEngineAddon(): ChunkEngineAddon {
  addon ??= loadNativeAddon('chunk-engine') as ChunkEngineAddon;
  return addon;
}

/** What the engine says went wrong, as the status code callers branch on. */
const codeOfEngineFailure: Readonly<Record<string, StatusCode>> = {
  io: CommonCode.IoError,
  'no-space': StorageCode.NoSpace,
  'corrupt-log': CommonCode.CorruptRecord,
  config: CommonCode.ConfigInvalid,
  // A closed engine is a target that no longer serves: callers retry elsewhere.
  closed: StorageCode.TargetNotServing,
  busy: StorageCode.ChunkBusy,
  invalid: CommonCode.InvalidArgument,
  'not-found': StorageCode.ChunkNotFound,
  corrupted: StorageCode.ChunkCorrupted,
  'out-of-range': StorageCode.OffsetOutOfRange,
  'length-mismatch': StorageCode.PayloadLengthMismatch,
  'too-large': StorageCode.PayloadTooLarge,
  'version-mismatch': StorageCode.ChunkVersionMismatch,
  'checksum-mismatch': StorageCode.ChecksumMismatch,
};

/**
 * A failure of the engine as reported: its kind, errno and, for corruption, the block (-1: the
 * whole chunk) and, for a read, the version it read.
 */
export interface EngineFailureDetail {
  readonly engineCode: string;
  readonly errno: number;
  readonly block: number;
  readonly version: number | undefined;
}

export function engineFailureDetail(error: unknown): EngineFailureDetail | undefined {
  if (!(error instanceof Error)) return undefined;
  const { engineCode, errno, block, version } = error as Error & Partial<Record<string, unknown>>;
  if (typeof engineCode !== 'string') return undefined;
  return {
    engineCode,
    errno: typeof errno === 'number' ? errno : 0,
    block: typeof block === 'number' ? block : -1,
    version: typeof version === 'number' ? version : undefined,
  };
}

/** The engine's error as an FsError (the original on `cause`); other errors pass through. */
export function toFsError(error: unknown, context: string): unknown {
  const detail = engineFailureDetail(error);
  if (detail === undefined) return error;
  const code = codeOfEngineFailure[detail.engineCode] ?? CommonCode.Internal;
  return new FsError(code, `${context}: ${(error as Error).message}`, { cause: error });
}
