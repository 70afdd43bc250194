/**
 * The contract between the generic transaction layer and one storage engine. The generic layer
 * (backed-engine.ts, checked-transaction.ts) owns retries, FoundationDB's limits, the age limit,
 * read-your-writes and the write buffer; an engine only provides reads of its committed state
 * inside an isolated attempt, and an atomic, durable commit of the buffered mutations.
 */
import type { KeyValue } from './kv.js';

/** Whether an attempt may write: `read` attempts come from `KvEngine.read` and never commit mutations. */
export type AttemptMode = 'read' | 'write';

/** The mutations of one transaction, in the order an engine applies them. */
export interface KvMutations {
  /** Disjoint cleared ranges [begin, end) in key order; applied first. */
  clearedRanges: ReadonlyArray<{ begin: Buffer; end: Buffer }>;
  /** Point writes in key order, applied after the ranges: a value to set, or undefined to clear the key. */
  points: ReadonlyArray<{ key: Buffer; value: Buffer | undefined }>;
}

/** Options of one storage range read; the generic layer has already checked and bounded them. */
export interface StorageRangeOptions {
  /** At least 1. */
  limit: number;
  reverse: boolean;
  /** A snapshot read adds no read conflict (engines without conflict tracking ignore it). */
  snapshot: boolean;
}

/**
 * One attempt of a transaction inside an engine. Reads see the committed state as of the
 * attempt's snapshot, never the attempt's own buffered writes (the generic layer overlays those).
 * The generic layer never calls an attempt after `commit` or `rollback`.
 */
export interface StorageAttempt {
  get(key: Buffer, snapshot: boolean): Promise<Buffer | undefined>;
  getRange(begin: Buffer, end: Buffer, options: StorageRangeOptions): Promise<KeyValue[]>;
  /**
   * Applies `mutations` atomically and resolves once they are durable; rejects with a KvCode
   * (Conflict when another writer won, and nothing was applied). Called at most once.
   */
  commit(mutations: KvMutations): Promise<void>;
  /** Ends the attempt without applying anything and releases its locks at once. Idempotent. */
  rollback(): void;
}

/** A storage engine under the generic transaction layer. */
export interface KvBackend {
  readonly name: string;
  /** Starts an attempt; waiting (for a connection or a lock) honours `signal` and is bounded. */
  begin(mode: AttemptMode, signal: AbortSignal | undefined): Promise<StorageAttempt>;
  /** Resolves once every commit made before the call is durable (KvEngine.sync). */
  sync(): Promise<void>;
  /** Refuses new attempts with KvCode.Closed, waits for running ones to end, releases resources. */
  close(): Promise<void>;
}
