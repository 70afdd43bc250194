// Proves the FUSE binding's served-listing calls (native/fuse/src/session-wrap.cc) refuse bad
// values with a TypeError and change nothing, and take a well-formed listing and its drop on an
// unmounted session without answering anything.
import { afterEach, describe, expect, it } from 'vitest';
import { PackedDirents, loadNativeBinding, type NativeSession } from '../../../src/fuse/lowlevel/index.js';
import { fuseSkipReason } from './harness.js';

const skipReason = fuseSkipReason();

// Skipped only off CI, where /dev/fuse, the built binding or fusermount3 is missing: the reason is
// printed; under CI=true the skip-reason helper throws instead, so the file fails.
describe.skipIf(skipReason !== undefined)('served-listing calls of the FUSE binding', () => {
  let session: NativeSession | undefined;

  afterEach(() => {
    session?.close();
    session = undefined;
  });

  it('refuses bad arguments with a TypeError and takes good ones', () => {
    const binding = loadNativeBinding();
    const native = new binding.FuseSession({ fsName: 'listing-test', operations: ['readdir'] });
    session = native;
    const packed = PackedDirents.pack(
      [
        { name: 'one', ino: 10n, mode: 0o100000 },
        { name: 'two', ino: 11n, mode: 0o040000 },
      ],
      3,
    );
    const { bytes, starts } = packed;
    expect(() => native.serveListing(-1n, bytes, starts, 2, 3)).toThrow(TypeError);
    expect(() => native.serveListing(1n, 'bytes' as unknown as Buffer, starts, 2, 3)).toThrow(TypeError);
    expect(() => native.serveListing(1n, bytes, [0, 1, 2] as unknown as Uint32Array, 2, 3)).toThrow(
      TypeError,
    );
    expect(() => native.serveListing(1n, bytes, starts, 5, 3)).toThrow(TypeError);
    expect(() => native.serveListing(1n, bytes, starts, 2, -3)).toThrow(TypeError);
    expect(() => native.serveListing(1n, bytes, Uint32Array.of(0, 40, 20), 2, 3)).toThrow(TypeError);
    expect(() => native.serveListing(1n, bytes, Uint32Array.of(0, 8, bytes.length + 1), 2, 3)).toThrow(
      TypeError,
    );
    expect(() => native.dropListing(1.5 as unknown as bigint)).toThrow(TypeError);
    native.serveListing(1n, bytes, starts, packed.count, packed.firstOffset);
    native.dropListing(1n);
    native.dropListing(2n);
    expect(native.readdirsAnswered).toBe(0);
  });
});
