/**
 * The `foundationdb` engine, as in 3FS: every transaction runs through the binding's transaction
 * loop (`doTn`), so FoundationDB itself decides which of its errors to retry and how long to back
 * off (conflicts, a transaction too old, a proxy that is behind). Each run of the loop's body gets
 * a fresh CheckedTransaction, the same limits layer every engine has: FoundationDB's size limits
 * checked up front with clear errors, writes buffered until the body ends (then handed to the
 * FoundationDB transaction, which the loop commits), the 5 s age limit on the injected clock, and
 * use after the function finished refused.
 *
 * Two loops, one budget: errors of our own layer and of the caller's function (an FsError such as
 * a Conflict the function throws, or TransactionTooOld from the age limit) leave the binding's
 * loop at once and are retried by the shared retryTransaction, like every engine; a body run by
 * either loop counts against the same `attemptsMax`. An error the binding's loop gave up on was
 * already retried by FoundationDB, so it ends the transaction.
 *
 * Keys: all under the configured prefix (the binding adds and strips it), so no key of ours is a
 * FoundationDB system key (0xff...) and clusters can share one FoundationDB.
 */
import { access, constants } from 'node:fs/promises';
import { systemClock, type Clock } from '../common/clock.js';
import { FsError, assert, describeError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { Logger } from '../common/logger.js';
import { seededRandom, type Random } from '../common/random.js';
import { CommonCode, KvCode } from '../common/status-code.js';
import type { AttemptMode, KvMutations, StorageAttempt, StorageRangeOptions } from './backend.js';
import { CheckedTransaction } from './checked-transaction.js';
import {
  loadFoundationDbBinding,
  startFoundationDbNetwork,
  type FdbBinding,
  type FdbDatabase,
  type FdbError,
  type FdbTransaction,
} from './foundationdb-binding.js';
import type { FoundationDbSection } from './foundationdb-config.js';
import { foundationDbFailure } from './foundationdb-errors.js';
import type { KeyValue, KvEngine, KvReadTransaction, KvTransaction, TransactOptions } from './kv.js';
import { isRetryableKvError, resolveAttemptsMax, retryTransaction } from './retry.js';
import { transactionTooOld } from './size-limits.js';

export interface FoundationDbKvRuntime {
  logger: Logger;
  clock?: Clock;
  /** Jitter of backoffs; seeded from the clock and the process id when absent. */
  random?: Random;
  /** The binding to use instead of the npm package (tests run the engine on a stand-in). */
  binding?: FdbBinding;
}

/** Opens the foundationdb engine a `[kv.foundationdb]` section names. */
export async function openFoundationDbKvEngine(
  section: FoundationDbSection,
  runtime: FoundationDbKvRuntime,
): Promise<KvEngine> {
  const clock = runtime.clock ?? systemClock;
  const random = runtime.random ?? seededRandom((clock.nowMs() ^ process.pid) >>> 0);
  try {
    await access(section.cluster_file, constants.R_OK);
  } catch (error) {
    throw new FsError(
      CommonCode.ConfigInvalid,
      `kv.foundationdb.cluster_file: cannot read ${section.cluster_file}: ${describeError(error)}`,
      { cause: error },
    );
  }
  const binding = runtime.binding ?? (await loadFoundationDbBinding());
  startFoundationDbNetwork(binding, section.api_version);
  let database: FdbDatabase;
  try {
    database = binding.open(section.cluster_file).at(Buffer.from(section.key_prefix, 'latin1'));
  } catch (error) {
    throw new FsError(
      KvCode.EngineFailure,
      `cannot open the FoundationDB cluster of ${section.cluster_file}: ${describeError(error)}`,
      { cause: error },
    );
  }
  const logger = runtime.logger.child({
    component: 'kv',
    engine: 'foundationdb',
    clusterFile: section.cluster_file,
    keyPrefix: section.key_prefix,
  });
  logger.info({ apiVersion: section.api_version }, 'foundationdb kv opened');
  return new FoundationDbKvEngine(database, binding, {
    clock,
    random,
    logger,
    transactionTimeoutMs: section.transaction_timeout_ms,
  });
}

interface EngineOptions {
  clock: Clock;
  random: Random;
  logger: Logger;
  transactionTimeoutMs: number;
}

/** What `onRetry` is told when the body runs again; FoundationDB's loop keeps the error itself. */
const runAgain = new FsError(KvCode.Conflict, 'the transaction runs again after a retryable error');

class FoundationDbKvEngine implements KvEngine {
  readonly name = 'foundationdb';
  private closing: Promise<void> | undefined;
  private readonly running = new Set<Promise<unknown>>();

  constructor(
    private readonly database: FdbDatabase,
    private readonly binding: FdbBinding,
    private readonly options: EngineOptions,
  ) {}

  transact<T>(fn: (tx: KvTransaction) => Promise<T>, options?: TransactOptions): Promise<T> {
    return this.run('write', (tx) => fn(tx), options);
  }

  read<T>(fn: (tx: KvReadTransaction) => Promise<T>, options?: TransactOptions): Promise<T> {
    return this.run('read', (tx) => fn(tx.readView()), options);
  }

  /** Nothing to do: FoundationDB acknowledges a commit once it is durable on its logs. */
  sync(): Promise<void> {
    return this.closing ? Promise.reject(this.closedError()) : Promise.resolve();
  }

  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private async closeOnce(): Promise<void> {
    await Promise.allSettled([...this.running]);
    this.database.close();
    this.options.logger.info('kv engine closed');
  }

  private run<T>(
    mode: AttemptMode,
    fn: (tx: CheckedTransaction) => Promise<T>,
    options: TransactOptions = {},
  ): Promise<T> {
    if (this.closing) return Promise.reject(this.closedError());
    let attemptsMax: number;
    try {
      attemptsMax = resolveAttemptsMax(options.attemptsMax);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    const budget = { attempts: 0, attemptsMax };
    // Every attempt runs the body once, whichever loop started it: the body tells of retries.
    const promise = retryTransaction(() => this.runLoop(mode, fn, budget, options), {
      attemptsMax,
      signal: options.signal,
      clock: this.options.clock,
      random: this.options.random,
      logger: this.options.logger,
    });
    this.running.add(promise);
    const forget = (): void => {
      this.running.delete(promise);
    };
    promise.then(forget, forget);
    return promise;
  }

  /** One run of the binding's transaction loop. */
  private async runLoop<T>(
    mode: AttemptMode,
    fn: (tx: CheckedTransaction) => Promise<T>,
    budget: { attempts: number; attemptsMax: number },
    options: TransactOptions,
  ): Promise<T> {
    try {
      return await this.database.doTn(
        async (transaction) => {
          if (this.closing) throw this.closedError();
          options.signal?.throwIfAborted();
          budget.attempts++;
          if (budget.attempts > 1) options.onRetry?.(runAgain);
          if (budget.attempts > budget.attemptsMax) {
            throw new FsError(
              KvCode.RetriesExhausted,
              `transaction gave up after ${budget.attemptsMax} attempts (FoundationDB kept asking for retries)`,
            );
          }
          return this.runBody(mode, fn, transaction);
        },
        {
          timeout: this.options.transactionTimeoutMs,
          retry_limit: budget.attemptsMax - 1,
          max_retry_delay: limits.kvRetryBackoffMsMax,
        },
      );
    } catch (error) {
      if (!(error instanceof this.binding.FDBError)) throw error;
      const failure = foundationDbFailure(error, mode === 'read' ? 'read' : 'commit');
      if (!isRetryableKvError(failure)) throw failure;
      // FoundationDB's loop retried this kind of error already and has given up (its retry limit
      // or the transaction timeout): retrying again here would only multiply the wait.
      throw new FsError(KvCode.RetriesExhausted, `transaction gave up: ${failure.message}`, {
        cause: failure,
      });
    }
  }

  /**
   * One run of the loop's body: the caller's function on a fresh CheckedTransaction, bounded by
   * the age limit, then its buffered writes handed to the FoundationDB transaction.
   */
  private async runBody<T>(
    mode: AttemptMode,
    fn: (tx: CheckedTransaction) => Promise<T>,
    transaction: FdbTransaction,
  ): Promise<T> {
    // FoundationDB's 5 s window opens when a transaction gets its read version; the age limit
    // here starts then too. A FoundationDB error goes to the binding's loop as it is.
    await transaction.getReadVersion();
    const storage = new FoundationDbAttempt(
      transaction,
      (error): error is FdbError => error instanceof this.binding.FDBError,
    );
    const tx = new CheckedTransaction(storage, { mode, clock: this.options.clock });
    let expire: (error: FsError) => void = () => {};
    const expired = new Promise<never>((_resolve, reject) => {
      expire = reject;
    });
    const timer = this.options.clock.setTimer(limits.kvTransactionDurationMsMax, () => {
      // The function still runs (nothing can stop it) but can no longer reach FoundationDB.
      tx.expire();
      storage.cancel();
      this.options.logger.warn({ mode }, 'kv transaction abandoned at the age limit');
      expire(transactionTooOld(tx.ageMs));
    });
    try {
      const result = await Promise.race([invoke(fn, tx), expired]);
      timer.cancel();
      await tx.commit();
      return result;
    } catch (error) {
      // A FoundationDB error met by a read goes back to the binding's loop as it was (so that
      // FoundationDB decides on the retry), whatever the function turned it into.
      throw storage.loopError() ?? error;
    } finally {
      timer.cancel();
      tx.finish();
    }
  }

  private closedError(): FsError {
    return new FsError(KvCode.Closed, 'foundationdb kv engine is closed');
  }
}

/** One run of a transaction body against the FoundationDB transaction of that run. */
class FoundationDbAttempt implements StorageAttempt {
  private fdbError: FdbError | undefined;
  private cancelled = false;

  constructor(
    private readonly transaction: FdbTransaction,
    private readonly isFdbError: (error: unknown) => error is FdbError,
  ) {}

  async get(key: Buffer, snapshot: boolean): Promise<Buffer | undefined> {
    try {
      const value = await this.reader(snapshot).get(key);
      return value ?? undefined;
    } catch (error) {
      throw this.failure(error, 'read a key');
    }
  }

  async getRange(begin: Buffer, end: Buffer, options: StorageRangeOptions): Promise<KeyValue[]> {
    let pairs: Array<[Buffer, Buffer]>;
    try {
      pairs = await this.reader(options.snapshot).getRangeAll(begin, end, {
        limit: options.limit,
        reverse: options.reverse,
      });
    } catch (error) {
      throw this.failure(error, 'read a range');
    }
    assert(pairs.length <= options.limit, 'a range read returns at most its limit');
    return pairs.map(([key, value]) => ({ key, value }));
  }

  /** Hands the mutations to the FoundationDB transaction; the binding's loop commits it. */
  commit(mutations: KvMutations): Promise<void> {
    try {
      for (const range of mutations.clearedRanges) this.transaction.clearRange(range.begin, range.end);
      for (const point of mutations.points) {
        if (point.value === undefined) this.transaction.clear(point.key);
        else this.transaction.set(point.key, point.value);
      }
    } catch (error) {
      return Promise.reject(this.failure(error, 'stage the writes'));
    }
    return Promise.resolve();
  }

  rollback(): void {
    // Nothing is held: FoundationDB transactions take no locks, and the writes never left the buffer.
  }

  /** Abandons the run at the age limit: its reads fail and it can no longer commit. */
  cancel(): void {
    this.cancelled = true;
    try {
      this.transaction.rawCancel();
    } catch {
      // Already committed or cancelled: nothing left to stop.
    }
  }

  /** The FoundationDB error this run met, for the binding's loop; none once we cancelled it. */
  loopError(): FdbError | undefined {
    return this.cancelled ? undefined : this.fdbError;
  }

  private reader(snapshot: boolean): FdbTransaction {
    return snapshot ? this.transaction.snapshot() : this.transaction;
  }

  private failure(error: unknown, action: string): unknown {
    if (!this.isFdbError(error)) return error;
    this.fdbError ??= error;
    return foundationDbFailure(error, action);
  }
}

/** Calls `fn`, turning a synchronous throw into a rejection. */
async function invoke<T>(fn: (tx: CheckedTransaction) => Promise<T>, tx: CheckedTransaction): Promise<T> {
  return fn(tx);
}
