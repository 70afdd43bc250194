/**
 * The chunk store of one target, as an interface: the TypeScript implementation
 * (file-chunk-store.ts) and the native chunk engine both provide it. Per chunk it keeps a
 * committed version and at most one pending version (DESIGN §7), each with the chain version it
 * was written under, its length and the CRC32C of its bytes.
 *
 * Contract:
 * - a crash at any instant leaves every chunk at its old or its new committed version;
 * - data is verified against its checksums on every read, and data that fails is never returned
 *   (the read fails with StorageCode.ChunkCorrupted);
 * - appends at the end of a chunk cost O(bytes written);
 * - the caller serializes updates of one chunk (prepare, then commit or discard); reads need no lock.
 */
import type { ChunkId } from '../protocol/index.js';
import type { NativeChunkEngine } from './native-chunk-engine.js';

/** One version of a chunk. Versions and chain versions are u32. */
export interface ChunkVersionInfo {
  readonly version: number;
  readonly chainVersion: number;
  readonly length: number;
  /** CRC32C of the version's `length` bytes. */
  readonly checksum: number;
}

/** A pending version; `removed` when the update in flight deletes the chunk. */
export interface PendingVersionInfo extends ChunkVersionInfo {
  readonly removed: boolean;
}

export interface ChunkInfo {
  readonly chunkId: ChunkId;
  /** Undefined for a chunk that exists only as a pending version so far. */
  readonly committed: ChunkVersionInfo | undefined;
  readonly pending: PendingVersionInfo | undefined;
}

/**
 * An update with its bytes (see ChunkUpdateOp in the protocol for the meaning of each kind).
 * `dataChecksum`, when given, is the CRC32C of `data`, already verified by the caller; the store
 * then need not compute it again. `checkAgainst`, when given, is the CRC32C `data` must have but
 * nobody checked yet: the store checks it before the update can be committed, and refuses a
 * mismatch with StorageCode.ChecksumMismatch (the native engine from the block checksums it sums
 * anyway, so the bytes are summed once).
 */
export type ChunkUpdate =
  | {
      readonly kind: 'write';
      readonly offset: number;
      readonly data: Buffer;
      readonly dataChecksum?: number;
      readonly checkAgainst?: number;
    }
  | {
      readonly kind: 'replace';
      readonly data: Buffer;
      readonly dataChecksum?: number;
      readonly checkAgainst?: number;
    }
  | { readonly kind: 'truncate'; readonly length: number }
  | { readonly kind: 'remove' }
  | { readonly kind: 'zero'; readonly offset: number; readonly length: number }
  /**
   * The committed version of chunk `source` (of this target), which must be at `sourceVersion`
   * (0: absent, and the chunk is then removed), else StorageCode.ChunkVersionMismatch. The native
   * engine shares the source's blocks (copy on write); the files store copies the bytes.
   */
  | { readonly kind: 'clone'; readonly source: ChunkId; readonly sourceVersion: number };

/** What a read returns: the bytes (already verified), their CRC32C, and the version they belong to. */
export interface ChunkReadResult {
  readonly data: Buffer;
  readonly checksum: number;
  readonly info: ChunkVersionInfo;
  readonly uncommitted: boolean;
}

/** Summary of a file's committed chunks in an index range of one target. */
export interface LastChunkSummary {
  readonly last: { readonly index: number; readonly version: number; readonly length: number } | undefined;
  readonly chunkCount: number;
  readonly totalBytes: number;
  readonly uncommittedCount: number;
}

/** Disk usage of the file system holding a target. */
export interface DiskUsage {
  readonly usedBytes: number;
  readonly capacityBytes: number;
  readonly freeBytes: number;
}

export interface ChunkStore {
  /**
   * The native engine behind the store, for the read server (read-channels.ts), while it can
   * serve it; absent or undefined for every other store.
   */
  readServerEngine?(): NativeChunkEngine | undefined;

  /** The chunk's versions, or undefined when it has neither. */
  stat(chunkId: ChunkId): ChunkInfo | undefined;

  /** True when the chunk has a pending version (cheaper than `stat`). */
  hasPending(chunkId: ChunkId): boolean;

  /**
   * Builds the pending version `version` (greater than the committed one) from the committed
   * version and `update`, replacing any pending version. The data is durable when this resolves;
   * readers of the committed version are not disturbed.
   */
  prepare(
    chunkId: ChunkId,
    update: ChunkUpdate,
    options: { version: number; chainVersion: number },
  ): Promise<PendingVersionInfo>;

  /** Makes the pending version `version` the committed one, atomically; undefined after a remove. */
  commit(chunkId: ChunkId, version: number): Promise<ChunkVersionInfo | undefined>;

  /** Drops the pending version, if any. */
  discardPending(chunkId: ChunkId): Promise<void>;

  /**
   * Reads [offset, offset + length) of the committed version (or of the pending one when
   * `pending` and there is one), cut at the version's end. Fails with ChunkNotFound or ChunkCorrupted.
   * `into`, a buffer of at least `length` bytes, may receive the bytes (the result's `data` is then
   * a view of it); a store is free to return bytes of its own instead.
   */
  read(
    chunkId: ChunkId,
    range: { offset: number; length: number; pending: boolean; into?: Buffer | undefined },
  ): Promise<ChunkReadResult>;

  /** Committed chunks in chunk id order after `after` (from the start when undefined). */
  list(options: { after: ChunkId | undefined; limit: number }): ChunkInfo[];

  /** The committed chunks of `inode` with indexes in [beginIndex, endIndex). */
  lastChunk(options: { inode: bigint; beginIndex: number; endIndex: number }): LastChunkSummary;

  /** Committed chunk count and bytes. */
  totals(): { chunkCount: number; committedBytes: number };

  /** Usage of the file system the target lives on. */
  diskUsage(): Promise<DiskUsage>;

  /**
   * Makes every version committed before the call survive power loss. A store opened `durable`
   * already does that at each prepare and commit; one opened without defers it to this call.
   */
  sync(): Promise<void>;

  close(): Promise<void>;
}
