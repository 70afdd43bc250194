/**
 * The chunk store on the native chunk engine (native/chunk-engine; see its engine.cc for the
 * layout and the crash-safety argument): chunk data in size-class slots of large preallocated
 * files under `<target>/chunk-engine/`, copy-on-write per block, CRC32C in hardware on the engine's
 * threads, committed metadata in memory and in a group-committed log. This file adds what the
 * engine leaves to its caller: input checks shared with the TypeScript store (update-input.ts),
 * the free-space reserve, corruption reports, and status codes on every failure.
 *
 * With `durable`, a prepare resolves once its blocks are fdatasynced and a commit once its log
 * record is; without, both reach the page cache only, and `sync()` makes everything committed
 * before it durable (close does too). Commits asked for in one turn share one log append.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { FsError, assert, hasCode } from '../../common/errors.js';
import { limits } from '../../common/limits.js';
import type { Logger } from '../../common/logger.js';
import { CommonCode, StorageCode } from '../../common/status-code.js';
import { decodeChunkId, encodeChunkId, formatChunkId, type ChunkId } from '../protocol/index.js';
import type {
  ChunkInfo,
  ChunkReadResult,
  ChunkStore,
  ChunkUpdate,
  ChunkVersionInfo,
  DiskUsage,
  LastChunkSummary,
  PendingVersionInfo,
} from './chunk-store.js';
import type { FileChunkStoreOptions } from './file-chunk-store.js';
import { checkFreeSpace, statfsProbe, type FreeSpaceProbe } from './free-space.js';
import {
  EngineUpdateKind,
  chunkEngineAddon,
  engineFailureDetail,
  toFsError,
  type EngineChunkState,
  type EngineVersionInfo,
  type NativeChunkEngine,
} from './native-chunk-engine.js';
import { checkChunkIdInput, checkReadInput, checkUpdateInput } from './update-input.js';
import { planUpdate, plannedWriteBytes } from './update-plan.js';

/** The engine's sizes, each with why it is what it is. */
export const nativeChunkEngineDefaults = {
  /** The smallest slot: a small chunk's only block takes a 4 KiB slot (one page), not a whole block. */
  minSlotBytes: 4096,
  /** Bytes per data file: large enough that a target holds few files, small enough to copy. */
  dataFileBytes: 1024 * 1024 * 1024,
  /** A data file is preallocated this much ahead, so a full disk fails a prepare before it writes. */
  growBytes: 8 * 1024 * 1024,
  /** The metadata log is rewritten as a snapshot once past this size (and twice the last snapshot). */
  compactMinBytes: 64 * 1024 * 1024,
} as const;

/** The directory of the engine's files inside a target directory. */
export const nativeEngineDirectoryName = 'chunk-engine';

export interface NativeChunkStoreOptions extends FileChunkStoreOptions {
  readonly minSlotBytes?: number;
  readonly dataFileBytes?: number;
  readonly growBytes?: number;
  readonly compactMinBytes?: number;
  /** Largest chunk the store accepts (limits.storageChunkBytesMax when absent). */
  readonly chunkBytesMax?: number;
  /** Whole page-aligned blocks bypass the page cache (true when absent; `[storage] direct_writes`). */
  readonly directWrites?: boolean;
  /**
   * Reads of limits.storageDirectReadBytesMin or more into page-aligned buffers bypass the page
   * cache (true when absent; `[storage] direct_reads`).
   */
  readonly directReads?: boolean;
  /** Small reads through io_uring where the kernel allows it (true when absent; `[storage] io_uring`). */
  readonly readRing?: boolean;
}

/** A commit waiting for the others of its turn. */
interface QueuedCommit {
  readonly chunkId: ChunkId;
  readonly key: Buffer;
  readonly version: number;
  readonly resolve: (info: ChunkVersionInfo | undefined) => void;
  readonly reject: (error: unknown) => void;
}

export class NativeChunkStore implements ChunkStore {
  private readonly logger: Logger;
  private readonly freeSpace: FreeSpaceProbe;
  private readonly chunkBytesMax: number;
  /** The engine's block size (an existing engine keeps the one it was created with). */
  private readonly blockBytes: number;
  private closed = false;
  /** Commits of this turn of the event loop, sent to the engine together (flushCommits). */
  private queuedCommits: QueuedCommit[] = [];

  private constructor(
    private readonly options: NativeChunkStoreOptions,
    private readonly engine: NativeChunkEngine,
  ) {
    this.logger = options.logger.child({ targetId: options.targetId });
    this.freeSpace = options.freeSpace ?? statfsProbe(options.path);
    this.chunkBytesMax = options.chunkBytesMax ?? limits.storageChunkBytesMax;
    const stats = engine.stats();
    this.blockBytes = stats.blockBytes;
    if (stats.readRing === 'io_uring') {
      this.logger.info('small reads through io_uring');
    } else {
      this.logger.info({ reason: stats.readRing }, 'small reads through the engine threads, not io_uring');
    }
  }

  /** Opens the engine in `<path>/chunk-engine`, creating it when absent, and replays its log. */
  static async open(options: NativeChunkStoreOptions): Promise<NativeChunkStore> {
    await mkdir(options.path, { recursive: true });
    if (existsSync(join(options.path, 'chunks.db'))) {
      throw new FsError(
        CommonCode.ConfigInvalid,
        `target directory ${options.path} holds a "files" chunk store; it cannot be opened with chunk_engine = "native"`,
      );
    }
    const blockBytes = options.blockBytes ?? limits.storageChecksumBlockBytes;
    const chunkBytesMax = options.chunkBytesMax ?? limits.storageChunkBytesMax;
    let engine: NativeChunkEngine;
    try {
      engine = await chunkEngineAddon().open({
        directory: join(options.path, nativeEngineDirectoryName),
        targetId: options.targetId,
        blockBytes,
        minSlotBytes: Math.min(blockBytes, options.minSlotBytes ?? nativeChunkEngineDefaults.minSlotBytes),
        dataFileBytes: Math.max(blockBytes, options.dataFileBytes ?? nativeChunkEngineDefaults.dataFileBytes),
        growBytes: options.growBytes ?? nativeChunkEngineDefaults.growBytes,
        chunkBytesMax,
        compactMinBytes: options.compactMinBytes ?? nativeChunkEngineDefaults.compactMinBytes,
        durable: options.durable,
        directWrites: options.directWrites ?? true,
        directReadBytesMin: (options.directReads ?? true) ? limits.storageDirectReadBytesMin : 0,
        readRing: options.readRing ?? true,
      });
    } catch (error) {
      throw toFsError(error, `target ${options.targetId}: cannot open the chunk engine in ${options.path}`);
    }
    return new NativeChunkStore(options, engine);
  }

  /**
   * The engine, for the read server (read-channels.ts), while it is open and reads small ranges
   * through io_uring; undefined otherwise.
   */
  readServerEngine(): NativeChunkEngine | undefined {
    return !this.closed && this.engine.stats().readRing === 'io_uring' ? this.engine : undefined;
  }

  stat(chunkId: ChunkId): ChunkInfo | undefined {
    const state = this.call(() => this.engine.stat(this.keyOf(chunkId)), chunkId);
    if (state === undefined) return undefined;
    return chunkInfo(chunkId, state);
  }

  hasPending(chunkId: ChunkId): boolean {
    return this.call(() => this.engine.hasPending(this.keyOf(chunkId)), chunkId);
  }

  async prepare(
    chunkId: ChunkId,
    update: ChunkUpdate,
    options: { version: number; chainVersion: number },
  ): Promise<PendingVersionInfo> {
    const key = this.keyOf(chunkId);
    checkUpdateInput(update, this.chunkBytesMax);
    if (update.kind === 'clone') return this.prepareClone(chunkId, update, options);
    const committed = this.stat(chunkId)?.committed;
    await this.checkFreeSpace(this.writeBytesOf(update, committed?.length));
    this.checkOpen();
    const kind = EngineUpdateKind[update.kind];
    const offset = update.kind === 'write' || update.kind === 'zero' ? update.offset : 0;
    const length =
      update.kind === 'write' || update.kind === 'replace'
        ? update.data.length
        : update.kind === 'truncate' || update.kind === 'zero'
          ? update.length
          : 0;
    const data = update.kind === 'write' || update.kind === 'replace' ? update.data : undefined;
    // A payload nobody checked yet: the engine checks it from the block checksums it sums anyway.
    const checkAgainst =
      update.kind === 'write' || update.kind === 'replace' ? update.checkAgainst : undefined;
    try {
      const pending = await this.engine.prepare(
        key,
        kind,
        offset,
        length,
        data,
        options.version,
        options.chainVersion,
        checkAgainst,
      );
      return { ...versionInfo(pending), removed: pending.removed };
    } catch (error) {
      throw this.failure(error, chunkId, committed?.version ?? 0, 'prepare');
    }
  }

  /** A clone shares the source's committed blocks: metadata only, so no free space is needed. */
  private async prepareClone(
    chunkId: ChunkId,
    update: Extract<ChunkUpdate, { kind: 'clone' }>,
    options: { version: number; chainVersion: number },
  ): Promise<PendingVersionInfo> {
    const key = this.keyOf(chunkId);
    const sourceKey = this.keyOf(update.source);
    try {
      const pending = await this.engine.clone(
        key,
        sourceKey,
        update.sourceVersion,
        options.version,
        options.chainVersion,
      );
      return { ...versionInfo(pending), removed: pending.removed };
    } catch (error) {
      throw this.failure(error, chunkId, this.stat(chunkId)?.committed?.version ?? 0, 'clone');
    }
  }

  /**
   * Commits the pending `version`. Commits asked for in one turn of the event loop (a batch of
   * clones reaches every replica at once) go to the engine together, one metadata-log append for
   * all; each still succeeds or fails on its own (see commitMany).
   */
  async commit(chunkId: ChunkId, version: number): Promise<ChunkVersionInfo | undefined> {
    const key = this.keyOf(chunkId);
    return new Promise((resolve, reject) => {
      this.queuedCommits.push({ chunkId, key, version, resolve, reject });
      if (this.queuedCommits.length === 1) process.nextTick(() => this.flushCommits());
    });
  }

  /** Sends the commits of this turn: alone when it is one, else in one commitMany. */
  private flushCommits(): void {
    const batch = this.queuedCommits;
    this.queuedCommits = [];
    assert(batch.length > 0, 'a flush has commits to send');
    if (batch.length === 1) {
      const only = batch[0] as QueuedCommit;
      this.engine.commit(only.key, only.version).then(
        (committed) => only.resolve(committed && versionInfo(committed)),
        (error: unknown) => only.reject(this.failure(error, only.chunkId, only.version, 'commit')),
      );
      return;
    }
    this.engine
      .commitMany(
        batch.map((queued) => queued.key),
        batch.map((queued) => queued.version),
      )
      .then(
        (results) => {
          assert(results.length === batch.length, 'the engine answers every commit of a batch');
          batch.forEach((queued, index) => {
            const result = results[index];
            if (result instanceof Error) {
              queued.reject(this.failure(result, queued.chunkId, queued.version, 'commit'));
            } else {
              queued.resolve(result && versionInfo(result));
            }
          });
        },
        (error: unknown) => {
          for (const queued of batch)
            queued.reject(this.failure(error, queued.chunkId, queued.version, 'commit'));
        },
      );
  }

  async discardPending(chunkId: ChunkId): Promise<void> {
    const key = this.keyOf(chunkId);
    this.call(() => this.engine.discard(key), chunkId);
  }

  async read(
    chunkId: ChunkId,
    range: { offset: number; length: number; pending: boolean; into?: Buffer | undefined },
  ): Promise<ChunkReadResult> {
    const key = this.keyOf(chunkId);
    checkReadInput(range, this.chunkBytesMax);
    try {
      // A small read goes through the engine's io_uring (the kernel completes it, at once from the
      // page cache); without one, one whose blocks are all cached is read on this thread. Either
      // way it needs no thread-pool round trip.
      const into = range.into !== undefined && range.into.length >= range.length ? range.into : undefined;
      const small = range.length <= limits.storageCachedReadBytesMax;
      const ringed = small
        ? this.engine.readRing(key, range.offset, range.length, range.pending, into)
        : undefined;
      const cached =
        small && ringed === undefined
          ? this.engine.readCached(key, range.offset, range.length, range.pending, into)
          : undefined;
      const result =
        cached ?? (await (ringed ?? this.engine.read(key, range.offset, range.length, range.pending, into)));
      const data = result.data ?? into?.subarray(0, result.length);
      assert(data !== undefined, 'a read returns its bytes or fills the buffer it was given');
      return {
        data,
        checksum: result.checksum,
        info: versionInfo(result.info),
        uncommitted: result.uncommitted,
      };
    } catch (error) {
      throw this.failure(error, chunkId, this.versionRead(error, chunkId, range.pending), 'read');
    }
  }

  /**
   * The version a failed read was reading: the engine names it when the read found corruption
   * (so a report names what was read, even if a commit came meanwhile); otherwise the chunk's
   * version now, or 0 where there is none or the engine cannot say.
   */
  private versionRead(error: unknown, chunkId: ChunkId, pending: boolean): number {
    const named = engineFailureDetail(error)?.version;
    if (named !== undefined) return named;
    try {
      const state = this.stat(chunkId);
      return (pending ? state?.pending?.version : undefined) ?? state?.committed?.version ?? 0;
    } catch {
      return 0;
    }
  }

  list(options: { after: ChunkId | undefined; limit: number }): ChunkInfo[] {
    const after = options.after === undefined ? undefined : this.keyOf(options.after);
    const listed = this.call(() => this.engine.list(after, options.limit), options.after);
    return listed.map((entry) => chunkInfo(decodeChunkId(entry.key), entry));
  }

  lastChunk(options: { inode: bigint; beginIndex: number; endIndex: number }): LastChunkSummary {
    const { inode, beginIndex, endIndex } = options;
    assert(beginIndex >= 0 && beginIndex <= endIndex && endIndex <= 0x1_0000_0000, 'a chunk index range');
    checkChunkIdInput({ inode, index: 0 });
    return this.call(() => this.engine.summarize(inode, beginIndex, endIndex), undefined);
  }

  totals(): { chunkCount: number; committedBytes: number } {
    return this.call(() => this.engine.totals(), undefined);
  }

  diskUsage(): Promise<DiskUsage> {
    return this.freeSpace.probe();
  }

  async sync(): Promise<void> {
    this.checkOpen();
    try {
      await this.engine.sync();
    } catch (error) {
      throw toFsError(error, `target ${this.options.targetId}: cannot sync the chunk engine`);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.engine.close();
    } catch (error) {
      this.logger.warn({ err: error }, 'the chunk engine could not flush everything at close');
    }
  }

  /** The engine's counters and log position (for tests and diagnostics). */
  engineStats(): ReturnType<NativeChunkEngine['stats']> {
    return this.call(() => this.engine.stats(), undefined);
  }

  /** Rewrites the engine's metadata log as a snapshot now (for tests). */
  async compact(): Promise<void> {
    this.checkOpen();
    try {
      await this.engine.compact();
    } catch (error) {
      throw toFsError(error, `target ${this.options.targetId}: cannot compact the chunk engine's log`);
    }
  }

  // --- helpers ---------------------------------------------------------------------------

  private checkOpen(): void {
    if (this.closed) {
      throw new FsError(StorageCode.TargetNotServing, `target ${this.options.targetId} is closed`);
    }
  }

  private keyOf(chunkId: ChunkId): Buffer {
    this.checkOpen();
    checkChunkIdInput(chunkId);
    return encodeChunkId(chunkId);
  }

  /** Runs a synchronous engine call, turning its failures into status codes. */
  private call<T>(body: () => T, chunkId: ChunkId | undefined): T {
    this.checkOpen();
    try {
      return body();
    } catch (error) {
      // The id was checked before any engine call; formatting an unchecked one would assert.
      const where =
        chunkId === undefined ? '' : ` chunk (${String(chunkId.inode)}, ${String(chunkId.index)})`;
      throw toFsError(error, `target ${this.options.targetId}${where}`);
    }
  }

  /**
   * Bytes an update puts on disk. The engine copies on write per block, so zeroing a range writes
   * at most its two partial end blocks (whole blocks inside become holes), not the rest of the chunk.
   */
  private writeBytesOf(update: ChunkUpdate, committedLength: number | undefined): number {
    const planned = plannedWriteBytes(planUpdate(committedLength, update));
    if (update.kind !== 'zero') return planned;
    return Math.min(planned, 2 * this.blockBytes);
  }

  private async checkFreeSpace(bytes: number): Promise<void> {
    await checkFreeSpace(this.freeSpace, bytes, this.options);
  }

  /** The engine's failure as an FsError; corruption is logged and reported to the owner first. */
  private failure(error: unknown, chunkId: ChunkId, version: number, action: string): unknown {
    const converted = toFsError(
      error,
      `target ${this.options.targetId}: cannot ${action} chunk ${formatChunkId(chunkId)}`,
    );
    if (hasCode(converted, StorageCode.ChunkCorrupted)) {
      const detail = engineFailureDetail(error);
      const problem = (error as Error).message;
      this.logger.error(
        { chunkId: formatChunkId(chunkId), version, block: detail?.block, problem },
        'chunk checksum mismatch',
      );
      this.options.onCorruption?.({ chunkId, version, detail: problem });
      return new FsError(
        StorageCode.ChunkCorrupted,
        `chunk ${formatChunkId(chunkId)} version ${version} on target ${this.options.targetId} is corrupted: ${problem}`,
        { cause: error },
      );
    }
    return converted;
  }
}

function versionInfo(info: EngineVersionInfo): ChunkVersionInfo {
  return {
    version: info.version,
    chainVersion: info.chainVersion,
    length: info.length,
    checksum: info.checksum,
  };
}

function chunkInfo(chunkId: ChunkId, state: EngineChunkState): ChunkInfo {
  return {
    chunkId,
    committed: state.committed && versionInfo(state.committed),
    pending: state.pending && { ...versionInfo(state.pending), removed: state.removed },
  };
}
