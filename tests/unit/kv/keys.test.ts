// Proves that key encodings keep numeric order as key order, round-trip, and that prefixEnd bounds exactly one prefix.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FsError } from '../../../src/common/errors.js';
import { CommonCode } from '../../../src/common/status-code.js';
import {
  asciiKey,
  compareKeys,
  concatKey,
  formatKey,
  hasPrefix,
  keyAfter,
  prefixEnd,
  readU32BigEndian,
  readU64BigEndian,
  readU64LittleEndian,
  u32BigEndian,
  u64BigEndian,
  u64LittleEndian,
} from '../../../src/kv/index.js';

const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const key = fc.uint8Array({ maxLength: 12 }).map((bytes) => Buffer.from(bytes));
const sign = (value: number): number => Math.sign(value);

describe('fixed-width integers in keys', () => {
  it('orders u32 big-endian keys as their numbers and reads them back', () => {
    fc.assert(
      fc.property(u32, u32, (left, right) => {
        expect(sign(compareKeys(u32BigEndian(left), u32BigEndian(right)))).toBe(sign(left - right));
        expect(readU32BigEndian(u32BigEndian(left))).toBe(left);
        expect(u32BigEndian(left)).toHaveLength(4);
      }),
    );
  });

  it('orders u64 big-endian keys as their numbers and reads them back', () => {
    fc.assert(
      fc.property(u64, u64, (left, right) => {
        const expected = left < right ? -1 : left > right ? 1 : 0;
        expect(sign(compareKeys(u64BigEndian(left), u64BigEndian(right)))).toBe(expected);
        expect(readU64BigEndian(u64BigEndian(left))).toBe(left);
        expect(u64BigEndian(left)).toHaveLength(8);
      }),
    );
  });

  it('keeps the order of integers behind a shared prefix, whatever follows them', () => {
    fc.assert(
      fc.property(key, u64, u64, key, key, (prefix, left, right, leftTail, rightTail) => {
        fc.pre(left !== right);
        const leftKey = concatKey(prefix, u64BigEndian(left), leftTail);
        const rightKey = concatKey(prefix, u64BigEndian(right), rightTail);
        expect(sign(compareKeys(leftKey, rightKey))).toBe(left < right ? -1 : 1);
      }),
    );
  });

  it('writes u64 little-endian for inode keys and reads it back', () => {
    fc.assert(
      fc.property(u64, (value) => {
        const encoded = u64LittleEndian(value);
        expect(encoded).toHaveLength(8);
        expect(readU64LittleEndian(encoded)).toBe(value);
        expect(Buffer.from(encoded).reverse().equals(u64BigEndian(value))).toBe(true);
      }),
    );
    expect(u64LittleEndian(1n).toString('hex')).toBe('0100000000000000');
  });

  it('reads fields at an offset inside a longer key', () => {
    const composite = concatKey(asciiKey('DENT'), u64BigEndian(42n), u32BigEndian(7));
    expect(readU64BigEndian(composite, 4)).toBe(42n);
    expect(readU32BigEndian(composite, 12)).toBe(7);
  });

  it('refuses values that do not fit', () => {
    for (const bad of [-1, 2 ** 32, 1.5, Number.NaN]) {
      expect(() => u32BigEndian(bad)).toThrow(FsError);
    }
    expect(() => u64BigEndian(-1n)).toThrow(FsError);
    expect(() => u64BigEndian(1n << 64n)).toThrow(FsError);
    expect(() => u64LittleEndian(1n << 64n)).toThrow(FsError);
  });
});

describe('prefixEnd', () => {
  it('bounds exactly the keys that start with the prefix', () => {
    const prefix = fc
      .uint8Array({ minLength: 1, maxLength: 6 })
      .filter((bytes) => bytes.some((byte) => byte !== 0xff))
      .map((bytes) => Buffer.from(bytes));
    fc.assert(
      fc.property(prefix, key, (start, candidate) => {
        const end = prefixEnd(start);
        const inside = compareKeys(start, candidate) <= 0 && compareKeys(candidate, end) < 0;
        expect(inside).toBe(hasPrefix(candidate, start));
        expect(compareKeys(concatKey(start, candidate), end)).toBeLessThan(0);
      }),
    );
  });

  it('drops trailing 0xff bytes and increments the last other byte', () => {
    expect(prefixEnd(Buffer.from([0x61, 0x62])).toString('hex')).toBe('6163');
    expect(prefixEnd(Buffer.from([0x61, 0xff, 0xff])).toString('hex')).toBe('62');
    expect(prefixEnd(Buffer.from([0x00])).toString('hex')).toBe('01');
  });

  it('refuses a prefix that is empty or all 0xff, which has no end', () => {
    for (const bad of [Buffer.alloc(0), Buffer.from([0xff]), Buffer.from([0xff, 0xff])]) {
      try {
        prefixEnd(bad);
        expect.unreachable();
      } catch (error) {
        expect((error as FsError).code).toBe(CommonCode.InvalidArgument);
      }
    }
  });
});

describe('other key helpers', () => {
  it('keyAfter is the smallest key greater than the key', () => {
    fc.assert(
      fc.property(key, key, (base, other) => {
        const next = keyAfter(base);
        expect(compareKeys(base, next)).toBeLessThan(0);
        // Nothing lies strictly between a key and keyAfter(key).
        expect(compareKeys(base, other) < 0 && compareKeys(other, next) < 0).toBe(false);
      }),
    );
  });

  it('asciiKey takes printable ASCII tags only', () => {
    expect(asciiKey('INOD').toString('hex')).toBe('494e4f44');
    expect(() => asciiKey('é')).toThrow(FsError);
  });

  it('formatKey shows printable bytes as text and others escaped, shortened when long', () => {
    expect(formatKey(Buffer.from([0x61, 0x00, 0xff, 0x5c]))).toBe('"a\\x00\\xff\\x5c"');
    expect(formatKey(Buffer.alloc(100, 0x61), 4)).toBe('"aaaa... (100 bytes)"');
  });
});
