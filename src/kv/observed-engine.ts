/**
 * An engine wrapper that reports every transaction function to an observer (metrics): its kind,
 * how many attempts it took (more than one means retries after conflicts or other retryable
 * errors, as the engine reports them through `onRetry`), how long it took, and how it ended. The wrapped engine behaves exactly as
 * the engine it wraps; the observer only watches. Syncs mostly run in the background, so the
 * engine reports them itself to the observer given when it was opened (openKvEngine's
 * `syncObserver`); the same observer object serves both.
 */
import { systemClock, type Clock } from '../common/clock.js';
import { FsError } from '../common/errors.js';
import { CommonCode, Ok } from '../common/status-code.js';
import type { KvEngine, KvReadTransaction, KvSyncObserver, KvTransaction, TransactOptions } from './kv.js';

/** One finished transaction function. */
export interface KvTransactionEvent {
  readonly engine: string;
  readonly kind: 'read' | 'write';
  /** Attempts made, as the engine reports its retries; attempts - 1 retries. */
  readonly attempts: number;
  readonly durationMs: number;
  /** Ok, or the status code it failed with. */
  readonly status: number;
}

/** Watches transactions and syncs; runs inline, so it must be quick and must not throw. */
export interface KvObserver extends KvSyncObserver {
  transactionStarted(engine: string): void;
  transactionFinished(event: KvTransactionEvent): void;
}

/** Wraps `engine` so that `observer` sees every transaction. */
export function observeKvEngine(
  engine: KvEngine,
  observer: KvObserver,
  clock: Clock = systemClock,
): KvEngine {
  const run = async <T>(
    kind: 'read' | 'write',
    options: TransactOptions | undefined,
    start: (counted: TransactOptions) => Promise<T>,
  ): Promise<T> => {
    // Retries are counted as the engine reports them: an attempt may fail before the function runs.
    let attempts = 1;
    let status: number = Ok;
    const startedMs = clock.monotonicMs();
    observer.transactionStarted(engine.name);
    try {
      return await start({
        ...options,
        onRetry: (error) => {
          attempts += 1;
          options?.onRetry?.(error);
        },
      });
    } catch (error) {
      status = error instanceof FsError && error.code !== Ok ? error.code : CommonCode.Internal;
      throw error;
    } finally {
      observer.transactionFinished({
        engine: engine.name,
        kind,
        attempts,
        durationMs: clock.monotonicMs() - startedMs,
        status,
      });
    }
  };
  return {
    name: engine.name,
    transact: <T>(fn: (tx: KvTransaction) => Promise<T>, options?: TransactOptions) =>
      run('write', options, (counted) => engine.transact(fn, counted)),
    read: <T>(fn: (tx: KvReadTransaction) => Promise<T>, options?: TransactOptions) =>
      run('read', options, (counted) => engine.read(fn, counted)),
    sync: () => engine.sync(),
    close: () => engine.close(),
  };
}
