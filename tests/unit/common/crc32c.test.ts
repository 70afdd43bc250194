// Proves crc32cCombine joins two ranges' CRC32Cs into the CRC32C of both, exactly as summing the
// joined bytes does, for any contents and lengths (empty ranges included).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32c, crc32cCombine } from '../../../src/common/crc32c.js';

describe('crc32c', () => {
  it('matches the CRC32C check value', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
  });

  it('combines the CRC32Cs of two ranges into that of both', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.uint8Array({ maxLength: 3000 }), (first, second) => {
        const joined = Buffer.concat([first, second]);
        expect(crc32cCombine(crc32c(first), crc32c(second), second.length)).toBe(crc32c(joined));
      }),
      { numRuns: 300 },
    );
  });

  it('combines ranges of a large chunk block by block', () => {
    const data = Buffer.alloc(1 << 20);
    for (let index = 0; index < data.length; index += 4)
      data.writeUInt32LE((index * 2654435761) >>> 0, index);
    let combined = 0;
    for (let offset = 0; offset < data.length; offset += 65_536 + 7) {
      const piece = data.subarray(offset, offset + 65_536 + 7);
      combined = crc32cCombine(combined, crc32c(piece), piece.length);
    }
    expect(combined).toBe(crc32c(data));
  });
});
