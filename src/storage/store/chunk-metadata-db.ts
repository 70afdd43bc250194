/**
 * The committed chunk metadata of one target in an embedded sqlite database (`<target>/chunks.db`,
 * WAL mode). One row per chunk holds its committed version: version, chain version, length,
 * CRC32C, the data file generation holding its bytes and the block checksums. Changing a row is
 * one sqlite transaction, so a commit is atomic; with `synchronous = full` the WAL is fsynced at
 * every commit and a committed version survives power loss, with `normal` it survives a crash of
 * the process. Pending versions are never stored here (see file-chunk-store.ts).
 *
 * Keys are 12-byte chunk ids (big-endian inode, index): sqlite compares BLOBs with memcmp, so the
 * table's order is chunk id order and one file's chunks are one key range.
 */
import Database from 'better-sqlite3';
import { z } from 'zod';
import { FsError, assert, describeError } from '../../common/errors.js';
import { limits } from '../../common/limits.js';
import { CommonCode, StorageCode } from '../../common/status-code.js';
import { decodeChunkId, encodeChunkId, type ChunkId } from '../protocol/index.js';
import type { ChunkVersionInfo } from './chunk-store.js';

/** A committed version as stored: the public fields plus where its bytes are and their block checksums. */
export interface StoredVersion extends ChunkVersionInfo {
  readonly generation: number;
  readonly blockChecksums: Buffer;
}

/** One change of a commit batch: a new committed version, or none (the chunk is removed). */
export interface MetadataChange {
  readonly chunkId: ChunkId;
  readonly version: StoredVersion | undefined;
}

export type MetadataSynchronous = 'full' | 'normal';

/** Bumped on any incompatible change of the tables. */
const formatVersion = 1;

const rowSchema = z.strictObject({
  chunk_id: z.instanceof(Buffer),
  version: z.number().int().min(0),
  chain_version: z.number().int().min(0),
  length: z.number().int().min(0),
  checksum: z.number().int().min(0).max(0xffff_ffff),
  generation: z.number().int().min(1),
  block_checksums: z.instanceof(Buffer),
});
type Row = z.infer<typeof rowSchema>;

function toStored(row: Row): StoredVersion {
  return {
    version: row.version,
    chainVersion: row.chain_version,
    length: row.length,
    checksum: row.checksum,
    generation: row.generation,
    blockChecksums: row.block_checksums,
  };
}

function parseRow(raw: unknown): Row {
  const parsed = rowSchema.safeParse(raw);
  if (!parsed.success) {
    throw new FsError(
      CommonCode.CorruptRecord,
      `a chunk metadata row has a bad shape: ${parsed.error.message}`,
    );
  }
  return parsed.data;
}

/** Maps an sqlite failure onto a status code: a full disk is NoSpace, anything else IoError. */
function metadataFailure(error: unknown, action: string): FsError {
  if (error instanceof FsError) return error;
  const code = error instanceof Database.SqliteError ? error.code : '';
  if (code === 'SQLITE_FULL') {
    return new FsError(StorageCode.NoSpace, `no space left to ${action}`, { cause: error });
  }
  return new FsError(CommonCode.IoError, `chunk metadata: cannot ${action}: ${describeError(error)}`, {
    cause: error,
  });
}

export class ChunkMetadataDb {
  private readonly getStatement: Database.Statement<[Buffer], unknown>;
  private readonly upsertStatement: Database.Statement<
    [Buffer, number, number, number, number, number, Buffer]
  >;
  private readonly deleteStatement: Database.Statement<[Buffer]>;
  private readonly listStatement: Database.Statement<[Buffer, number], unknown>;
  private readonly lastStatement: Database.Statement<[Buffer, Buffer], unknown>;
  private readonly rangeTotalsStatement: Database.Statement<[Buffer, Buffer], unknown>;
  private chunkCount = 0;
  private committedBytes = 0;
  /**
   * Recently read or written rows, parsed once, so a read does not query and validate its row
   * again (`null`: known to have no committed version). This object is the only writer of the
   * table and updates an entry after each commit, so the cache never disagrees with the table.
   * Least recently used entries go first (a Map iterates in insertion order).
   */
  private readonly cache = new Map<string, StoredVersion | null>();

  private constructor(private readonly database: Database.Database) {
    this.getStatement = database.prepare('SELECT * FROM chunks WHERE chunk_id = ?');
    this.upsertStatement = database.prepare(
      `INSERT INTO chunks (chunk_id, version, chain_version, length, checksum, generation, block_checksums)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (chunk_id) DO UPDATE SET version = excluded.version, chain_version = excluded.chain_version,
         length = excluded.length, checksum = excluded.checksum, generation = excluded.generation,
         block_checksums = excluded.block_checksums`,
    );
    this.deleteStatement = database.prepare('DELETE FROM chunks WHERE chunk_id = ?');
    this.listStatement = database.prepare(
      'SELECT * FROM chunks WHERE chunk_id > ? ORDER BY chunk_id LIMIT ?',
    );
    this.lastStatement = database.prepare(
      'SELECT * FROM chunks WHERE chunk_id >= ? AND chunk_id < ? ORDER BY chunk_id DESC LIMIT 1',
    );
    this.rangeTotalsStatement = database.prepare(
      'SELECT count(*) AS count, coalesce(sum(length), 0) AS bytes FROM chunks WHERE chunk_id >= ? AND chunk_id < ?',
    );
    const totals = database
      .prepare('SELECT count(*) AS count, coalesce(sum(length), 0) AS bytes FROM chunks')
      .get() as {
      count: number;
      bytes: number;
    };
    this.chunkCount = totals.count;
    this.committedBytes = totals.bytes;
  }

  /**
   * Opens the database at `path`, creating it when absent. A database created for another target
   * id is refused: a target directory must never be served under a different id.
   */
  static open(options: {
    path: string;
    targetId: number;
    synchronous: MetadataSynchronous;
  }): ChunkMetadataDb {
    let database: Database.Database | undefined;
    try {
      database = new Database(options.path);
      const journalMode: unknown = database.pragma('journal_mode = WAL', { simple: true });
      if (journalMode !== 'wal')
        throw new Error(`sqlite refused WAL mode (journal_mode is ${String(journalMode)})`);
      database.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
      database.exec(`
        CREATE TABLE IF NOT EXISTS target_info (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS chunks (
          chunk_id BLOB PRIMARY KEY NOT NULL,
          version INTEGER NOT NULL,
          chain_version INTEGER NOT NULL,
          length INTEGER NOT NULL,
          checksum INTEGER NOT NULL,
          generation INTEGER NOT NULL,
          block_checksums BLOB NOT NULL
        ) WITHOUT ROWID;
      `);
      checkIdentity(database, options.targetId);
      return new ChunkMetadataDb(database);
    } catch (error) {
      database?.close();
      if (error instanceof FsError) throw error;
      throw metadataFailure(error, `open ${options.path}`);
    }
  }

  get(chunkId: ChunkId): StoredVersion | undefined {
    const key = encodeChunkId(chunkId);
    const cacheKey = key.toString('latin1');
    const cached = this.cache.get(cacheKey);
    if (cached !== undefined) {
      this.cache.delete(cacheKey);
      this.cache.set(cacheKey, cached);
      return cached ?? undefined;
    }
    const raw = this.getStatement.get(key);
    const version = raw === undefined ? undefined : toStored(parseRow(raw));
    this.remember(cacheKey, version);
    return version;
  }

  private remember(cacheKey: string, version: StoredVersion | undefined): void {
    this.cache.delete(cacheKey);
    this.cache.set(cacheKey, version ?? null);
    if (this.cache.size > limits.storageChunkMetadataCachedMax) {
      const oldest = this.cache.keys().next();
      if (oldest.done !== true) this.cache.delete(oldest.value);
    }
  }

  /** Applies every change in one transaction: all of them become durable, or none. */
  apply(changes: readonly MetadataChange[]): void {
    const before = changes.map((change) => this.get(change.chunkId));
    try {
      this.database.transaction(() => {
        for (const change of changes) {
          const key = encodeChunkId(change.chunkId);
          const version = change.version;
          if (version === undefined) {
            this.deleteStatement.run(key);
          } else {
            this.upsertStatement.run(
              key,
              version.version,
              version.chainVersion,
              version.length,
              version.checksum,
              version.generation,
              version.blockChecksums,
            );
          }
        }
      })();
    } catch (error) {
      // The transaction rolled back: the table, and so the cache, are as before.
      throw metadataFailure(error, 'commit chunk metadata');
    }
    for (const change of changes)
      this.remember(encodeChunkId(change.chunkId).toString('latin1'), change.version);
    changes.forEach((change, index) => {
      const previous = before[index];
      if (previous !== undefined) {
        this.chunkCount -= 1;
        this.committedBytes -= previous.length;
      }
      if (change.version !== undefined) {
        this.chunkCount += 1;
        this.committedBytes += change.version.length;
      }
    });
    assert(this.chunkCount >= 0 && this.committedBytes >= 0, 'chunk totals stay non-negative');
  }

  /** Committed versions in chunk id order after `after`. */
  list(after: ChunkId | undefined, limit: number): Array<{ chunkId: ChunkId; version: StoredVersion }> {
    const start = after === undefined ? Buffer.alloc(0) : encodeChunkId(after);
    return this.listStatement.all(start, limit).map((raw) => {
      const row = parseRow(raw);
      return { chunkId: decodeChunkId(row.chunk_id), version: toStored(row) };
    });
  }

  /** The last committed chunk in [begin, end) and the count and bytes of all of them. */
  lastInRange(
    begin: Buffer,
    end: Buffer,
  ): { last: { chunkId: ChunkId; version: StoredVersion } | undefined; count: number; bytes: number } {
    const raw = this.lastStatement.get(begin, end);
    const totals = this.rangeTotalsStatement.get(begin, end) as { count: number; bytes: number };
    const last = raw === undefined ? undefined : parseRow(raw);
    return {
      last:
        last === undefined ? undefined : { chunkId: decodeChunkId(last.chunk_id), version: toStored(last) },
      count: totals.count,
      bytes: totals.bytes,
    };
  }

  totals(): { chunkCount: number; committedBytes: number } {
    return { chunkCount: this.chunkCount, committedBytes: this.committedBytes };
  }

  /**
   * Makes every committed transaction survive power loss: a full checkpoint syncs the WAL, copies
   * it into the database and syncs that (with `synchronous = normal` commits only reach the WAL).
   */
  syncToDisk(): void {
    try {
      this.database.pragma('wal_checkpoint(FULL)');
    } catch (error) {
      throw metadataFailure(error, 'sync chunk metadata');
    }
  }

  close(): void {
    this.database.close();
  }
}

function checkIdentity(database: Database.Database, targetId: number): void {
  const read = database.prepare<[string], { value: string }>('SELECT value FROM target_info WHERE key = ?');
  const storedTarget = read.get('target_id')?.value;
  const storedFormat = read.get('format')?.value;
  if (storedTarget === undefined) {
    const write = database.prepare('INSERT INTO target_info (key, value) VALUES (?, ?)');
    database.transaction(() => {
      write.run('target_id', String(targetId));
      write.run('format', String(formatVersion));
    })();
    return;
  }
  if (storedTarget !== String(targetId)) {
    throw new FsError(
      CommonCode.ConfigInvalid,
      `this target directory belongs to target ${storedTarget}, not to target ${targetId}`,
    );
  }
  if (storedFormat !== String(formatVersion)) {
    throw new FsError(
      CommonCode.ConfigInvalid,
      `chunk metadata format ${String(storedFormat)} is not supported (expected ${formatVersion})`,
    );
  }
}
