// Proves the trash's pure rules and keys: which stay a removal gets (explicit, then the nearest
// directory's, then the mount's), item names that fit a name, sort by removal time and differ per
// attempt, who may touch an item, and trash keys that decode back to their fields and sort by
// expiry, so the cleaner's one range read up to now finds exactly the expired items.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { limits } from '../../../src/common/limits.js';
import { MetaCode } from '../../../src/common/status-code.js';
import { compareKeys } from '../../../src/kv/index.js';
import { keys, splitTrashExpiryKey, splitTrashItemKey, tags } from '../../../src/meta/store/keys.js';
import {
  checkMayTouch,
  chooseExpiryS,
  expiresAtNs,
  itemName,
  truncateUtf8,
} from '../../../src/meta/trash/trash-rules.js';
import { alice, bob, expectCode, root } from './meta-harness.js';

const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const timeNs = fc.bigInt({ min: 0n, max: 1n << 62n });
const name = fc
  .string({ minLength: 1, maxLength: 300, unit: 'grapheme' })
  .filter((text) => !text.includes('/') && !text.includes('\0'));

describe('chooseExpiryS', () => {
  it('takes the explicit ask, then the directory’s setting, then the mount’s, else none', () => {
    expect(chooseExpiryS({ explicitS: 5, directoryS: 7, mountDefaultS: 9 })).toBe(5);
    expect(chooseExpiryS({ explicitS: undefined, directoryS: 7, mountDefaultS: 9 })).toBe(7);
    expect(chooseExpiryS({ explicitS: undefined, directoryS: 0, mountDefaultS: 9 })).toBe(0);
    expect(chooseExpiryS({ explicitS: 5, directoryS: 0, mountDefaultS: 9 })).toBe(5);
    expect(chooseExpiryS({ explicitS: undefined, directoryS: undefined, mountDefaultS: 9 })).toBe(9);
    expect(chooseExpiryS({ explicitS: undefined, directoryS: undefined, mountDefaultS: undefined })).toBe(0);
  });

  it('refuses a stay beyond the bound as a bug', () => {
    expect(() =>
      chooseExpiryS({
        explicitS: limits.trashExpireSMax + 1,
        directoryS: undefined,
        mountDefaultS: undefined,
      }),
    ).toThrow();
    expect(expiresAtNs(1_000n, 2)).toBe(2_000_001_000n);
  });
});

describe('itemName', () => {
  it('fits a name, keeps whole characters and differs per attempt (property)', () => {
    fc.assert(
      fc.property(
        timeNs,
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        name,
        (removedAtNs, ino, original) => {
          const first = itemName({ removedAtNs, ino, name: original, attempt: 0 });
          const second = itemName({ removedAtNs, ino, name: original, attempt: 1 });
          expect(Buffer.byteLength(first, 'utf8')).toBeLessThanOrEqual(limits.metaNameBytesMax);
          expect(Buffer.byteLength(second, 'utf8')).toBeLessThanOrEqual(limits.metaNameBytesMax);
          expect(first).not.toBe(second);
          expect(first).not.toContain('/');
          expect(Buffer.from(first, 'utf8').toString('utf8')).toBe(first);
        },
      ),
    );
  });

  it('starts with the UTC removal time, so names sort in removal order', () => {
    const at = BigInt(Date.UTC(2025, 0, 2, 3, 4, 5)) * 1_000_000n;
    expect(itemName({ removedAtNs: at, ino: 77n, name: 'report.txt', attempt: 0 })).toBe(
      '20250102-030405-77-report.txt',
    );
    expect(itemName({ removedAtNs: at, ino: 77n, name: 'report.txt', attempt: 2 })).toBe(
      '20250102-030405-77.3-report.txt',
    );
    expect(truncateUtf8('aé€😀', 5)).toBe('aé');
    expect(truncateUtf8('aé€😀', 6)).toBe('aé€');
  });
});

describe('checkMayTouch', () => {
  it('lets users touch their own trash and root everyone’s', async () => {
    checkMayTouch(alice, alice.uid);
    checkMayTouch(root, bob.uid);
    await expectCode(
      Promise.resolve().then(() => checkMayTouch(alice, bob.uid)),
      MetaCode.NotPermitted,
    );
  });
});

describe('trash keys', () => {
  it('decode back to their fields (property)', () => {
    fc.assert(
      fc.property(u32, name, timeNs, (uid, itemName, expires) => {
        expect(splitTrashItemKey(keys.trashItem(uid, itemName))).toEqual({ uid, name: itemName });
        expect(splitTrashExpiryKey(keys.trashExpiry(expires, uid, itemName))).toEqual({
          expiresAtNs: expires,
          uid,
          name: itemName,
        });
      }),
    );
  });

  it('sort by expiry and fall before the end of "expired at now" exactly when expired (property)', () => {
    fc.assert(
      fc.property(timeNs, timeNs, u32, name, (expires, now, uid, itemName) => {
        const key = keys.trashExpiry(expires, uid, itemName);
        expect(compareKeys(key, tags.trashExpiry)).toBeGreaterThan(0);
        expect(compareKeys(key, keys.trashExpiredAt(now)) < 0).toBe(expires <= now);
      }),
    );
  });

  it('keep one user’s items in one prefix', () => {
    const mine = keys.trashItems(1000);
    expect(keys.trashItem(1000, 'x').subarray(0, mine.length)).toEqual(mine);
    expect(keys.trashItem(1001, 'x').subarray(0, mine.length)).not.toEqual(mine);
  });
});
