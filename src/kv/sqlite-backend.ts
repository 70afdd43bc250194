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
 */
import type { Clock } from '../common/clock.js';
import { FsError, assert } from '../common/errors.js';
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

export interface SqliteBackendOptions {
  path: string;
  synchronous: SqliteSynchronous;
  clock: Clock;
  random: Random;
  logger: Logger;
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

  private constructor(
    private readonly options: SqliteBackendOptions,
    private readonly writer: SqliteConnection,
    private readonly reader: SqliteConnection,
  ) {}

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
    let reader: SqliteConnection;
    try {
      reader = await SqliteConnection.open(connectionOptions);
    } catch (error) {
      writer.close();
      throw error;
    }
    options.logger.info({ path: options.path, synchronous: options.synchronous }, 'sqlite kv opened');
    return new SqliteBackend(options, writer, reader);
  }

  begin(mode: AttemptMode, signal: AbortSignal | undefined): Promise<StorageAttempt> {
    if (this.closing) return Promise.reject(this.closedError());
    return mode === 'read' ? this.beginRead(signal) : this.beginWrite(signal);
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
    this.reader.close();
    this.writer.close();
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

/** The relationships between the sqlite limits this engine relies on. */
function checkLimitRelations(): void {
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
