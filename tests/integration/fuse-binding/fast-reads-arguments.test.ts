// Proves the FUSE binding's fast-read calls (native/fuse/src/fast-reads-wrap.cc) refuse bad values
// with a TypeError and change nothing, refuse every call before the fast reads are enabled, and
// report a descriptor they cannot take over as a negative errno rather than failing later.
import { afterEach, describe, expect, it } from 'vitest';
import { loadNativeBinding, type NativeSession } from '../../../src/fuse/lowlevel/index.js';
import { fuseSkipReason } from './harness.js';

const skipReason = fuseSkipReason();

const goodOptions = { readBytesMax: 131072, regionBytes: 1048576, timeoutMs: 20000, penaltyMs: 2000 };

// Skipped only off CI, where /dev/fuse, the built binding or fusermount3 is missing: the reason is
// printed; under CI=true the skip-reason helper throws instead, so the file fails.
describe.skipIf(skipReason !== undefined)('fast-read calls of the FUSE binding', () => {
  let session: NativeSession | undefined;

  function newSession(threads = 0): NativeSession {
    const binding = loadNativeBinding();
    session = new binding.FuseSession({ fsName: 'fast-reads-test', threads, operations: ['read'] });
    return session;
  }

  afterEach(() => {
    session?.close();
    session = undefined;
  });

  it('refuses every call until enabled, and counts nothing', () => {
    const native = newSession();
    expect(() => native.fastReadsSetTarget(1, '127.0.0.1:1')).toThrow(/not enabled/);
    expect(() => native.fastReadsForgetFile(1n)).toThrow(/not enabled/);
    expect(native.fastReadsStats()).toEqual({ answered: 0, handedOver: 0, connectionsLost: 0 });
  });

  it('is not enabled on a session that reads on worker threads', () => {
    expect(newSession(2).enableFastReads(goodOptions)).toBe(false);
  });

  it('refuses bad options and arguments with a TypeError', () => {
    const native = newSession();
    expect(() => native.enableFastReads({ ...goodOptions, readBytesMax: 0 })).toThrow(TypeError);
    expect(() => native.enableFastReads({ ...goodOptions, timeoutMs: -1 })).toThrow(TypeError);
    expect(() => native.enableFastReads({ ...goodOptions, regionBytes: 1.5 })).toThrow(TypeError);
    expect(native.enableFastReads(goodOptions)).toBe(true);
    expect(() => native.fastReadsSetFile(1n, 2n, 0, 10n, [1])).toThrow(TypeError);
    expect(() => native.fastReadsSetFile(1n, 2n, 65536, 10n, [])).toThrow(TypeError);
    expect(() => native.fastReadsSetFile(1n, -2n, 65536, 10n, [1])).toThrow(TypeError);
    expect(() => native.fastReadsSetFile(1n, 2n, 65536, 10n, [1, -1])).toThrow(TypeError);
    expect(() => native.fastReadsSetChain(1, [[]])).toThrow(TypeError);
    expect(() => native.fastReadsSetChain(1, 'no' as unknown as number[][])).toThrow(TypeError);
    expect(() => native.fastReadsSetTarget(1, 'a\0b')).toThrow(TypeError);
    expect(() => native.fastReadsConnect('127.0.0.1:1', -1)).toThrow(TypeError);
    native.fastReadsSetFile(1n, 2n, 65536, 10n, [1, 2]);
    native.fastReadsSetChain(1, [[101, 102]]);
    native.fastReadsForgetInode(2n);
    native.fastReadsForgetFile(1n);
  });

  it('reports a descriptor it cannot take over as a negative errno', () => {
    const native = newSession();
    expect(native.enableFastReads(goodOptions)).toBe(true);
    // EBADF: nothing is open under this number.
    expect(native.fastReadsConnect('127.0.0.1:1', 1_000_000)).toBe(-9);
    expect(native.fastReadsHasConnection('127.0.0.1:1')).toBe(false);
  });
});
