// Proves that block checksums extended append by append, or cut by a shrink, equal the checksums
// computed from scratch, and that verification finds the block a flipped byte lands in.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32c } from '../../../src/common/crc32c.js';
import {
  computeBlockChecksums,
  computeChunkChecksums,
  extendBlockChecksums,
  firstBadBlock,
  shrinkBlockChecksums,
} from '../../../src/storage/store/block-checksums.js';

const blockBytes = 16;

describe('block checksums', () => {
  it('extended over appends equal the checksums of the whole', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 50 }), { maxLength: 8 }), (pieces) => {
        let checksums: Buffer = Buffer.alloc(0);
        let length = 0;
        for (const piece of pieces) {
          checksums = extendBlockChecksums({ checksums, oldLength: length, appended: piece, blockBytes });
          length += piece.length;
        }
        expect(checksums).toEqual(computeBlockChecksums(Buffer.concat(pieces), blockBytes));
      }),
    );
  });

  it('computed in one pass equal the block checksums and the CRC32C of the whole', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (data) => {
        expect(computeChunkChecksums(data, blockBytes)).toEqual({
          blockChecksums: computeBlockChecksums(data, blockBytes),
          checksum: crc32c(data),
        });
      }),
    );
  });

  it('cut by a shrink equal the checksums of the prefix', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 100 }), fc.nat(), (data, cut) => {
        const newLength = cut % (data.length + 1);
        const lastBlockStart = Math.floor(newLength / blockBytes) * blockBytes;
        const shrunk = shrinkBlockChecksums({
          checksums: computeBlockChecksums(data, blockBytes),
          newLength,
          lastBlock: data.subarray(lastBlockStart, newLength),
          blockBytes,
        });
        expect(shrunk).toEqual(computeBlockChecksums(data.subarray(0, newLength), blockBytes));
      }),
    );
  });

  it('locate the block holding a flipped byte', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 100 }), fc.nat(), (data, at) => {
        const checksums = computeBlockChecksums(data, blockBytes);
        expect(firstBadBlock({ checksums, start: 0, data, blockBytes })).toBe(-1);
        const position = at % data.length;
        const damaged = Buffer.from(data);
        damaged[position] = (damaged[position] ?? 0) ^ 0x40;
        expect(firstBadBlock({ checksums, start: 0, data: damaged, blockBytes })).toBe(
          Math.floor(position / blockBytes),
        );
      }),
    );
  });
});
