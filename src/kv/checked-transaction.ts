/**
 * The transaction object handed to a transaction function, the same for every engine. It checks
 * FoundationDB's limits on every call, buffers writes until commit (so a failed attempt leaves
 * nothing behind), overlays them on reads (read-your-writes, snapshot reads included, as in
 * FoundationDB), and refuses use after its function finished (TransactionFinished) or after the
 * age limit (TransactionTooOld). Invariant: the engine's attempt is never called once this
 * transaction has left the `active` state, so an abandoned function cannot touch a connection
 * that already serves the next transaction.
 */
import type { Clock } from '../common/clock.js';
import { assert } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { AttemptMode, StorageAttempt } from './backend.js';
import type { KeyValue, KvReadTransaction, KvSnapshotReader, KvTransaction, RangeOptions } from './kv.js';
import { readMergedRange } from './range-merge.js';
import {
  addMutationBytes,
  checkKeySize,
  checkRangeEndpointSize,
  checkRangeOrder,
  checkUnlimitedRangeResult,
  checkValueSize,
  effectiveRangeLimit,
  transactionFinished,
  transactionTooOld,
} from './size-limits.js';
import { keyText, WriteBuffer } from './write-buffer.js';

type State = 'active' | 'committing' | 'finished' | 'expired';

export class CheckedTransaction implements KvTransaction {
  readonly snapshot: KvSnapshotReader;
  private state: State = 'active';
  private mutationBytes = 0;
  private readonly buffer = new WriteBuffer();
  private readonly startedMs: number;

  constructor(
    private readonly storage: StorageAttempt,
    private readonly options: { mode: AttemptMode; clock: Clock },
  ) {
    this.startedMs = options.clock.monotonicMs();
    this.snapshot = {
      get: (key) => this.readKey(key, true),
      getRange: (begin, end, rangeOptions) => this.readRange(begin, end, rangeOptions, true),
    };
  }

  /** Milliseconds since the attempt began. */
  get ageMs(): number {
    return this.options.clock.monotonicMs() - this.startedMs;
  }

  get(key: Uint8Array): Promise<Buffer | undefined> {
    return this.readKey(key, false);
  }

  getRange(begin: Uint8Array, end: Uint8Array, options?: RangeOptions): Promise<KeyValue[]> {
    return this.readRange(begin, end, options, false);
  }

  set(key: Uint8Array, value: Uint8Array): void {
    this.checkWritable();
    checkKeySize(key);
    checkValueSize(key, value);
    this.mutationBytes = addMutationBytes(this.mutationBytes, key.length + value.length);
    // A copy: the caller may reuse its buffer after set returns.
    this.buffer.set(keyText(key), Buffer.from(value));
  }

  clear(key: Uint8Array): void {
    this.checkWritable();
    checkKeySize(key);
    this.mutationBytes = addMutationBytes(this.mutationBytes, key.length);
    this.buffer.clear(keyText(key));
  }

  clearRange(begin: Uint8Array, end: Uint8Array): void {
    this.checkWritable();
    checkRangeEndpointSize(begin, 'begin');
    checkRangeEndpointSize(end, 'end');
    checkRangeOrder(begin, end);
    this.mutationBytes = addMutationBytes(this.mutationBytes, begin.length + end.length);
    this.buffer.clearRange(keyText(begin), keyText(end));
  }

  /** The reads of this transaction alone, for read-only transaction functions. */
  readView(): KvReadTransaction {
    return {
      get: (key) => this.readKey(key, false),
      getRange: (begin, end, options) => this.readRange(begin, end, options, false),
      snapshot: this.snapshot,
    };
  }

  /** Checks the age one last time and hands the buffered mutations to the engine; called once. */
  async commit(): Promise<void> {
    this.checkUsable();
    this.state = 'committing';
    await this.storage.commit(this.buffer.mutations());
  }

  /** Marks the attempt as past its age limit: every later use fails with TransactionTooOld. */
  expire(): void {
    if (this.state === 'active') this.state = 'expired';
  }

  /** Ends the transaction: later use fails with TransactionFinished (or TooOld, once expired). */
  finish(): void {
    if (this.state !== 'expired') this.state = 'finished';
  }

  private async readKey(key: Uint8Array, snapshot: boolean): Promise<Buffer | undefined> {
    this.checkUsable();
    checkKeySize(key);
    const text = keyText(key);
    const pending = this.buffer.lookup(text);
    if (pending !== undefined) return pending.value === undefined ? undefined : Buffer.from(pending.value);
    const value = await this.storage.get(Buffer.from(key), snapshot);
    // The attempt may have expired while the engine answered: its answer must not be used.
    this.checkUsable();
    return value;
  }

  private async readRange(
    begin: Uint8Array,
    end: Uint8Array,
    options: RangeOptions | undefined,
    snapshot: boolean,
  ): Promise<KeyValue[]> {
    this.checkUsable();
    checkRangeEndpointSize(begin, 'begin');
    checkRangeEndpointSize(end, 'end');
    checkRangeOrder(begin, end);
    const limit = effectiveRangeLimit(options?.limit);
    const reverse = options?.reverse ?? false;
    if (Buffer.compare(begin, end) === 0) return [];
    const pairs = await readMergedRange({
      buffer: this.buffer,
      begin: Buffer.from(begin),
      end: Buffer.from(end),
      limit,
      reverse,
      readStorage: async (batchBegin, batchEnd, batchLimit) => {
        // Checked before every engine call, since the merge may call it again after an await.
        this.checkUsable();
        return this.storage.getRange(batchBegin, batchEnd, { limit: batchLimit, reverse, snapshot });
      },
    });
    this.checkUsable();
    if (options?.limit === undefined || options.limit === 0) checkUnlimitedRangeResult(pairs.length);
    assert(pairs.length <= limit, 'a range read returned more pairs than its limit');
    return pairs;
  }

  private checkWritable(): void {
    assert(this.options.mode === 'write', 'a read-only transaction has no writes');
    this.checkUsable();
  }

  private checkUsable(): void {
    if (this.state === 'finished' || this.state === 'committing') throw transactionFinished();
    const ageMs = this.ageMs;
    if (this.state === 'expired' || ageMs > limits.kvTransactionDurationMsMax) {
      this.state = 'expired';
      throw transactionTooOld(ageMs);
    }
  }
}
