// Proves the generic transaction object: limits, age checks without timers, finished state, and the mutations it commits.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/common/clock.js';
import type { FsError } from '../../../src/common/errors.js';
import { limits } from '../../../src/common/limits.js';
import { KvCode, type StatusCode } from '../../../src/common/status-code.js';
import type { KvMutations, StorageAttempt, StorageRangeOptions } from '../../../src/kv/backend.js';
import { CheckedTransaction } from '../../../src/kv/checked-transaction.js';
import type { KeyValue } from '../../../src/kv/kv.js';

const k = (text: string): Buffer => Buffer.from(text, 'latin1');

/** Storage over a sorted in-memory list; records what is committed. */
class MemoryAttempt implements StorageAttempt {
  committed: KvMutations | undefined;
  rolledBack = false;
  rangeCalls = 0;
  /** When set, reads wait for this promise before answering. */
  gate: Promise<void> | undefined;

  constructor(private readonly pairs: KeyValue[]) {
    pairs.sort((left, right) => Buffer.compare(left.key, right.key));
  }

  async get(key: Buffer): Promise<Buffer | undefined> {
    await this.gate;
    return this.pairs.find((pair) => pair.key.equals(key))?.value;
  }

  async getRange(begin: Buffer, end: Buffer, options: StorageRangeOptions): Promise<KeyValue[]> {
    this.rangeCalls++;
    await this.gate;
    const inside = this.pairs.filter(
      (pair) => Buffer.compare(pair.key, begin) >= 0 && Buffer.compare(pair.key, end) < 0,
    );
    if (options.reverse) inside.reverse();
    return inside.slice(0, options.limit);
  }

  async commit(mutations: KvMutations): Promise<void> {
    this.committed = mutations;
  }

  rollback(): void {
    this.rolledBack = true;
  }
}

function codeOfSync(action: () => unknown): StatusCode {
  try {
    action();
  } catch (error) {
    return (error as FsError).code;
  }
  throw new Error('expected a throw');
}

async function codeOf(promise: Promise<unknown>): Promise<StatusCode> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => (error as FsError).code,
  );
}

function setup(pairs: KeyValue[] = []) {
  const clock = new ManualClock();
  const storage = new MemoryAttempt(pairs);
  const tx = new CheckedTransaction(storage, { mode: 'write', clock });
  return { clock, storage, tx };
}

describe('CheckedTransaction', () => {
  it('refuses a commit once the transaction is older than 5 s, even when no timer fired', async () => {
    const { clock, storage, tx } = setup();
    tx.set(k('a'), k('1'));
    // A long synchronous computation: time passes but no timer can run.
    clock.monotonicMs = () => 1_700_000_000_000 + limits.kvTransactionDurationMsMax + 1;
    expect(await codeOf(tx.commit())).toBe(KvCode.TransactionTooOld);
    expect(storage.committed).toBeUndefined();
    expect(codeOfSync(() => tx.set(k('b'), k('1')))).toBe(KvCode.TransactionTooOld);
  });

  it('accepts work at exactly 5 s and refuses it just after', async () => {
    const { clock, tx } = setup();
    clock.advance(limits.kvTransactionDurationMsMax);
    tx.set(k('a'), k('1'));
    clock.advance(1);
    expect(await codeOf(tx.get(k('a')))).toBe(KvCode.TransactionTooOld);
  });

  it('does not use an answer that arrives after the transaction expired', async () => {
    const { storage, tx } = setup([{ key: k('a'), value: k('1') }]);
    let open: () => void = () => {};
    storage.gate = new Promise((resolve) => (open = resolve));
    const read = tx.get(k('a'));
    tx.expire();
    open();
    expect(await codeOf(read)).toBe(KvCode.TransactionTooOld);
  });

  it('reports TransactionFinished after finish, and TooOld stays once expired', async () => {
    const finished = setup().tx;
    finished.finish();
    expect(await codeOf(finished.get(k('a')))).toBe(KvCode.TransactionFinished);
    expect(codeOfSync(() => finished.clear(k('a')))).toBe(KvCode.TransactionFinished);
    const expired = setup().tx;
    expired.expire();
    expired.finish();
    expect(await codeOf(expired.getRange(k('a'), k('b')))).toBe(KvCode.TransactionTooOld);
  });

  it('counts every mutation toward the transaction size, as FoundationDB does', () => {
    const { tx } = setup();
    const value = Buffer.alloc(limits.kvValueBytesMax);
    const key = Buffer.alloc(limits.kvKeyBytesMax - 1);
    // The same key set again and again still adds up.
    const setsFitting = Math.floor(limits.kvTransactionBytesMax / (key.length + value.length + 1));
    for (let index = 0; index < setsFitting; index++)
      tx.set(Buffer.concat([key, Buffer.from([index % 2])]), value);
    expect(codeOfSync(() => tx.set(key, value))).toBe(KvCode.TransactionTooLarge);
    // A refused mutation is not recorded: smaller ones still fit.
    tx.clear(k('a'));
  });

  it('allows range endpoints one byte longer than the largest key, no more', async () => {
    const { tx } = setup();
    const longest = Buffer.alloc(limits.kvKeyBytesMax + 1, 0x61);
    expect(await tx.getRange(k(''), longest)).toEqual([]);
    tx.clearRange(k(''), longest);
    const tooLong = Buffer.alloc(limits.kvKeyBytesMax + 2, 0x61);
    expect(await codeOf(tx.getRange(k(''), tooLong))).toBe(KvCode.KeyTooLarge);
    expect(codeOfSync(() => tx.clearRange(k(''), tooLong))).toBe(KvCode.KeyTooLarge);
  });

  it('refuses a range read over the engine’s bound, with or without a limit', async () => {
    const pairs = Array.from({ length: limits.kvRangeReadPairsMax + 1 }, (_, index) => ({
      key: Buffer.from(index.toString().padStart(8, '0')),
      value: Buffer.alloc(0),
    }));
    const { tx } = setup(pairs);
    expect(await codeOf(tx.getRange(k(''), k('z')))).toBe(KvCode.RangeTooLarge);
    expect(await codeOf(tx.getRange(k(''), k('z'), { limit: limits.kvRangeReadPairsMax + 1 }))).toBe(
      KvCode.RangeTooLarge,
    );
    expect(await tx.getRange(k(''), k('z'), { limit: limits.kvRangeReadPairsMax })).toHaveLength(
      limits.kvRangeReadPairsMax,
    );
  });

  it('reads through the write buffer with storage batches when writes hide stored keys', async () => {
    const pairs = Array.from({ length: 50 }, (_, index) => ({
      key: Buffer.from(`key${index.toString().padStart(2, '0')}`),
      value: k('stored'),
    }));
    const { storage, tx } = setup(pairs);
    for (let index = 0; index < 50; index += 2)
      tx.clear(Buffer.from(`key${index.toString().padStart(2, '0')}`));
    const firstFive = await tx.getRange(k('key'), k('kez'), { limit: 5 });
    expect(firstFive.map((pair) => pair.key.toString())).toEqual([
      'key01',
      'key03',
      'key05',
      'key07',
      'key09',
    ]);
    expect(storage.rangeCalls).toBeGreaterThan(1);
    const lastTwo = await tx.getRange(k('key'), k('kez'), { limit: 2, reverse: true });
    expect(lastTwo.map((pair) => pair.key.toString())).toEqual(['key49', 'key47']);
  });

  it('commits cleared ranges and point writes in key order', async () => {
    const { storage, tx } = setup();
    tx.set(k('c'), k('3'));
    tx.set(k('a'), k('1'));
    tx.clearRange(k('m'), k('p'));
    tx.clearRange(k('o'), k('q'));
    tx.set(k('n'), k('after clear'));
    tx.clear(k('b'));
    await tx.commit();
    const committed = storage.committed as KvMutations;
    expect(
      committed.clearedRanges.map((range) => `${range.begin.toString()}-${range.end.toString()}`),
    ).toEqual(['m-q']);
    expect(
      committed.points.map((point) => `${point.key.toString()}=${point.value?.toString() ?? '(clear)'}`),
    ).toEqual(['a=1', 'b=(clear)', 'c=3', 'n=after clear']);
  });
});
