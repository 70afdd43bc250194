/**
 * The TypeScript chunk store: chunk metadata in sqlite (chunk-metadata-db.ts), chunk bytes in one
 * data file per chunk generation (chunk-files.ts). Why it is crash safe:
 *
 * - A committed version names a data file generation and a length; bytes inside that length are
 *   never written again (update-plan.ts). Appends write past the length into the same file;
 *   any other change writes a new generation. Either way the committed version's bytes stay put.
 * - Zeroing a range (fallocate's punch hole) is no exception: the new generation is written
 *   around the range, which stays a hole of the file system, and replaces the old one at commit.
 * - Data is written (and, when `durable`, fdatasync'ed with its directory entry) before the
 *   metadata that points at it commits, in one sqlite transaction. A crash before that commit
 *   leaves the old version and at most an orphan file, deleted at the next start; after it, the
 *   new version is complete.
 * - Pending versions live in memory only. A storage process that restarts goes through recovery
 *   before it serves again (DESIGN §7), so an in-flight update lost in a crash is never missed;
 *   keeping them out of sqlite saves one synchronous transaction per replica and write.
 * - Every read verifies the block checksums of the bytes it returns (and a whole-chunk read the
 *   chunk's CRC32C too). A read that races a commit can see bytes of the next version; it then
 *   finds the version changed and reads again, so only data that fails against an unchanged
 *   version is reported as corruption.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32c } from '../../common/crc32c.js';
import { FsError, assert, describeError } from '../../common/errors.js';
import { limits } from '../../common/limits.js';
import type { Logger } from '../../common/logger.js';
import { CommonCode, StorageCode } from '../../common/status-code.js';
import { compareChunkIds, formatChunkId, parseChunkId, type ChunkId } from '../protocol/index.js';
import {
  computeBlockChecksums,
  computeChunkChecksums,
  extendBlockChecksums,
  shrinkBlockChecksums,
  verifyBlocks,
} from './block-checksums.js';
import { ChunkDataFiles } from './chunk-files.js';
import { ChunkMetadataDb, type StoredVersion } from './chunk-metadata-db.js';
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
import { CommitBatcher } from './commit-batcher.js';
import { checkFreeSpace, statfsProbe, type FreeSpaceProbe } from './free-space.js';
import { checkChunkIdInput, checkPayloadChecksum, checkReadInput, checkUpdateInput } from './update-input.js';
import { planUpdate, plannedWriteBytes, type UpdatePlan } from './update-plan.js';

/** A corruption found by a read, for the owner's counters. */
export interface CorruptionEvent {
  readonly chunkId: ChunkId;
  readonly version: number;
  readonly detail: string;
}

export interface FileChunkStoreOptions {
  readonly targetId: number;
  /** The target directory. */
  readonly path: string;
  /** fdatasync data and directory entries and fsync every metadata commit (survives power loss). */
  readonly durable: boolean;
  /** Free space an update must leave; below it the update fails with NoSpace before writing. */
  readonly freeSpaceReserveBytes: number;
  readonly logger: Logger;
  readonly freeSpace?: FreeSpaceProbe;
  readonly blockBytes?: number;
  /** Data files kept open for reads (see readHandlesPerTarget in storage-node.ts). */
  readonly readHandlesMax?: number;
  readonly onCorruption?: (event: CorruptionEvent) => void;
}

/** A pending version with what the store needs to commit or drop it. */
interface PendingEntry extends PendingVersionInfo {
  readonly generation: number;
  readonly blockChecksums: Buffer;
  /** True when the pending version created its data file (a new generation or a new chunk). */
  readonly ownsFile: boolean;
}

/** The bytes a read will look at: a committed version or a pending one. */
type ReadSource =
  (StoredVersion & { readonly uncommitted: false }) | (PendingEntry & { readonly uncommitted: true });

const emptyChecksums = Buffer.alloc(0);

function isNoSpace(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

export class FileChunkStore implements ChunkStore {
  private readonly pending = new Map<string, PendingEntry>();
  private readonly preparing = new Set<string>();
  private readonly batcher: CommitBatcher;
  private readonly blockBytes: number;
  private readonly freeSpace: FreeSpaceProbe;
  private readonly logger: Logger;
  private closed = false;

  private constructor(
    private readonly options: FileChunkStoreOptions,
    private readonly database: ChunkMetadataDb,
    private readonly files: ChunkDataFiles,
  ) {
    this.batcher = new CommitBatcher(database);
    this.blockBytes = options.blockBytes ?? limits.storageChecksumBlockBytes;
    this.freeSpace = options.freeSpace ?? statfsProbe(options.path);
    this.logger = options.logger.child({ targetId: options.targetId });
    assert(Number.isInteger(this.blockBytes) && this.blockBytes > 0, 'blockBytes is a positive integer');
  }

  /** Opens the target directory (creating it when absent) and deletes data files no version uses. */
  static async open(options: FileChunkStoreOptions): Promise<FileChunkStore> {
    await mkdir(options.path, { recursive: true });
    if (existsSync(join(options.path, 'chunk-engine'))) {
      throw new FsError(
        CommonCode.ConfigInvalid,
        `target directory ${options.path} holds a "native" chunk engine; it cannot be opened with chunk_engine = "files"`,
      );
    }
    const database = ChunkMetadataDb.open({
      path: join(options.path, 'chunks.db'),
      targetId: options.targetId,
      synchronous: options.durable ? 'full' : 'normal',
    });
    try {
      const files = await ChunkDataFiles.open(options.path, {
        durable: options.durable,
        readHandlesMax: options.readHandlesMax ?? limits.storageReadHandlesPerTargetMin,
      });
      const store = new FileChunkStore(options, database, files);
      await store.collectGarbage();
      return store;
    } catch (error) {
      database.close();
      throw error;
    }
  }

  stat(chunkId: ChunkId): ChunkInfo | undefined {
    this.checkOpen();
    checkChunkIdInput(chunkId);
    const committed = this.database.get(chunkId);
    const pending = this.pending.get(formatChunkId(chunkId));
    if (committed === undefined && pending === undefined) return undefined;
    return {
      chunkId,
      committed: committed && publicInfo(committed),
      pending: pending && pendingInfo(pending),
    };
  }

  hasPending(chunkId: ChunkId): boolean {
    this.checkOpen();
    checkChunkIdInput(chunkId);
    return this.pending.has(formatChunkId(chunkId));
  }

  async prepare(
    chunkId: ChunkId,
    update: ChunkUpdate,
    options: { version: number; chainVersion: number },
  ): Promise<PendingVersionInfo> {
    this.checkOpen();
    checkChunkIdInput(chunkId);
    checkUpdateInput(update, limits.storageChunkBytesMax);
    checkPayloadChecksum(update);
    const key = formatChunkId(chunkId);
    assert(!this.preparing.has(key), 'the caller serializes updates of a chunk');
    this.preparing.add(key);
    try {
      await this.discardPending(chunkId);
      const resolved = update.kind === 'clone' ? await this.cloneAsCopy(chunkId, update) : update;
      const committed = this.database.get(chunkId);
      assert(
        options.version > (committed?.version ?? 0),
        'a pending version is newer than the committed one',
      );
      const plan = planUpdate(committed?.length, resolved);
      if (plan.kind !== 'remove' && plan.kind !== 'shrink') {
        assert(plan.newLength <= limits.storageChunkBytesMax, 'checkUpdateInput bounds the chunk size');
      }
      await this.checkFreeSpace(plannedWriteBytes(plan));
      const entry = await this.carryOut(chunkId, plan, committed, options);
      // Re-check after the awaits: nothing else may have touched this chunk meanwhile.
      assert(this.database.get(chunkId)?.version === committed?.version, 'the committed version held still');
      assert(!this.pending.has(key), 'no other pending version appeared');
      this.pending.set(key, entry);
      return pendingInfo(entry);
    } finally {
      this.preparing.delete(key);
    }
  }

  async commit(chunkId: ChunkId, version: number): Promise<ChunkVersionInfo | undefined> {
    this.checkOpen();
    checkChunkIdInput(chunkId);
    const key = formatChunkId(chunkId);
    const entry = this.pending.get(key);
    assert(entry !== undefined && entry.version === version, `chunk ${key} has pending version ${version}`);
    const previous = this.database.get(chunkId);
    const stored: StoredVersion | undefined = entry.removed
      ? undefined
      : {
          version: entry.version,
          chainVersion: entry.chainVersion,
          length: entry.length,
          checksum: entry.checksum,
          generation: entry.generation,
          blockChecksums: entry.blockChecksums,
        };
    await this.batcher.commit({ chunkId, version: stored }, () => this.pending.delete(key));
    if (previous !== undefined && previous.generation !== stored?.generation) {
      // The old generation is no longer referenced; a crash before this delete leaves an orphan
      // that the next start collects.
      await this.files
        .remove(chunkId, previous.generation)
        .catch((error: unknown) =>
          this.logger.warn(
            { err: error, chunkId: key },
            `cannot delete an old chunk data file: ${describeError(error)}`,
          ),
        );
    }
    return stored && publicInfo(stored);
  }

  async discardPending(chunkId: ChunkId): Promise<void> {
    this.checkOpen();
    checkChunkIdInput(chunkId);
    const key = formatChunkId(chunkId);
    const entry = this.pending.get(key);
    if (entry === undefined) return;
    this.pending.delete(key);
    const committed = this.database.get(chunkId);
    if (entry.ownsFile && committed?.generation !== entry.generation) {
      await this.files.remove(chunkId, entry.generation);
    }
  }

  async read(
    chunkId: ChunkId,
    range: { offset: number; length: number; pending: boolean },
  ): Promise<ChunkReadResult> {
    this.checkOpen();
    checkChunkIdInput(chunkId);
    checkReadInput(range, limits.storageChunkBytesMax);
    for (let attempt = 1; attempt <= limits.storageReadAttemptsMax; attempt++) {
      const source = this.readSource(chunkId, range.pending);
      const outcome = await this.readVerified(chunkId, source, range);
      if (outcome.data !== undefined) {
        return {
          data: outcome.data,
          checksum: outcome.checksum,
          info: publicInfo(source),
          uncommitted: source.uncommitted,
        };
      }
      if (this.sameSource(source, this.readSource(chunkId, range.pending))) {
        this.reportCorruption(chunkId, source, outcome.problem);
        throw new FsError(
          StorageCode.ChunkCorrupted,
          `chunk ${formatChunkId(chunkId)} version ${source.version} on target ${this.options.targetId} is corrupted: ${outcome.problem}`,
        );
      }
    }
    throw new FsError(
      StorageCode.ChunkBusy,
      `chunk ${formatChunkId(chunkId)} changed during each of ${limits.storageReadAttemptsMax} read attempts`,
    );
  }

  list(options: { after: ChunkId | undefined; limit: number }): ChunkInfo[] {
    this.checkOpen();
    const listed: ChunkInfo[] = this.database
      .list(options.after, options.limit)
      .map(({ chunkId, version }) => {
        const entry = this.pending.get(formatChunkId(chunkId));
        return { chunkId, committed: publicInfo(version), pending: entry && pendingInfo(entry) };
      });
    // Chunks that exist only as a pending version (their first update is in flight) are listed
    // too, in order, within the range the committed rows cover: recovery must see them.
    const after = options.after === undefined ? undefined : formatChunkId(options.after);
    const last = listed.length === options.limit ? listed[listed.length - 1] : undefined;
    const before = last === undefined ? undefined : formatChunkId(last.chunkId);
    let added = false;
    for (const [key, entry] of this.pending) {
      if ((after !== undefined && key <= after) || (before !== undefined && key >= before)) continue;
      const chunkId = parseChunkId(key);
      assert(chunkId !== undefined, 'pending entries are keyed by formatted chunk ids');
      if (this.database.get(chunkId) !== undefined) continue;
      listed.push({ chunkId, committed: undefined, pending: pendingInfo(entry) });
      added = true;
    }
    if (!added) return listed;
    listed.sort((a, b) => compareChunkIds(a.chunkId, b.chunkId));
    return listed.slice(0, options.limit);
  }

  lastChunk(options: { inode: bigint; beginIndex: number; endIndex: number }): LastChunkSummary {
    this.checkOpen();
    const { inode, beginIndex, endIndex } = options;
    assert(beginIndex >= 0 && beginIndex <= endIndex && endIndex <= 0x1_0000_0000, 'a chunk index range');
    const begin = Buffer.alloc(12);
    begin.writeBigUInt64BE(inode, 0);
    begin.writeUInt32BE(beginIndex, 8);
    // One byte past the 12-byte key of index 2^32 - 1 sorts after every key of the inode.
    const end = Buffer.alloc(endIndex === 0x1_0000_0000 ? 13 : 12);
    end.writeBigUInt64BE(inode, 0);
    end.writeUInt32BE(Math.min(endIndex, 0xffff_ffff), 8);
    const found = this.database.lastInRange(begin, end);
    let uncommittedCount = 0;
    for (const entry of this.pending.keys()) {
      const [inodeHex, indexHex] = entry.split('-');
      const index = Number.parseInt(indexHex ?? '', 16);
      if (BigInt(`0x${inodeHex ?? ''}`) === inode && index >= beginIndex && index < endIndex)
        uncommittedCount++;
    }
    return {
      last:
        found.last === undefined
          ? undefined
          : {
              index: found.last.chunkId.index,
              version: found.last.version.version,
              length: found.last.version.length,
            },
      chunkCount: found.count,
      totalBytes: found.bytes,
      uncommittedCount,
    };
  }

  totals(): { chunkCount: number; committedBytes: number } {
    this.checkOpen();
    return this.database.totals();
  }

  diskUsage(): Promise<DiskUsage> {
    return this.freeSpace.probe();
  }

  /** Durable stores are synced at every prepare and commit; others sync their data files and WAL now. */
  async sync(): Promise<void> {
    this.checkOpen();
    if (this.options.durable) return;
    try {
      await this.files.syncWritten();
    } catch (error) {
      throw new FsError(
        CommonCode.IoError,
        `target ${this.options.targetId}: cannot sync chunk data files: ${describeError(error)}`,
        { cause: error },
      );
    }
    this.database.syncToDisk();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.files.close();
    this.database.close();
  }

  // --- updates --------------------------------------------------------------------------

  /**
   * A clone as this store carries it out: a replace by the source's committed bytes (read and
   * verified), or a remove when the source is absent. Correct, at the cost of the copy.
   */
  private async cloneAsCopy(
    chunkId: ChunkId,
    update: Extract<ChunkUpdate, { kind: 'clone' }>,
  ): Promise<ChunkUpdate> {
    if (compareChunkIds(chunkId, update.source) === 0) {
      throw new FsError(
        CommonCode.InvalidArgument,
        `chunk ${formatChunkId(chunkId)} is not cloned onto itself`,
      );
    }
    const found = this.database.get(update.source)?.version ?? 0;
    if (found === 0 && update.sourceVersion === 0) return { kind: 'remove' };
    if (found === update.sourceVersion) {
      const source = await this.read(update.source, {
        offset: 0,
        length: limits.storageChunkBytesMax,
        pending: false,
      });
      if (source.info.version === update.sourceVersion) {
        return { kind: 'replace', data: source.data, dataChecksum: source.checksum };
      }
    }
    throw new FsError(
      StorageCode.ChunkVersionMismatch,
      `the clone's source chunk ${formatChunkId(update.source)} is not at version ${update.sourceVersion}`,
    );
  }

  private async checkFreeSpace(bytes: number): Promise<void> {
    await checkFreeSpace(this.freeSpace, bytes, this.options);
  }

  /** Writes what `plan` needs and returns the pending version; maps disk errors to status codes. */
  private async carryOut(
    chunkId: ChunkId,
    plan: UpdatePlan,
    committed: StoredVersion | undefined,
    options: { version: number; chainVersion: number },
  ): Promise<PendingEntry> {
    const base = { version: options.version, chainVersion: options.chainVersion, removed: false };
    const createdGeneration =
      plan.kind === 'rewrite' || plan.kind === 'zero'
        ? (committed?.generation ?? 0) + 1
        : committed === undefined
          ? 1
          : 0;
    try {
      switch (plan.kind) {
        case 'append':
          return { ...base, ...(await this.append(chunkId, plan, committed)) };
        case 'shrink':
          return { ...base, ...(await this.shrink(chunkId, plan.newLength, committed)) };
        case 'rewrite':
          return { ...base, ...(await this.rewrite(chunkId, plan, committed)) };
        case 'zero':
          return { ...base, ...(await this.zero(chunkId, plan, committed)) };
        case 'remove':
          return {
            ...base,
            removed: true,
            length: 0,
            checksum: 0,
            generation: committed?.generation ?? 1,
            blockChecksums: emptyChecksums,
            ownsFile: false,
          };
      }
    } catch (error) {
      if (createdGeneration > 0) await this.files.remove(chunkId, createdGeneration).catch(() => undefined);
      if (error instanceof FsError) throw error;
      if (isNoSpace(error)) {
        throw new FsError(StorageCode.NoSpace, `target ${this.options.targetId}: the disk is full`, {
          cause: error,
        });
      }
      throw new FsError(
        CommonCode.IoError,
        `target ${this.options.targetId}: cannot write chunk ${formatChunkId(chunkId)}: ${describeError(error)}`,
        { cause: error },
      );
    }
  }

  private async append(
    chunkId: ChunkId,
    plan: Extract<UpdatePlan, { kind: 'append' }>,
    committed: StoredVersion | undefined,
  ): Promise<Omit<PendingEntry, 'version' | 'chainVersion' | 'removed'>> {
    const baseLength = committed?.length ?? 0;
    const zeros = Buffer.alloc(plan.zeroFillBytes);
    const generation = committed?.generation ?? 1;
    await this.files.writeAt(chunkId, generation, {
      position: baseLength,
      segments: [zeros, plan.data],
      create: committed === undefined,
    });
    let blockChecksums = committed?.blockChecksums ?? emptyChecksums;
    let checksum = committed?.checksum ?? 0;
    let length = baseLength;
    for (const segment of [zeros, plan.data]) {
      if (segment.length === 0) continue;
      blockChecksums = extendBlockChecksums({
        checksums: blockChecksums,
        oldLength: length,
        appended: segment,
        blockBytes: this.blockBytes,
      });
      checksum = crc32c(segment, checksum);
      length += segment.length;
    }
    assert(length === plan.newLength, 'an append ends at the planned length');
    return { length, checksum, generation, blockChecksums, ownsFile: committed === undefined };
  }

  private async shrink(
    chunkId: ChunkId,
    newLength: number,
    committed: StoredVersion | undefined,
  ): Promise<Omit<PendingEntry, 'version' | 'chainVersion' | 'removed'>> {
    assert(committed !== undefined, 'only an existing chunk shrinks');
    // The chunk's CRC32C covers all of it, so the remaining prefix is read (and verified) once.
    const prefix = await this.readCommittedPrefix(chunkId, committed, newLength);
    const lastBlockStart = Math.floor(newLength / this.blockBytes) * this.blockBytes;
    return {
      length: newLength,
      checksum: crc32c(prefix),
      generation: committed.generation,
      blockChecksums: shrinkBlockChecksums({
        checksums: committed.blockChecksums,
        newLength,
        lastBlock: prefix.subarray(lastBlockStart),
        blockBytes: this.blockBytes,
      }),
      ownsFile: false,
    };
  }

  private async rewrite(
    chunkId: ChunkId,
    plan: Extract<UpdatePlan, { kind: 'rewrite' }>,
    committed: StoredVersion | undefined,
  ): Promise<Omit<PendingEntry, 'version' | 'chainVersion' | 'removed'>> {
    let content: Buffer;
    // A replace's bytes are the new chunk: their checksum, when the caller verified it, is the chunk's.
    let knownChecksum: number | undefined;
    if (plan.keepBytes === 0 && plan.patchOffset === 0 && plan.data.length === plan.newLength) {
      content = plan.data;
      knownChecksum = plan.dataChecksum;
    } else {
      assert(
        committed !== undefined && plan.keepBytes === committed.length,
        'a rewrite keeps the committed bytes',
      );
      content = Buffer.alloc(plan.newLength);
      (await this.readCommittedPrefix(chunkId, committed, plan.keepBytes)).copy(content);
      plan.data.copy(content, plan.patchOffset);
    }
    const generation = (committed?.generation ?? 0) + 1;
    await this.files.create(chunkId, generation, [content]);
    const checksums =
      knownChecksum === undefined
        ? computeChunkChecksums(content, this.blockBytes)
        : { checksum: knownChecksum, blockChecksums: computeBlockChecksums(content, this.blockBytes) };
    return { length: content.length, ...checksums, generation, ownsFile: true };
  }

  /**
   * A new generation equal to the committed version with a range zeroed, written around the range:
   * the file system leaves it a hole, so the blocks under it take no space once the old generation
   * is deleted at commit.
   */
  private async zero(
    chunkId: ChunkId,
    plan: Extract<UpdatePlan, { kind: 'zero' }>,
    committed: StoredVersion | undefined,
  ): Promise<Omit<PendingEntry, 'version' | 'chainVersion' | 'removed'>> {
    assert(
      committed !== undefined && plan.keepBytes === committed.length,
      'a zeroed range lies in a committed chunk',
    );
    const zeroEnd = plan.zeroOffset + plan.zeroLength;
    assert(plan.zeroLength > 0 && zeroEnd < plan.newLength, 'the planned range is inside the chunk');
    const content = await this.readCommittedPrefix(chunkId, committed, plan.keepBytes);
    content.fill(0, plan.zeroOffset, zeroEnd);
    const generation = committed.generation + 1;
    await this.files.createSparse(chunkId, generation, {
      length: content.length,
      pieces: [
        { position: 0, data: content.subarray(0, plan.zeroOffset) },
        { position: zeroEnd, data: content.subarray(zeroEnd) },
      ],
    });
    return {
      length: content.length,
      ...computeChunkChecksums(content, this.blockBytes),
      generation,
      ownsFile: true,
    };
  }

  /** The first `length` bytes of the committed version, verified; corruption fails the update. */
  private async readCommittedPrefix(
    chunkId: ChunkId,
    committed: StoredVersion,
    length: number,
  ): Promise<Buffer> {
    const source = { ...committed, uncommitted: false as const };
    const outcome = await this.readVerified(chunkId, source, { offset: 0, length });
    if (outcome.data === undefined) {
      this.reportCorruption(chunkId, source, outcome.problem);
      throw new FsError(
        StorageCode.ChunkCorrupted,
        `chunk ${formatChunkId(chunkId)} version ${committed.version} on target ${this.options.targetId} is corrupted: ${outcome.problem}`,
      );
    }
    return outcome.data;
  }

  // --- reads ----------------------------------------------------------------------------

  private readSource(chunkId: ChunkId, pending: boolean): ReadSource {
    const entry = pending ? this.pending.get(formatChunkId(chunkId)) : undefined;
    if (entry !== undefined && !entry.removed) return { ...entry, uncommitted: true };
    const committed = entry === undefined ? this.database.get(chunkId) : undefined;
    if (committed === undefined) {
      throw new FsError(
        StorageCode.ChunkNotFound,
        `chunk ${formatChunkId(chunkId)} does not exist on target ${this.options.targetId}`,
      );
    }
    return { ...committed, uncommitted: false };
  }

  private sameSource(a: ReadSource, b: ReadSource): boolean {
    return (
      a.uncommitted === b.uncommitted &&
      a.version === b.version &&
      a.generation === b.generation &&
      a.length === b.length &&
      a.checksum === b.checksum
    );
  }

  /**
   * Reads the blocks under [offset, offset + length) of `source` and verifies them. Returns the
   * requested bytes, or the problem found (which may be a race with an update; the caller decides).
   */
  private async readVerified(
    chunkId: ChunkId,
    source: ReadSource,
    range: { offset: number; length: number },
  ): Promise<{ data: Buffer; checksum: number; problem?: never } | { data?: never; problem: string }> {
    const start = Math.min(range.offset, source.length);
    const end = Math.min(source.length, range.offset + range.length);
    if (end <= start) return { data: Buffer.alloc(0), checksum: 0 };
    const blockStart = Math.floor(start / this.blockBytes) * this.blockBytes;
    const blockEnd = Math.min(source.length, Math.ceil(end / this.blockBytes) * this.blockBytes);
    let data: Buffer;
    try {
      data = await this.files.read(chunkId, source.generation, blockStart, blockEnd - blockStart);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { problem: 'its data file is missing' };
      throw new FsError(
        CommonCode.IoError,
        `target ${this.options.targetId}: cannot read chunk ${formatChunkId(chunkId)}: ${describeError(error)}`,
        { cause: error },
      );
    }
    if (data.length < blockEnd - blockStart) {
      return {
        problem: `its data file ends at ${blockStart + data.length}, before the length ${source.length}`,
      };
    }
    const verified = verifyBlocks({
      checksums: source.blockChecksums,
      start: blockStart,
      data,
      blockBytes: this.blockBytes,
    });
    if (verified.badBlock >= 0) return { problem: `block ${verified.badBlock} fails its CRC32C` };
    if (blockStart === 0 && blockEnd === source.length && verified.checksum !== source.checksum) {
      return { problem: 'the chunk fails its CRC32C' };
    }
    if (start === blockStart && end === blockEnd) return { data, checksum: verified.checksum };
    const requested = data.subarray(start - blockStart, end - blockStart);
    return { data: requested, checksum: crc32c(requested) };
  }

  private reportCorruption(chunkId: ChunkId, source: ReadSource, problem: string): void {
    const event = { chunkId, version: source.version, detail: problem };
    this.logger.error(
      {
        chunkId: formatChunkId(chunkId),
        version: source.version,
        generation: source.generation,
        uncommitted: source.uncommitted,
        problem,
      },
      'chunk checksum mismatch',
    );
    this.options.onCorruption?.(event);
  }

  // --- start-up -------------------------------------------------------------------------

  /** Deletes data files that no committed version refers to (left by crashes or dropped updates). */
  private async collectGarbage(): Promise<void> {
    let removed = 0;
    for (const entry of await this.files.list()) {
      if (entry.chunkId === undefined) {
        this.logger.warn(
          { path: entry.path },
          'a file in the data directory is not a chunk data file; left alone',
        );
        continue;
      }
      if (this.database.get(entry.chunkId)?.generation === entry.generation) continue;
      await this.files.removePath(entry.path);
      removed++;
    }
    if (removed > 0) this.logger.info({ removed }, 'deleted chunk data files no committed version refers to');
  }

  private checkOpen(): void {
    // A closed store is a target that no longer serves: callers retry another replica.
    if (this.closed) {
      throw new FsError(StorageCode.TargetNotServing, `target ${this.options.targetId} is closed`);
    }
  }
}

function publicInfo(version: ChunkVersionInfo): ChunkVersionInfo {
  return {
    version: version.version,
    chainVersion: version.chainVersion,
    length: version.length,
    checksum: version.checksum,
  };
}

function pendingInfo(entry: PendingEntry): PendingVersionInfo {
  return { ...publicInfo(entry), removed: entry.removed };
}
