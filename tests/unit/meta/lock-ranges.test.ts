// Proves the POSIX byte-range rules of one owner's locks: a lock of the other mode inside an own range splits it, an unlock of a middle part leaves both ends, same-mode ranges that overlap or touch merge (taking the new pid), the result always stays sorted, disjoint and merged, byte by byte equal to a plain model; and that conflicts need a shared byte and a write lock.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  applyRange,
  conflicts,
  firstConflict,
  isNormal,
  type RangeChange,
} from '../../../src/meta/locks/lock-ranges.js';
import { lockOffsetMax, type HeldRange, type LockMode } from '../../../src/meta/protocol/index.js';

const read = (start: bigint, end: bigint, pid = 1): HeldRange => ({ mode: 'read', start, end, pid });
const write = (start: bigint, end: bigint, pid = 1): HeldRange => ({ mode: 'write', start, end, pid });
const change = (mode: LockMode | 'unlock', start: bigint, end: bigint, pid = 1): RangeChange => ({
  mode,
  start,
  end,
  pid,
});

describe('one owner’s ranges', () => {
  it('splits an own read lock around a write lock in its middle', () => {
    expect(applyRange([read(0n, 99n)], change('write', 40n, 59n))).toEqual([
      read(0n, 39n),
      write(40n, 59n),
      read(60n, 99n),
    ]);
  });

  it('leaves both ends when the middle of a lock is unlocked', () => {
    expect(applyRange([write(0n, 99n)], change('unlock', 10n, 19n))).toEqual([
      write(0n, 9n),
      write(20n, 99n),
    ]);
  });

  it('merges overlapping and touching ranges of the same mode, with the new pid', () => {
    expect(applyRange([read(0n, 9n, 1), read(20n, 29n, 1)], change('read', 10n, 19n, 7))).toEqual([
      read(0n, 29n, 7),
    ]);
    expect(applyRange([write(0n, 9n)], change('write', 5n, 14n, 3))).toEqual([write(0n, 14n, 3)]);
    // Ranges of the other mode only touch: they stay apart.
    expect(applyRange([read(0n, 9n)], change('write', 10n, 19n))).toEqual([read(0n, 9n), write(10n, 19n)]);
  });

  it('replaces an own lock of the other mode whole, and upgrades read to write in place', () => {
    expect(applyRange([read(10n, 19n)], change('write', 0n, 99n))).toEqual([write(0n, 99n)]);
    expect(applyRange([read(0n, 99n)], change('write', 0n, 99n))).toEqual([write(0n, 99n)]);
  });

  it('runs a lock to the end of the file and cuts it from anywhere', () => {
    const toEnd = applyRange([], change('write', 100n, lockOffsetMax));
    expect(applyRange(toEnd, change('unlock', 200n, lockOffsetMax))).toEqual([write(100n, 199n)]);
    expect(applyRange(toEnd, change('unlock', 0n, lockOffsetMax))).toEqual([]);
  });

  it('refuses a change whose range ends before it starts', () => {
    expect(() => applyRange([], change('read', 5n, 4n))).toThrow(/starts at or before its end/);
  });

  it('matches a byte-by-byte model for any sequence of changes', () => {
    const size = 24;
    const changeArbitrary = fc
      .record({
        mode: fc.constantFrom<LockMode | 'unlock'>('read', 'write', 'unlock'),
        start: fc.integer({ min: 0, max: size - 1 }),
        length: fc.integer({ min: 1, max: size }),
        pid: fc.integer({ min: 1, max: 5 }),
      })
      .map(({ mode, start, length, pid }) =>
        change(mode, BigInt(start), BigInt(Math.min(size - 1, start + length - 1)), pid),
      );
    fc.assert(
      fc.property(fc.array(changeArbitrary, { maxLength: 30 }), (changes) => {
        let ranges: HeldRange[] = [];
        const model: Array<LockMode | undefined> = new Array<LockMode | undefined>(size).fill(undefined);
        for (const next of changes) {
          ranges = applyRange(ranges, next);
          for (let byte = Number(next.start); byte <= Number(next.end); byte++) {
            model[byte] = next.mode === 'unlock' ? undefined : next.mode;
          }
          expect(isNormal(ranges)).toBe(true);
          const bytes = new Array<LockMode | undefined>(size).fill(undefined);
          for (const range of ranges) {
            for (let byte = Number(range.start); byte <= Number(range.end); byte++) bytes[byte] = range.mode;
          }
          expect(bytes).toEqual(model);
        }
      }),
    );
  });
});

describe('conflicts between owners', () => {
  it('needs a shared byte and at least one write lock', () => {
    expect(conflicts(read(0n, 9n), read(5n, 14n))).toBe(false);
    expect(conflicts(read(0n, 9n), write(5n, 14n))).toBe(true);
    expect(conflicts(write(0n, 9n), read(9n, 9n))).toBe(true);
    expect(conflicts(write(0n, 9n), write(10n, 19n))).toBe(false);
  });

  it('reports the conflicting range that starts first', () => {
    const held = [write(50n, 59n, 2), read(0n, 9n, 3), write(20n, 29n, 4)];
    expect(firstConflict(held, { mode: 'write', start: 0n, end: 99n })).toEqual(read(0n, 9n, 3));
    expect(firstConflict(held, { mode: 'read', start: 0n, end: 99n })).toEqual(write(20n, 29n, 4));
    expect(firstConflict(held, { mode: 'read', start: 30n, end: 49n })).toBeUndefined();
  });
});
