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
   * `fn`'s result once committed: durable at once on postgres, foundationdb and sqlite "full";
   * on sqlite "interval" it survives the death of any process at once and a power loss within the
   * commit interval, or after `sync`.
   */
  transact<T>(fn: (tx: KvTransaction) => Promise<T>, options?: TransactOptions): Promise<T>;
  /** Runs `fn` in a read-only transaction (a consistent snapshot). */
  read<T>(fn: (tx: KvReadTransaction) => Promise<T>, options?: TransactOptions): Promise<T>;
  /**
   * Resolves once every transaction committed before the call is on stable storage. Engines whose
   * commits are durable when acknowledged (postgres, foundationdb, sqlite "full") resolve at once;
   * sqlite "interval" and "normal" fdatasync the WAL, one fdatasync shared by concurrent callers.
   */
  sync(): Promise<void>;
  /** Waits for running transactions, makes their commits durable, then releases the resources. */
  close(): Promise<void>;
}

/** One sync that made an engine's commits durable; engines durable at each commit report none. */
export interface KvSyncEvent {
  readonly engine: string;
  /** What asked for it: the commit interval, a `sync()` call, or closing the engine. */
  readonly reason: 'interval' | 'request' | 'close';
  readonly durationMs: number;
}

/** Watches an engine's syncs (metrics); runs inline, so it must be quick and must not throw. */
export interface KvSyncObserver {
  syncFinished(event: KvSyncEvent): void;
}
