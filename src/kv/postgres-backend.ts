/**
 * The `postgres` engine's storage: each transaction attempt holds one pooled connection and runs
 * in one SERIALIZABLE PostgreSQL transaction, begun lazily at its first statement (a blind write
 * never pays for a read snapshot it does not use). Reads run inside that transaction; the
 * generic layer buffers the writes, which are applied at commit on the same connection inside the
 * same transaction, then COMMIT. PostgreSQL's serializable snapshot isolation refuses a commit
 * that would break serializability with SQLSTATE 40001, which becomes a retryable Conflict.
 *
 * Snapshot reads are plain reads here: PostgreSQL has no read that skips conflict tracking, so
 * they may add conflicts FoundationDB would not report (never fewer, so correctness holds).
 *
 * A connection that breaks is destroyed, never returned to the pool; the next attempt opens a new
 * one, so the engine reconnects by itself after a server restart.
 *
 * A connection that breaks during COMMIT leaves the outcome unknown. Every write transaction
 * therefore inserts a random marker id (postgres-schema.ts) before COMMIT; after a lost COMMIT
 * the attempt inserts the same id itself, on a new connection, with ON CONFLICT DO NOTHING. That
 * insert waits while the original transaction is still running, then either finds the marker
 * (the transaction committed: success) or inserts it (the transaction did not commit, and now
 * never can: a retryable Unavailable that guarantees nothing was applied). Only when the server
 * stays away longer than kvPostgresCommitResolveMsMax does the caller get CommitUnknown. (The
 * server's own transaction status is no answer here: after a crash, a transaction id whose WAL
 * was lost may be handed out again and report another transaction's fate.)
 */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import type { Clock } from '../common/clock.js';
import { FsError, assert, describeError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { Logger } from '../common/logger.js';
import type { Random } from '../common/random.js';
import { KvCode } from '../common/status-code.js';
import type { AttemptMode, KvBackend, KvMutations, StorageAttempt, StorageRangeOptions } from './backend.js';
import type { KeyValue } from './kv.js';
import { isConnectionBroken, isServerAnswer, postgresFailure } from './postgres-errors.js';
import type { PostgresStatements } from './postgres-schema.js';
import { writeBatches } from './postgres-values.js';

export interface PostgresBackendOptions {
  pool: pg.Pool;
  statements: PostgresStatements;
  /** Where the data lives, for messages: `host:port/database schema.table`. */
  location: string;
  clock: Clock;
  random: Random;
  logger: Logger;
}

const beginStatement: Record<AttemptMode, string> = {
  write: 'BEGIN ISOLATION LEVEL SERIALIZABLE, READ WRITE',
  read: 'BEGIN ISOLATION LEVEL SERIALIZABLE, READ ONLY',
};

export class PostgresBackend implements KvBackend {
  readonly name = 'postgres';
  private closing: Promise<void> | undefined;
  private waitingForConnection = 0;
  private readonly running = new Set<Promise<void>>();
  /** Markers of commits whose outcome is known, waiting to be deleted. */
  private readonly knownMarkers: Buffer[] = [];

  constructor(private readonly options: PostgresBackendOptions) {}

  get statements(): PostgresStatements {
    return this.options.statements;
  }

  get logger(): Logger {
    return this.options.logger;
  }

  async begin(mode: AttemptMode, signal: AbortSignal | undefined): Promise<StorageAttempt> {
    if (this.closing) throw this.closedError();
    const client = await this.acquire(signal);
    // Closing may have started while this attempt waited for its connection.
    if (this.closing) {
      client.release();
      throw this.closedError();
    }
    let settle: () => void = () => {};
    const lifetime = new Promise<void>((resolve) => (settle = resolve));
    this.running.add(lifetime);
    return new PostgresAttempt(this, client, mode, () => {
      this.running.delete(lifetime);
      settle();
    });
  }

  /** Nothing to do: a commit is durable on the server (synchronous_commit) when COMMIT returns. */
  sync(): Promise<void> {
    return this.closing ? Promise.reject(this.closedError()) : Promise.resolve();
  }

  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  /**
   * Finds out whether the transaction that inserted `marker`, whose connection broke during
   * COMMIT, committed: returns when it did, throws a retryable Unavailable when it did not (and
   * then never will), and CommitUnknown when the server does not tell within
   * kvPostgresCommitResolveMsMax.
   */
  async resolveCommit(marker: Buffer, cause: unknown): Promise<void> {
    const { clock, random, logger } = this.options;
    const startedMs = clock.monotonicMs();
    const markerText = marker.toString('hex');
    let lastError: unknown = cause;
    for (;;) {
      try {
        // Autocommit (read committed): waits for the original transaction if it still runs.
        const result = await this.options.pool.query(this.options.statements.claimMarker, [marker]);
        this.markerKnown(marker);
        if (result.rowCount === 0) {
          logger.warn(
            { marker: markerText, err: cause },
            'postgres connection broke during COMMIT; the transaction had committed',
          );
          return;
        }
        throw new FsError(
          KvCode.Unavailable,
          `postgres connection broke during COMMIT and the transaction did not commit (nothing was applied): ${describeError(cause)}`,
          { cause },
        );
      } catch (error) {
        if (error instanceof FsError) throw error;
        lastError = error;
      }
      if (clock.monotonicMs() - startedMs >= limits.kvPostgresCommitResolveMsMax) {
        throw new FsError(
          KvCode.CommitUnknown,
          `postgres connection broke during COMMIT and whether the transaction applied is unknown: the server did not tell within ${limits.kvPostgresCommitResolveMsMax} ms (commit marker ${markerText}; last error: ${describeError(lastError)})`,
          { cause },
        );
      }
      await clock.sleep(limits.kvPostgresCommitResolvePollMs * (1 + random.nextFloat()));
    }
  }

  /** Notes that a marker's commit outcome is known, so the marker may be deleted. */
  markerKnown(marker: Buffer): void {
    this.knownMarkers.push(marker);
    // Markers beyond the bound are left for the sweep at the next open.
    if (this.knownMarkers.length > limits.kvPostgresMarkersPendingMax) this.knownMarkers.shift();
  }

  /**
   * The markers to delete now, when enough have gathered (one statement deletes a batch). The
   * caller deletes them after its own commit, outside any SERIALIZABLE transaction, and hands
   * them back with markerKnown when that fails.
   */
  takeMarkersToDelete(): Buffer[] {
    if (this.knownMarkers.length < limits.kvPostgresMarkerDeleteBatch) return [];
    return this.knownMarkers.splice(0, limits.kvPostgresMarkerDeleteBatch);
  }

  /** A pooled connection; waiting is bounded by the pool's connect timeout and by `signal`. */
  private async acquire(signal: AbortSignal | undefined): Promise<pg.PoolClient> {
    signal?.throwIfAborted();
    if (this.waitingForConnection >= limits.kvTransactionsQueuedMax) {
      throw new FsError(
        KvCode.Overloaded,
        `${this.waitingForConnection} transactions already wait for a postgres connection`,
      );
    }
    this.waitingForConnection++;
    try {
      const connecting = this.options.pool.connect();
      if (signal === undefined) return await connecting;
      return await raceAbort(connecting, signal, (client) => client.release());
    } catch (error) {
      if (signal?.aborted && error === signal.reason) throw error;
      throw postgresFailure(error, `connect to ${this.options.location}`);
    } finally {
      this.waitingForConnection--;
    }
  }

  private async closeOnce(): Promise<void> {
    // Attempts end by themselves: a function is abandoned at the age limit, a statement at the
    // statement timeout, a commit resolution at its own bound.
    await Promise.allSettled([...this.running]);
    await this.options.pool.end();
  }

  private closedError(): FsError {
    return new FsError(KvCode.Closed, `postgres kv ${this.options.location} is closed`);
  }
}

/** One transaction attempt on one pooled connection. */
class PostgresAttempt implements StorageAttempt {
  private begun: Promise<unknown> | undefined;
  private ended = false;
  /** The connection's own error, when it broke outside a statement. */
  private broken: unknown;
  private readonly onConnectionError = (error: unknown): void => {
    this.broken ??= error;
    this.backend.logger.warn({ err: error }, 'postgres connection broke during a transaction');
  };

  constructor(
    private readonly backend: PostgresBackend,
    private readonly client: pg.PoolClient,
    private readonly mode: AttemptMode,
    private readonly settle: () => void,
  ) {
    // A checked-out client has no error listener of the pool's: without ours, a connection that
    // breaks between statements would crash the process with an unhandled 'error'.
    client.on('error', this.onConnectionError);
  }

  async get(key: Buffer, _snapshot: boolean): Promise<Buffer | undefined> {
    assert(!this.ended, 'an ended postgres attempt is not read');
    const { statements } = this.backend;
    const rows = await this.query(statements.get, [key], 'read a key', () => statements.inlineGet(key));
    assert(rows.length <= 1, 'a key has at most one row');
    const value = rows[0]?.[0];
    assert(value === undefined || Buffer.isBuffer(value), 'a value is read as bytes');
    return value;
  }

  async getRange(begin: Buffer, end: Buffer, options: StorageRangeOptions): Promise<KeyValue[]> {
    assert(!this.ended, 'an ended postgres attempt is not read');
    assert(options.limit >= 1, 'a storage range read has a limit');
    const statement = options.reverse
      ? this.backend.statements.rangeReverse
      : this.backend.statements.rangeForward;
    const rows = await this.query(statement, [begin, end, options.limit], 'read a range', () =>
      this.backend.statements.inlineRange(begin, end, options.limit, options.reverse),
    );
    assert(rows.length <= options.limit, 'a range read returns at most its limit');
    return rows.map(([key, value]) => {
      assert(Buffer.isBuffer(key) && Buffer.isBuffer(value), 'range rows are read as bytes');
      return { key, value };
    });
  }

  async commit(mutations: KvMutations): Promise<void> {
    assert(!this.ended, 'a postgres attempt commits once');
    try {
      const hasWrites = mutations.points.length > 0 || mutations.clearedRanges.length > 0;
      if (hasWrites) await this.commitWrites(mutations);
      else await this.commitReads();
    } finally {
      this.settle();
    }
  }

  rollback(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.begun === undefined || this.broken !== undefined) {
      this.release(this.broken);
      this.settle();
      return;
    }
    // The connection goes back to the pool only once the server has ended the transaction.
    this.client
      .query('ROLLBACK')
      .then(
        () => this.release(undefined),
        (error: unknown) => this.release(error),
      )
      .finally(this.settle);
  }

  private async commitReads(): Promise<void> {
    this.ended = true;
    if (this.begun === undefined) {
      this.release(this.broken);
      return;
    }
    try {
      await this.client.query('COMMIT');
    } catch (error) {
      this.release(isServerAnswer(error) ? undefined : error);
      throw postgresFailure(error, 'commit a read-only transaction');
    }
    this.release(undefined);
  }

  private async commitWrites(mutations: KvMutations): Promise<void> {
    assert(this.mode === 'write', 'a read attempt has no writes');
    this.ended = true;
    const { statements } = this.backend;
    const marker = randomBytes(16);
    try {
      await this.ensureBegun();
      for (const range of mutations.clearedRanges) {
        await this.client.query({ ...statements.deleteRange, values: [range.begin, range.end] });
      }
      const batches = [...writeBatches(mutations.points)];
      const removes = batches.filter((batch) => batch.kind === 'delete');
      const upserts = batches.filter((batch) => batch.kind === 'upsert');
      // The marker is written before COMMIT, so that a connection lost during COMMIT can ask what
      // became of it; with at most one batch of each kind, in the same statement as the writes.
      if (removes.length <= 1 && upserts.length <= 1) {
        const [remove] = removes;
        const [upsert] = upserts;
        const statement = statements.writeWithMarker({
          remove: remove !== undefined,
          upsert: upsert !== undefined,
        });
        const values: unknown[] = [marker];
        if (remove !== undefined) values.push(remove.keys);
        if (upsert !== undefined) values.push(upsert.keys, upsert.values);
        await this.client.query({ ...statement, values });
      } else {
        for (const batch of batches) {
          if (batch.kind === 'delete') {
            await this.client.query({ ...statements.deleteKeys, values: [batch.keys] });
          } else {
            await this.client.query({ ...statements.upsert, values: [batch.keys, batch.values] });
          }
        }
        await this.client.query({ ...statements.insertMarker, values: [marker] });
      }
    } catch (error) {
      // COMMIT was never sent: nothing was applied.
      this.abandon(error);
      throw postgresFailure(error, 'apply a transaction');
    }
    try {
      await this.client.query('COMMIT');
    } catch (error) {
      if (isServerAnswer(error)) {
        // The server refused the commit (a serialization failure, say) and ended the transaction.
        this.release(undefined);
        throw postgresFailure(error, 'commit');
      }
      this.release(error);
      await this.backend.resolveCommit(marker, error);
      return;
    }
    this.backend.markerKnown(marker);
    this.releaseAfterMarkerCleanup();
  }

  /**
   * Returns the connection once it has deleted a batch of known markers, when one is due. The
   * caller already has its result; the deletion runs in autocommit, outside SERIALIZABLE.
   */
  private releaseAfterMarkerCleanup(): void {
    const markers = this.backend.takeMarkersToDelete();
    if (markers.length === 0 || this.broken !== undefined) {
      for (const marker of markers) this.backend.markerKnown(marker);
      this.release(this.broken);
      return;
    }
    this.client.query(this.backend.statements.deleteMarkers, [markers]).then(
      () => this.release(undefined),
      (error: unknown) => {
        for (const marker of markers) this.backend.markerKnown(marker);
        this.backend.logger.warn({ err: error }, 'postgres commit markers not deleted; retried later');
        this.release(error);
      },
    );
  }

  /**
   * Runs a read statement inside the attempt's transaction, as rows of [key, value] or [value].
   * The transaction's first statement goes with its BEGIN in one simple query, as `inline` writes
   * it with its values in the text: one round trip instead of two.
   */
  private async query(
    statement: { name: string; text: string },
    values: unknown[],
    action: string,
    inline: () => string,
  ): Promise<unknown[][]> {
    try {
      if (this.begun === undefined && this.broken === undefined) {
        const both = this.client.query<unknown[]>({
          text: `${beginStatement[this.mode]}; ${inline()}`,
          rowMode: 'array',
        });
        this.begun = both;
        // A simple query of two statements answers with one result per statement.
        const results = (await both) as unknown as Array<pg.QueryResult<unknown[]>>;
        assert(Array.isArray(results) && results.length === 2, 'BEGIN and a read answer with two results');
        return results[1]?.rows ?? [];
      }
      await this.ensureBegun();
      const result = await this.client.query<unknown[]>({ ...statement, values, rowMode: 'array' });
      return result.rows;
    } catch (error) {
      if (isConnectionBroken(error)) this.broken ??= error;
      throw postgresFailure(error, action);
    }
  }

  private ensureBegun(): Promise<unknown> {
    if (this.broken !== undefined) return Promise.reject(this.broken);
    this.begun ??= this.client.query(beginStatement[this.mode]);
    return this.begun;
  }

  /** Ends an attempt whose statement failed before COMMIT: rolls back, or destroys a broken connection. */
  private abandon(error: unknown): void {
    if (isConnectionBroken(error) || this.broken !== undefined) {
      this.release(error);
      return;
    }
    this.client.query('ROLLBACK').then(
      () => this.release(undefined),
      (rollbackError: unknown) => this.release(rollbackError),
    );
  }

  /** Returns the connection to the pool, or destroys it when `error` says it broke. */
  private release(error: unknown): void {
    this.client.removeListener('error', this.onConnectionError);
    const broken = error !== undefined && isConnectionBroken(error) ? error : this.broken;
    this.client.release(broken === undefined ? undefined : toError(broken));
  }
}

/** Resolves like `promise` unless `signal` aborts first; a late result is handed to `dispose`. */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal, dispose: (value: T) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let aborted = false;
    const onAbort = (): void => {
      aborted = true;
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        if (aborted) dispose(value);
        else resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        if (!aborted) reject(error);
      },
    );
  });
}

function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(describeError(value));
}
