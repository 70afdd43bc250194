// Proves the meta key layout: every key decodes back to its fields, one directory's entries (and
// one inode's sessions) are exactly one prefix range, and little-endian inode keys spread ids.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareKeys } from '../../../src/kv/index.js';
import {
  inodeOfKey,
  keys,
  prefixRange,
  queuedInodeOfKey,
  splitClientSessionKey,
  splitNamedKey,
  splitSessionKey,
} from '../../../src/meta/store/keys.js';

const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const name = fc
  .string({ minLength: 1, maxLength: 40, unit: 'grapheme' })
  .filter((text) => !text.includes('/') && !text.includes('\0'));
const sessionPart = fc.stringMatching(/^[A-Za-z0-9_.:-]{1,64}$/);

function inRange(key: Buffer, range: { begin: Buffer; end: Buffer }): boolean {
  return compareKeys(key, range.begin) >= 0 && compareKeys(key, range.end) < 0;
}

describe('meta keys', () => {
  it('decode back to their fields (property)', () => {
    fc.assert(
      fc.property(u64, name, sessionPart, sessionPart, (ino, entryName, clientId, sessionId) => {
        expect(inodeOfKey(keys.inode(ino))).toBe(ino);
        expect(queuedInodeOfKey(keys.gc(ino))).toBe(ino);
        expect(splitNamedKey(keys.entry(ino, entryName))).toEqual({ owner: ino, name: entryName });
        expect(splitSessionKey(keys.session(ino, clientId, sessionId))).toEqual({ ino, clientId, sessionId });
        expect(splitClientSessionKey(keys.clientSession(clientId, ino, sessionId))).toEqual({
          clientId,
          ino,
          sessionId,
        });
      }),
    );
  });

  it('keep one directory’s entries in one range, apart from every other directory’s (property)', () => {
    fc.assert(
      fc.property(u64, u64, name, (parent, other, entryName) => {
        fc.pre(parent !== other);
        const range = prefixRange(keys.entries(parent));
        expect(inRange(keys.entry(parent, entryName), range)).toBe(true);
        expect(inRange(keys.entry(other, entryName), range)).toBe(false);
        expect(inRange(keys.session(parent, 'c', 's'), prefixRange(keys.sessions(parent)))).toBe(true);
        expect(inRange(keys.session(other, 'c', 's'), prefixRange(keys.sessions(parent)))).toBe(false);
      }),
    );
  });

  it('keep one client’s sessions in one range even when one client id prefixes another', () => {
    const range = prefixRange(keys.clientSessions('client'));
    expect(inRange(keys.clientSession('client', 5n, 's'), range)).toBe(true);
    expect(inRange(keys.clientSession('client2', 5n, 's'), range)).toBe(false);
  });

  it('spread consecutive inode ids over the key space, while GC keys list in id order', () => {
    expect(keys.inode(1n)[4]).toBe(1);
    expect(keys.inode(2n)[4]).toBe(2);
    expect(compareKeys(keys.inode(256n), keys.inode(1n))).toBeLessThan(0);
    expect(compareKeys(keys.gc(256n), keys.gc(1n))).toBeGreaterThan(0);
  });
});
