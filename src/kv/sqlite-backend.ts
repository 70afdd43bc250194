/**
 * The embedded `sqlite` engine: one database file in WAL mode that several processes on one host
 * may share. Each process holds two connections.
 *
 * Writes: transactions run one at a time on the writer connection (a FIFO mutex with a bounded
 * queue), inside a `BEGIN IMMEDIATE` sqlite transaction, which holds the database's single write
 * lock: no other process writes in between, so every transaction is serializable, across
 * processes too. While another process holds the lock, this one polls for it asynchronously with
 * jitter (a short busy_timeout keeps sqlite from blocking the event loop for long) and gives up
 * with a retryable Conflict after kvSqliteLockWaitMsMax.
 *
 * Group commit: a transaction's buffered mutations are applied inside the open sqlite
 * transaction when its function succeeds; if more transactions of this process are already
 * queued, the next one runs inside the same sqlite transaction (it sees the earlier ones' writes,
 * which commit together with its own), and the group commits once the queue is empty or the group
 * reaches kvSqliteGroupMembersMax members or kvSqliteGroupDurationMsMax. Members are acknowledged
 * only after the group's COMMIT returned, so one fsync makes a whole group durable. A member that
 * fails or expires applied nothing and does not disturb the others.
 *
 * Reads (`KvEngine.read`) run on the reader connection, one at a time, in a deferred sqlite
 * transaction: a consistent WAL snapshot that neither blocks nor waits for writers.
 *
 * Durability: under "full" COMMIT fsyncs the WAL. Under "interval" and "normal" it does not, and
 * a WalSyncer (sqlite-wal-sync.ts) counts commits and fdatasyncs the WAL on its own descriptor:
 * within the commit interval of a commit ("interval"), on `sync()`, and at close. After a sync
 * failed, no transaction begins: its commit could never be made durable.
 */
import type { Clock } from '../common/clock.js';
import { FsError, assert, describeError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { Logger } from '../common/logger.js';
import type { Random } from '../common/random.js';
import { KvCode } from '../common/status-code.js';
import { AsyncMutex, type MutexRelease } from './async-mutex.js';
import type { AttemptMode, KvBackend, KvMutations, StorageAttempt, StorageRangeOptions } from './backend.js';
import type { KeyValue } from './kv.js';
import {
  SqliteConnection,
  isSqliteBusy,
  sqliteFailure,
  type SqliteSynchronous,
} from './sqlite-connection.js';
import { WalSyncer, openWalFile, type WalFile, type WalSyncEvent } from './sqlite-wal-sync.js';

export interface SqliteBackendOptions {
  path: string;
  synchronous: SqliteSynchronous;
  /** Under "interval": the longest time from a commit until the WAL sync that covers it starts. */
  commitIntervalMs: number;
  clock: Clock;
  random: Random;
  logger: Logger;
  /** Told of each sync of the WAL ("interval" and "normal" only). */
  onSynced?: (event: WalSyncEvent) => void;
}

/** Transactions of this process sharing the open sqlite write transaction, waiting for its commit. */
interface CommitGroup {
  openedMs: number;
  members: Array<{ resolve: () => void; reject: (error: FsError) => void }>;
}

export class SqliteBackend implements KvBackend {
  readonly name = 'sqlite';
  private readonly writerMutex = new AsyncMutex({
    name: 'sqlite writer',
    waitersMax: limits.kvTransactionsQueuedMax,
  });
  private readonly readerMutex = new AsyncMutex({
    name: 'sqlite reader',
    waitersMax: limits.kvTransactionsQueuedMax,
  });
  private group: CommitGroup | undefined;
  private closing: Promise<void> | undefined;
  /** Makes commits durable when COMMIT itself does not ("interval", "normal"). */
  private readonly syncer: WalSyncer | undefined;

  private constructor(
    private readonly options: SqliteBackendOptions,
    private readonly writer: SqliteConnection,
    private readonly reader: SqliteConnection,
    private readonly wal: WalFile | undefined,
  ) {
    this.syncer =
      wal === undefined
        ? undefined
        : new WalSyncer({
            syncFile: () => wal.datasync(),
            intervalMs: options.synchronous === 'interval' ? options.commitIntervalMs : undefined,
            clock: options.clock,
            walName: wal.path,
            onSynced: options.onSynced ?? (() => {}),
            onFailed: (error) =>
              options.logger.error(
                { err: error, path: wal.path },
                'the sqlite WAL could not be made durable: no transaction begins until a restart',
              ),
          });
  }

  /** Opens (or creates) the database file; its directory must exist. */
  static async open(options: SqliteBackendOptions): Promise<SqliteBackend> {
    checkLimitRelations();
    const connectionOptions = {
      path: options.path,
      synchronous: options.synchronous,
      clock: options.clock,
      random: options.random,
    };
    const writer = await SqliteConnection.open(connectionOptions);
    let reader: SqliteConnection | undefined;
    let wal: WalFile | undefined;
    try {
      reader = await SqliteConnection.open(connectionOptions);
      // Opened after the connections, which created the WAL and keep it from being deleted.
      if (options.synchronous !== 'full') wal = await openWal(options.path);
    } catch (error) {
      reader?.close();
      writer.close();
      throw error;
    }
    options.logger.info(
      {
        path: options.path,
        synchronous: options.synchronous,
        ...(options.synchronous === 'interval' ? { commitIntervalMs: options.commitIntervalMs } : {}),
      },
      'sqlite kv opened',
    );
    return new SqliteBackend(options, writer, reader, wal);
  }

  begin(mode: AttemptMode, signal: AbortSignal | undefined): Promise<StorageAttempt> {
    if (this.closing) return Promise.reject(this.closedError());
    const failed = this.syncer?.failed;
    if (failed !== undefined) return Promise.reject(failed);
    return mode === 'read' ? this.beginRead(signal) : this.beginWrite(signal);
  }

  sync(): Promise<void> {
    if (this.closing) return Promise.reject(this.closedError());
    return this.syncer?.sync() ?? Promise.resolve();
  }

  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private async closeOnce(): Promise<void> {
    await Promise.all([
      this.writerMutex.close(this.closedError()),
      this.readerMutex.close(this.closedError()),
    ]);
    // With nobody left to join it, the last member's turn has committed the group.
    assert(this.group === undefined, 'no sqlite write transaction is open once the writer is idle');
    try {
      // Before the connections close: the last one to close deletes the WAL.
      await this.syncer?.close();
    } finally {
      this.reader.close();
      this.writer.close();
      await this.wal?.close();
    }
  }

  private async beginRead(signal: AbortSignal | undefined): Promise<StorageAttempt> {
    const release = await this.readerMutex.acquire(signal);
    try {
      this.reader.beginRead();
    } catch (error) {
      release();
      throw sqliteFailure(error, 'begin a read transaction');
    }
    return new SqliteReadAttempt(this, this.reader, release);
  }

  private async beginWrite(signal: AbortSignal | undefined): Promise<StorageAttempt> {
    const release = await this.writerMutex.acquire(signal);
    try {
      this.group ??= await this.openGroup(signal);
    } catch (error) {
      release();
      throw error;
    }
    return new SqliteWriteAttempt(this, this.writer, release);
  }

  /** Takes the database's write lock, polling while another process holds it. */
  private async openGroup(signal: AbortSignal | undefined): Promise<CommitGroup> {
    const { clock } = this.options;
    const startedMs = clock.monotonicMs();
    for (;;) {
      if (this.closing) throw this.closedError();
      try {
        this.writer.beginWrite();
        return { openedMs: clock.monotonicMs(), members: [] };
      } catch (error) {
        if (!isSqliteBusy(error)) throw sqliteFailure(error, 'begin a write transaction');
        const waitedMs = clock.monotonicMs() - startedMs;
        if (waitedMs >= limits.kvSqliteLockWaitMsMax) {
          throw new FsError(
            KvCode.Conflict,
            `${this.options.path} stayed locked by another process for ${Math.round(waitedMs)} ms`,
            { cause: error },
          );
        }
      }
      await clock.sleep(limits.kvSqliteLockPollMs * (1 + this.options.random.nextFloat()), signal);
    }
  }

  /**
   * Applies a member's mutations inside the open group; on failure the whole group is rolled back
   * (sqlite may already have done so), the member gets the error and the earlier members a
   * retryable Unavailable, since their own work was sound.
   */
  applyMember(mutations: KvMutations, member: CommitGroup['members'][number]): void {
    const group = this.group;
    assert(group !== undefined, 'a write attempt runs inside an open sqlite transaction');
    try {
      for (const range of mutations.clearedRanges) this.writer.deleteRange(range.begin, range.end);
      for (const point of mutations.points) {
        if (point.value === undefined) this.writer.delete(point.key);
        else this.writer.upsert(point.key, point.value);
      }
    } catch (error) {
      const failure = sqliteFailure(error, 'apply a transaction');
      this.abandonGroup(
        new FsError(
          KvCode.Unavailable,
          `group commit abandoned: another transaction failed: ${failure.message}`,
          {
            cause: failure,
          },
        ),
      );
      member.reject(failure);
      return;
    }
    group.members.push(member);
  }

  /**
   * Ends the current holder's turn on the writer: the group stays open for the next queued
   * transaction while it is within its bounds, and commits (or rolls back, when empty) otherwise.
   */
  endTurn(release: MutexRelease): void {
    const group = this.group;
    if (group !== undefined) {
      const keepOpen =
        this.writerMutex.waitingCount > 0 &&
        group.members.length < limits.kvSqliteGroupMembersMax &&
        this.options.clock.monotonicMs() - group.openedMs < limits.kvSqliteGroupDurationMsMax;
      if (!keepOpen) this.closeGroup(group);
    }
    release();
  }

  /** Ends a read-only transaction (releasing its WAL snapshot) and the reader's turn. */
  endRead(release: MutexRelease): void {
    this.rollbackQuietly(this.reader);
    release();
  }

  private closeGroup(group: CommitGroup): void {
    this.group = undefined;
    if (group.members.length === 0) {
      this.rollbackQuietly();
      return;
    }
    try {
      this.writer.commit();
    } catch (error) {
      this.rollbackQuietly();
      const failure = sqliteFailure(error, 'commit');
      for (const member of group.members) member.reject(failure);
      return;
    }
    this.syncer?.noteCommit();
    for (const member of group.members) member.resolve();
  }

  private abandonGroup(error: FsError): void {
    const group = this.group;
    this.group = undefined;
    this.rollbackQuietly();
    for (const member of group?.members ?? []) member.reject(error);
  }

  private rollbackQuietly(connection: SqliteConnection = this.writer): void {
    try {
      connection.rollback();
    } catch (error) {
      // The transaction is gone either way; the next BEGIN reports a connection that stays broken.
      this.options.logger.error({ err: error }, 'sqlite rollback failed');
    }
  }

  private closedError(): FsError {
    return new FsError(KvCode.Closed, `sqlite kv ${this.options.path} is closed`);
  }
}

/** One transaction's turn on the writer connection, inside the open commit group. */
class SqliteWriteAttempt implements StorageAttempt {
  private ended = false;

  constructor(
    private readonly backend: SqliteBackend,
    private readonly connection: SqliteConnection,
    private readonly release: MutexRelease,
  ) {}

  get(key: Buffer, _snapshot: boolean): Promise<Buffer | undefined> {
    // The write lock is held for the whole turn, so every read is serializable; snapshot reads
    // (which only differ in conflict tracking) need nothing special.
    assert(!this.ended, 'an ended sqlite attempt is not read');
    return attemptRead(() => this.connection.get(key), 'read a key');
  }

  getRange(begin: Buffer, end: Buffer, options: StorageRangeOptions): Promise<KeyValue[]> {
    assert(!this.ended, 'an ended sqlite attempt is not read');
    return attemptRead(
      () => this.connection.getRange(begin, end, options.limit, options.reverse),
      'read a range',
    );
  }

  commit(mutations: KvMutations): Promise<void> {
    assert(!this.ended, 'a sqlite attempt commits once');
    this.ended = true;
    return new Promise<void>((resolve, reject) => {
      this.backend.applyMember(mutations, { resolve, reject });
      this.backend.endTurn(this.release);
    });
  }

  rollback(): void {
    if (this.ended) return;
    this.ended = true;
    this.backend.endTurn(this.release);
  }
}

/** One read-only transaction on the reader connection. */
class SqliteReadAttempt implements StorageAttempt {
  private ended = false;

  constructor(
    private readonly backend: SqliteBackend,
    private readonly connection: SqliteConnection,
    private readonly release: MutexRelease,
  ) {}

  get(key: Buffer, _snapshot: boolean): Promise<Buffer | undefined> {
    assert(!this.ended, 'an ended sqlite attempt is not read');
    return attemptRead(() => this.connection.get(key), 'read a key');
  }

  getRange(begin: Buffer, end: Buffer, options: StorageRangeOptions): Promise<KeyValue[]> {
    assert(!this.ended, 'an ended sqlite attempt is not read');
    return attemptRead(
      () => this.connection.getRange(begin, end, options.limit, options.reverse),
      'read a range',
    );
  }

  commit(mutations: KvMutations): Promise<void> {
    assert(
      mutations.points.length === 0 && mutations.clearedRanges.length === 0,
      'a read attempt has no writes',
    );
    this.rollback();
    return Promise.resolve();
  }

  rollback(): void {
    if (this.ended) return;
    this.ended = true;
    this.backend.endRead(this.release);
  }
}

/** Opens the WAL of the database at `path` for syncing, mapping a failure onto a KV status code. */
async function openWal(path: string): Promise<WalFile> {
  try {
    return await openWalFile(path);
  } catch (error) {
    throw new FsError(
      KvCode.EngineFailure,
      `cannot open the WAL of ${path} for syncing: ${describeError(error)}`,
      {
        cause: error,
      },
    );
  }
}

/** The relationships between the sqlite limits this engine relies on. */
function checkLimitRelations(): void {
  assert(
    limits.kvSqliteCommitIntervalMsMin <= limits.kvSqliteCommitIntervalMsDefault &&
      limits.kvSqliteCommitIntervalMsDefault <= limits.kvSqliteCommitIntervalMsMax,
    'the default commit interval lies within its bounds',
  );
  // Waiting for the lock in sqlite's busy handler blocks the event loop: it must stay brief.
  assert(limits.kvSqliteBusyTimeoutMs <= 10, 'sqlite busy timeout blocks the event loop for at most 10 ms');
  // A group must commit long before its members reach the transaction age limit.
  assert(
    limits.kvSqliteGroupDurationMsMax * 10 <= limits.kvTransactionDurationMsMax,
    'sqlite group duration is a small part of the transaction age limit',
  );
  // A process whose transaction hangs holds the lock until the age limit; all attempts together
  // must outlast that, so that the others get through once the hung one is abandoned.
  assert(
    limits.kvTransactionAttemptsMax * limits.kvSqliteLockWaitMsMax > limits.kvTransactionDurationMsMax,
    'sqlite lock waits over all attempts outlast the transaction age limit',
  );
}

function attemptRead<T>(read: () => T, action: string): Promise<T> {
  try {
    return Promise.resolve(read());
  } catch (error) {
    return Promise.reject(sqliteFailure(error, action));
  }
}
