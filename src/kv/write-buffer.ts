/**
 * The pending mutations of one transaction attempt, kept in memory until commit so that a failed
 * or abandoned attempt leaves nothing behind, and read back by the attempt's own reads
 * (read-your-writes). State: point writes (a value, or a clear) and disjoint cleared ranges; a
 * point write always wins over a cleared range, because a clearRange drops the point writes it
 * covers and a later set adds a new one.
 *
 * Keys are held as latin1 strings (one character per byte): JavaScript compares strings by code
 * unit with a proper prefix first, which is exactly the KV's bytewise key order.
 */
import type { KvMutations } from './backend.js';

/** A key as a latin1 string, ordered like the key's bytes. */
export type KeyText = string;

/** Converts a key to its KeyText. */
export function keyText(key: Uint8Array): KeyText {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}

/** Converts a KeyText back to the key's bytes. */
export function keyBytes(text: KeyText): Buffer {
  return Buffer.from(text, 'latin1');
}

/** A half-open range [begin, end) of keys. */
export interface TextRange {
  begin: KeyText;
  end: KeyText;
}

/** A pending point write: the value to set, or undefined when the key is cleared. */
export type PointWrite = readonly [key: KeyText, value: Buffer | undefined];

export class WriteBuffer {
  private readonly points = new Map<KeyText, Buffer | undefined>();
  /** Keys of `points` in order, rebuilt lazily after an out-of-order insert; undefined when stale. */
  private sortedKeys: KeyText[] | undefined = [];
  /** Sorted by begin; disjoint and never touching (touching ranges are merged). */
  private cleared: TextRange[] = [];

  /** True when the transaction has written nothing. */
  get isEmpty(): boolean {
    return this.points.size === 0 && this.cleared.length === 0;
  }

  /** Records a set; `value` must not be changed afterwards (the caller passes a copy). */
  set(key: KeyText, value: Buffer): void {
    this.putPoint(key, value);
  }

  clear(key: KeyText): void {
    this.putPoint(key, undefined);
  }

  /** Clears [begin, end): drops the point writes inside and merges the range into the cleared ranges. */
  clearRange(begin: KeyText, end: KeyText): void {
    if (begin >= end) return;
    for (const [key] of this.pointsIn(begin, end)) this.points.delete(key);
    if (this.sortedKeys !== undefined)
      this.sortedKeys = this.sortedKeys.filter((key) => key < begin || key >= end);
    let merged: TextRange = { begin, end };
    const kept: TextRange[] = [];
    for (const range of this.cleared) {
      if (range.end < merged.begin || range.begin > merged.end) {
        kept.push(range);
      } else {
        merged = {
          begin: range.begin < merged.begin ? range.begin : merged.begin,
          end: range.end > merged.end ? range.end : merged.end,
        };
      }
    }
    kept.push(merged);
    kept.sort((left, right) => (left.begin < right.begin ? -1 : 1));
    this.cleared = kept;
  }

  /**
   * What the transaction itself says about `key`: `{ value }` when it set or cleared the key
   * (value undefined for a clear), or undefined when only the committed state can tell.
   */
  lookup(key: KeyText): { value: Buffer | undefined } | undefined {
    if (this.points.has(key)) return { value: this.points.get(key) };
    if (this.isCleared(key)) return { value: undefined };
    return undefined;
  }

  /** True when the transaction has a point write (set or clear) for `key`. */
  hasPoint(key: KeyText): boolean {
    return this.points.has(key);
  }

  /** Point writes with begin <= key < end, in key order. */
  pointsIn(begin: KeyText, end: KeyText): PointWrite[] {
    const keys = this.keysInOrder();
    const result: PointWrite[] = [];
    for (let index = lowerBound(keys, begin); index < keys.length; index++) {
      const key = keys[index] as KeyText;
      if (key >= end) break;
      result.push([key, this.points.get(key)]);
    }
    return result;
  }

  /** The parts of [begin, end) outside every cleared range, in key order: where committed keys still show. */
  unclearedIn(begin: KeyText, end: KeyText): TextRange[] {
    const segments: TextRange[] = [];
    let cursor = begin;
    for (const range of this.cleared) {
      if (range.end <= cursor) continue;
      if (range.begin >= end) break;
      if (range.begin > cursor) segments.push({ begin: cursor, end: range.begin });
      cursor = range.end;
      if (cursor >= end) return segments;
    }
    if (cursor < end) segments.push({ begin: cursor, end });
    return segments;
  }

  /** The mutations to apply at commit, in the order and shape every engine expects. */
  mutations(): KvMutations {
    return {
      clearedRanges: this.cleared.map((range) => ({
        begin: keyBytes(range.begin),
        end: keyBytes(range.end),
      })),
      points: this.keysInOrder().map((key) => ({ key: keyBytes(key), value: this.points.get(key) })),
    };
  }

  private putPoint(key: KeyText, value: Buffer | undefined): void {
    if (!this.points.has(key) && this.sortedKeys !== undefined) {
      // Ascending inserts (the common case) keep the order without a sort.
      const last = this.sortedKeys[this.sortedKeys.length - 1];
      if (last === undefined || key > last) this.sortedKeys.push(key);
      else this.sortedKeys = undefined;
    }
    this.points.set(key, value);
  }

  private isCleared(key: KeyText): boolean {
    // The last range starting at or before `key` is the only one that can hold it.
    let low = 0;
    let high = this.cleared.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.cleared[middle] as TextRange).begin <= key) low = middle + 1;
      else high = middle;
    }
    const candidate = this.cleared[low - 1];
    return candidate !== undefined && key < candidate.end;
  }

  private keysInOrder(): KeyText[] {
    this.sortedKeys ??= [...this.points.keys()].sort((left, right) =>
      left < right ? -1 : left > right ? 1 : 0,
    );
    return this.sortedKeys;
  }
}

/** The first index of `sorted` whose key is >= `key`. */
function lowerBound(sorted: readonly KeyText[], key: KeyText): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((sorted[middle] as KeyText) < key) low = middle + 1;
    else high = middle;
  }
  return low;
}
