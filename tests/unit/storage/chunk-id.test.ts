// Proves that chunk ids encode to 12 bytes whose byte order is (inode, index) order, and that the
// binary and text forms round-trip.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compareChunkIds,
  decodeChunkId,
  encodeChunkId,
  formatChunkId,
  parseChunkId,
} from '../../../src/storage/protocol/index.js';

const chunkIdArbitrary = fc.record({
  inode: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  index: fc.integer({ min: 0, max: 0xffff_ffff }),
});

describe('chunk ids', () => {
  it('round-trip through the binary and the text form', () => {
    fc.assert(
      fc.property(chunkIdArbitrary, (id) => {
        expect(decodeChunkId(encodeChunkId(id))).toEqual(id);
        expect(parseChunkId(formatChunkId(id))).toEqual(id);
        expect(encodeChunkId(id)).toHaveLength(12);
      }),
    );
  });

  it('order their binary forms as (inode, index)', () => {
    fc.assert(
      fc.property(chunkIdArbitrary, chunkIdArbitrary, (a, b) => {
        const bytes = Math.sign(Buffer.compare(encodeChunkId(a), encodeChunkId(b)));
        expect(bytes).toBe(Math.sign(compareChunkIds(a, b)));
        expect(Math.sign(formatChunkId(a).localeCompare(formatChunkId(b)))).toBe(bytes);
      }),
    );
  });

  it('refuses encodings of the wrong size and text that is not a chunk id', () => {
    expect(() => decodeChunkId(Buffer.alloc(11))).toThrow(/12 bytes/);
    expect(parseChunkId('not-a-chunk')).toBeUndefined();
    expect(parseChunkId('0000000000000001-0000000g')).toBeUndefined();
    expect(() => encodeChunkId({ inode: -1n, index: 0 })).toThrow(/u64/);
    expect(() => encodeChunkId({ inode: 1n, index: 2 ** 32 })).toThrow(/u32/);
  });
});
