/**
 * One better-sqlite3 connection to the KV database file: opening it (WAL mode, the chosen
 * `synchronous` level, the one table), its prepared statements, and the mapping of sqlite errors
 * onto KV status codes. The table is `kv (key BLOB PRIMARY KEY, value BLOB) WITHOUT ROWID`:
 * sqlite compares BLOBs with memcmp and a proper prefix first, which is exactly the KV key order.
 */
import Database from 'better-sqlite3';
import type { Clock } from '../common/clock.js';
import { FsError, describeError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { Random } from '../common/random.js';
import { KvCode } from '../common/status-code.js';
import type { KeyValue } from './kv.js';

/**
 * How a commit reaches the disk. `full`: the WAL is fsynced at every commit, so an acknowledged
 * commit survives power loss. `interval`: sqlite's NORMAL, and the engine fdatasyncs the WAL in the
 * background within the commit interval of a commit and on `sync()` (sqlite-wal-sync.ts): a commit
 * survives the death of any process at once and a power loss within the interval. `normal`: the
 * WAL is fsynced only at checkpoints and on `sync()`, so a commit survives the death of any
 * process but the last ones may be lost on power loss.
 */
export type SqliteSynchronous = 'full' | 'interval' | 'normal';

/** True for sqlite's "another connection holds the lock" family (SQLITE_BUSY, SQLITE_BUSY_*). */
export function isSqliteBusy(error: unknown): boolean {
  return error instanceof Database.SqliteError && error.code.startsWith('SQLITE_BUSY');
}

/** Maps an error thrown by sqlite while doing `action` onto a KV status code. */
export function sqliteFailure(error: unknown, action: string): FsError {
  if (error instanceof FsError) return error;
  if (isSqliteBusy(error)) {
    // Another process holds the database: the transaction may succeed when run again.
    return new FsError(KvCode.Conflict, `sqlite is locked by another connection while trying to ${action}`, {
      cause: error,
    });
  }
  return new FsError(KvCode.EngineFailure, `sqlite failed to ${action}: ${describeError(error)}`, {
    cause: error,
  });
}

type Row = [key: Buffer, value: Buffer];

export class SqliteConnection {
  private readonly getStatement: Database.Statement<[Buffer], Buffer>;
  private readonly rangeForward: Database.Statement<[Buffer, Buffer, number], Row>;
  private readonly rangeReverse: Database.Statement<[Buffer, Buffer, number], Row>;
  private readonly upsertStatement: Database.Statement<[Buffer, Buffer]>;
  private readonly deleteStatement: Database.Statement<[Buffer]>;
  private readonly deleteRangeStatement: Database.Statement<[Buffer, Buffer]>;
  private readonly beginDeferred: Database.Statement<[]>;
  private readonly beginImmediate: Database.Statement<[]>;
  private readonly commitStatement: Database.Statement<[]>;
  private readonly rollbackStatement: Database.Statement<[]>;

  private constructor(private readonly database: Database.Database) {
    this.getStatement = database.prepare<[Buffer], Buffer>('SELECT value FROM kv WHERE key = ?').pluck();
    this.rangeForward = database
      .prepare<[Buffer, Buffer, number], Row>(
        'SELECT key, value FROM kv WHERE key >= ? AND key < ? ORDER BY key LIMIT ?',
      )
      .raw();
    this.rangeReverse = database
      .prepare<[Buffer, Buffer, number], Row>(
        'SELECT key, value FROM kv WHERE key >= ? AND key < ? ORDER BY key DESC LIMIT ?',
      )
      .raw();
    this.upsertStatement = database.prepare(
      'INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
    );
    this.deleteStatement = database.prepare('DELETE FROM kv WHERE key = ?');
    this.deleteRangeStatement = database.prepare('DELETE FROM kv WHERE key >= ? AND key < ?');
    this.beginDeferred = database.prepare('BEGIN DEFERRED');
    this.beginImmediate = database.prepare('BEGIN IMMEDIATE');
    this.commitStatement = database.prepare('COMMIT');
    this.rollbackStatement = database.prepare('ROLLBACK');
  }

  /**
   * Opens the database file, creating it and its table when absent. Another process opening or
   * creating the same file at the same moment makes sqlite answer BUSY; opening then polls
   * asynchronously (never blocking the event loop for long) up to kvSqliteOpenWaitMsMax.
   */
  static async open(options: {
    path: string;
    synchronous: SqliteSynchronous;
    clock: Clock;
    random: Random;
  }): Promise<SqliteConnection> {
    const { clock } = options;
    const deadlineMs = clock.monotonicMs() + limits.kvSqliteOpenWaitMsMax;
    for (;;) {
      let database: Database.Database | undefined;
      try {
        database = new Database(options.path, { timeout: limits.kvSqliteBusyTimeoutMs });
        configure(database, options.synchronous);
        return new SqliteConnection(database);
      } catch (error) {
        database?.close();
        if (!isSqliteBusy(error) || clock.monotonicMs() >= deadlineMs) {
          throw sqliteFailure(error, `open ${options.path}`);
        }
      }
      await clock.sleep(limits.kvSqliteLockPollMs * (1 + options.random.nextFloat()));
    }
  }

  get inTransaction(): boolean {
    return this.database.inTransaction;
  }

  get(key: Buffer): Buffer | undefined {
    return this.getStatement.get(key);
  }

  getRange(begin: Buffer, end: Buffer, limit: number, reverse: boolean): KeyValue[] {
    const rows = (reverse ? this.rangeReverse : this.rangeForward).all(begin, end, limit);
    return rows.map(([key, value]) => ({ key, value }));
  }

  upsert(key: Buffer, value: Buffer): void {
    this.upsertStatement.run(key, value);
  }

  delete(key: Buffer): void {
    this.deleteStatement.run(key);
  }

  deleteRange(begin: Buffer, end: Buffer): void {
    this.deleteRangeStatement.run(begin, end);
  }

  /** Starts a read transaction; its snapshot is taken at the first read. */
  beginRead(): void {
    this.beginDeferred.run();
  }

  /** Takes the database's write lock at once (throws SQLITE_BUSY when another connection holds it). */
  beginWrite(): void {
    this.beginImmediate.run();
  }

  /** Commits; durable as the connection's `synchronous` level says once this returns. */
  commit(): void {
    this.commitStatement.run();
  }

  /** Rolls back the open transaction, if sqlite has not already done so after an error. */
  rollback(): void {
    if (this.database.inTransaction) this.rollbackStatement.run();
  }

  close(): void {
    this.database.close();
  }
}

function configure(database: Database.Database, synchronous: SqliteSynchronous): void {
  // WAL lets readers keep a snapshot while a writer commits, and lets several processes share the file.
  const journalMode: unknown = database.pragma('journal_mode = WAL', { simple: true });
  if (journalMode !== 'wal') {
    throw new FsError(
      KvCode.EngineFailure,
      `sqlite refused WAL mode (journal_mode is ${String(journalMode)})`,
    );
  }
  // "interval" commits as NORMAL does; the engine syncs the WAL itself (sqlite-wal-sync.ts).
  database.pragma(`synchronous = ${synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
  database.pragma(`journal_size_limit = ${limits.kvSqliteWalBytesMax}`);
  database.exec(
    'CREATE TABLE IF NOT EXISTS kv (key BLOB PRIMARY KEY NOT NULL, value BLOB NOT NULL) WITHOUT ROWID',
  );
}
