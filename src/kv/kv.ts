/**
 * The transactional key-value interface every metadata engine implements (DESIGN §5), modelled
 * on FoundationDB: serializable read-write transactions whose function may run more than once
 * (retried automatically on conflict with bounded backoff), snapshot reads, ordered range reads.
 *
 * Keys and values are byte strings compared bytewise (memcmp order, shorter first on a tie).
 * FoundationDB's size and duration limits hold for every engine (see common/limits.ts).
 */
import type { FsError } from '../common/errors.js';

/** One key and its value, as returned by range reads. */
export interface KeyValue {
  key: Buffer;
  value: Buffer;
}

export interface RangeOptions {
  /** Return at most this many pairs (0 or absent: no limit beyond the engine's own bound). */
  limit?: number;
  /** Return pairs in descending key order (the last `limit` keys of the range). */
  reverse?: boolean;
}

/** Reads of a transaction. Plain reads join the conflict set; snapshot reads do not. */
export interface KvReadTransaction {
  /** The value at `key`, or undefined when absent. */
  get(key: Uint8Array): Promise<Buffer | undefined>;
  /** Pairs with begin <= key < end, in key order (or reverse order). */
  getRange(begin: Uint8Array, end: Uint8Array, options?: RangeOptions): Promise<KeyValue[]>;
  /** The same reads without adding conflicts (FoundationDB's snapshot reads). */
  readonly snapshot: KvSnapshotReader;
}

export interface KvSnapshotReader {
  get(key: Uint8Array): Promise<Buffer | undefined>;
  getRange(begin: Uint8Array, end: Uint8Array, options?: RangeOptions): Promise<KeyValue[]>;
}

/** A read-write transaction. Writes are visible to this transaction's own later reads. */
export interface KvTransaction extends KvReadTransaction {
  set(key: Uint8Array, value: Uint8Array): void;
  clear(key: Uint8Array): void;
  /** Clears every key with begin <= key < end. */
  clearRange(begin: Uint8Array, end: Uint8Array): void;
}

export interface TransactOptions {
  /** Attempts before giving up with KvCode.RetriesExhausted (default limits.kvTransactionAttemptsMax). */
  attemptsMax?: number;
  /** Aborts waiting and retrying when signalled. */
  signal?: AbortSignal;
  /**
   * Told of each attempt that failed with a retryable error when another attempt follows, whether
   * or not the function ran in it (a sqlite writer can time out waiting for the lock first).
   */
  onRetry?: (error: FsError) => void;
}

/** A metadata engine: sqlite (embedded), postgres, or foundationdb. */
export interface KvEngine {
  /** The engine's name, for logs and metrics. */
  readonly name: string;
  /**
   * Runs `fn` in a serializable read-write transaction and commits it. On a conflict the whole
   * function runs again, so it must not have side effects outside the transaction. Resolves to
   * `fn`'s result once the commit is durable.
   */
  transact<T>(fn: (tx: KvTransaction) => Promise<T>, options?: TransactOptions): Promise<T>;
  /** Runs `fn` in a read-only transaction (a consistent snapshot). */
  read<T>(fn: (tx: KvReadTransaction) => Promise<T>, options?: TransactOptions): Promise<T>;
  /** Waits for running transactions, then releases the engine's resources. */
  close(): Promise<void>;
}
