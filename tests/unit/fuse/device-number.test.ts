// Proves the FUSE edge's device numbers: the kernel's 32-bit encoding of major and minor (as glibc's makedev gives it), a round trip for every valid pair, and a clear refusal of numbers out of range.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeDevice, encodeDevice } from '../../../src/fuse/device-number.js';

describe('device numbers', () => {
  it('encodes as the kernel and glibc do', () => {
    expect(encodeDevice({ major: 1, minor: 3 })).toBe(0x103);
    expect(encodeDevice({ major: 8, minor: 17 })).toBe(0x811);
    // Minor bits past the low byte go above the major's 12 bits.
    expect(encodeDevice({ major: 259, minor: 0x12345 })).toBe(0x12310345);
    expect(encodeDevice({ major: 0xfff, minor: 0xfffff })).toBe(0xffffffff);
    expect(decodeDevice(0x12310345)).toEqual({ major: 259, minor: 0x12345 });
  });

  it('decodes what it encodes, and every 32-bit number to a pair that encodes back to it', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xfff }),
        fc.integer({ min: 0, max: 0xfffff }),
        (major, minor) => {
          expect(decodeDevice(encodeDevice({ major, minor }))).toEqual({ major, minor });
        },
      ),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff_ffff }), (rdev) => {
        expect(encodeDevice(decodeDevice(rdev))).toBe(rdev);
      }),
    );
  });

  it('refuses numbers out of range', () => {
    expect(() => encodeDevice({ major: 4096, minor: 0 })).toThrow(/major device number 4096/);
    expect(() => encodeDevice({ major: 0, minor: 1 << 20 })).toThrow(/minor device number/);
    expect(() => encodeDevice({ major: 1.5, minor: 0 })).toThrow(RangeError);
    expect(() => decodeDevice(-1)).toThrow(/32-bit/);
    expect(() => decodeDevice(2 ** 32)).toThrow(/32-bit/);
  });
});
