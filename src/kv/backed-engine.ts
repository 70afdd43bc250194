/**
 * A KvEngine made of the generic transaction layer over one engine's KvBackend. It runs each
 * attempt of a transaction function with a fresh CheckedTransaction, bounds the attempt by the
 * age limit with a timer (a function that hangs is abandoned after 5 s and its attempt rolled
 * back, so its locks are released while it still awaits), commits, and retries through
 * retryTransaction. Closing refuses new transactions and waits for the running ones.
 *
 * Progress under contention: a transaction that has hit kvConflictsBeforeExclusive conflicts runs
 * its next attempts alone among this process's attempts (it takes every permit of `gate`, first
 * come first served, so attempts that arrive after it wait for it). Without that, many writers of
 * neighbouring keys on PostgreSQL, whose serializable isolation tracks reads by index page rather
 * than by key, refuse each other often enough that one of them can lose every attempt and fail.
 * An attempt runs at most kvTransactionDurationMsMax, so an exclusive wait is bounded too.
 */
import type { Clock } from '../common/clock.js';
import { FsError, assert } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { Logger } from '../common/logger.js';
import type { Random } from '../common/random.js';
import { Permits } from '../common/permits.js';
import { KvCode } from '../common/status-code.js';
import type { AttemptMode, KvBackend } from './backend.js';
import { CheckedTransaction } from './checked-transaction.js';
import type { KvEngine, KvReadTransaction, KvTransaction, TransactOptions } from './kv.js';
import { resolveAttemptsMax, retryTransaction } from './retry.js';
import { transactionTooOld } from './size-limits.js';

export interface BackedEngineOptions {
  clock: Clock;
  random: Random;
  logger: Logger;
}

export class BackedKvEngine implements KvEngine {
  readonly name: string;
  private closing: Promise<void> | undefined;
  private readonly running = new Set<Promise<unknown>>();
  /** One permit per running attempt; an attempt that must run alone takes them all. */
  private readonly gate: Permits;

  constructor(
    private readonly backend: KvBackend,
    private readonly options: BackedEngineOptions,
  ) {
    this.name = backend.name;
    checkLimitRelations();
    this.gate = new Permits({
      name: `kv engine ${backend.name} (attempts)`,
      permits: limits.kvAttemptsConcurrentMax,
      waitersMax: limits.kvAttemptsConcurrentMax,
      code: KvCode.Overloaded,
    });
  }

  transact<T>(fn: (tx: KvTransaction) => Promise<T>, options?: TransactOptions): Promise<T> {
    return this.run('write', (tx) => fn(tx), options);
  }

  read<T>(fn: (tx: KvReadTransaction) => Promise<T>, options?: TransactOptions): Promise<T> {
    return this.run('read', (tx) => fn(tx.readView()), options);
  }

  sync(): Promise<void> {
    if (this.closing) return Promise.reject(this.closedError());
    return this.backend.sync();
  }

  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private async closeOnce(): Promise<void> {
    await this.backend.close();
    // Transactions still waiting to retry find the engine closed and stop.
    await Promise.allSettled([...this.running]);
    this.options.logger.info({ engine: this.name }, 'kv engine closed');
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
    let conflicts = 0;
    const onRetry = (error: FsError): void => {
      if (error.code === KvCode.Conflict) conflicts += 1;
      options.onRetry?.(error);
    };
    const promise = retryTransaction(
      () => this.runAttempt(mode, fn, options.signal, conflicts >= limits.kvConflictsBeforeExclusive),
      {
        attemptsMax,
        signal: options.signal,
        onRetry,
        clock: this.options.clock,
        random: this.options.random,
        logger: this.options.logger,
      },
    );
    this.running.add(promise);
    const forget = (): void => {
      this.running.delete(promise);
    };
    promise.then(forget, forget);
    return promise;
  }

  private async runAttempt<T>(
    mode: AttemptMode,
    fn: (tx: CheckedTransaction) => Promise<T>,
    signal: AbortSignal | undefined,
    alone: boolean,
  ): Promise<T> {
    if (this.closing) throw this.closedError();
    const release = await this.gate.hold({
      count: alone ? limits.kvAttemptsConcurrentMax : 1,
      ...(signal === undefined ? {} : { cancel: signal }),
    });
    try {
      return await this.runAdmittedAttempt(mode, fn, signal);
    } finally {
      release();
    }
  }

  private async runAdmittedAttempt<T>(
    mode: AttemptMode,
    fn: (tx: CheckedTransaction) => Promise<T>,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    if (this.closing) throw this.closedError();
    const storage = await this.backend.begin(mode, signal);
    const tx = new CheckedTransaction(storage, { mode, clock: this.options.clock });
    let expire: (error: FsError) => void = () => {};
    const expired = new Promise<never>((_resolve, reject) => {
      expire = reject;
    });
    const timer = this.options.clock.setTimer(limits.kvTransactionDurationMsMax, () => {
      // The function still runs (nothing can stop it) but can no longer reach the engine.
      tx.expire();
      storage.rollback();
      this.options.logger.warn({ engine: this.name, mode }, 'kv transaction abandoned at the age limit');
      expire(transactionTooOld(tx.ageMs));
    });
    try {
      const result = await Promise.race([invoke(fn, tx), expired]);
      timer.cancel();
      await tx.commit();
      return result;
    } catch (error) {
      storage.rollback();
      throw error;
    } finally {
      timer.cancel();
      tx.finish();
    }
  }

  private closedError(): FsError {
    return new FsError(KvCode.Closed, `kv engine ${this.name} is closed`);
  }
}

/** The relationships between the KV limits this layer relies on. */
function checkLimitRelations(): void {
  assert(limits.kvRetryBackoffMsInitial <= limits.kvRetryBackoffMsMax, 'kv backoff: initial <= max');
  // A backoff must stay short next to an attempt, or retries would mostly wait.
  assert(
    limits.kvRetryBackoffMsMax < limits.kvTransactionDurationMsMax,
    'kv backoff max < transaction age limit',
  );
  assert(limits.kvTransactionAttemptsMax >= 1, 'kv transactions get at least one attempt');
}

/** Calls `fn`, turning a synchronous throw into a rejection. */
async function invoke<T>(fn: (tx: CheckedTransaction) => Promise<T>, tx: CheckedTransaction): Promise<T> {
  return fn(tx);
}
