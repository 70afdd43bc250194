// Proves the pure rules of directory quotas: what a file holds (length plus the grant past it),
// which limit an increase must stay within (hard, or soft after its grace), when an increase
// fits, exceeds or must be read again exactly, how soft-limit times are kept, and how much a
// writer is granted.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { limits } from '../../../src/common/limits.js';
import type { QuotaState, QuotaUsage } from '../../../src/meta/protocol/index.js';
import {
  byteRoom,
  effectiveLimit,
  grantCeiling,
  inodeUsage,
  judgeIncrease,
  trackSoftLimits,
} from '../../../src/meta/quota/quota-rules.js';

const second = 1_000_000_000n;

function quota(limits: Partial<QuotaState['limits']>, extra: Partial<QuotaState> = {}): QuotaState {
  return {
    quotaId: 20n,
    directory: 17n,
    limits: { graceS: 60, ...limits },
    setAtNs: 0n,
    counting: false,
    ...extra,
  };
}

function usage(inodes: bigint, bytes: bigint, reservedBytes = 0n): QuotaUsage {
  return { inodes, bytes, reservedBytes };
}

describe('inodeUsage', () => {
  it('counts a file’s length and only the part of its grant past it', () => {
    expect(inodeUsage(undefined)).toEqual(usage(1n, 0n));
    expect(inodeUsage({ length: 10n, ceilingBytes: undefined })).toEqual(usage(1n, 10n));
    expect(inodeUsage({ length: 10n, ceilingBytes: 25n })).toEqual(usage(1n, 10n, 15n));
    expect(inodeUsage({ length: 30n, ceilingBytes: 25n })).toEqual(usage(1n, 30n));
  });
});

describe('effectiveLimit', () => {
  it('is the hard limit until usage has been over the soft one for the grace period', () => {
    const nowNs = 1_000n * second;
    expect(effectiveLimit(quota({ hardInodes: 10n }), 'inodes', nowNs)).toBe(10n);
    expect(effectiveLimit(quota({ softInodes: 5n }), 'inodes', nowNs)).toBeUndefined();
    const over = quota({ hardInodes: 10n, softInodes: 5n }, { softInodesSinceNs: nowNs - 59n * second });
    expect(effectiveLimit(over, 'inodes', nowNs)).toBe(10n);
    expect(effectiveLimit(over, 'inodes', nowNs + second)).toBe(5n);
    expect(effectiveLimit(over, 'bytes', nowNs + second)).toBeUndefined();
  });
});

describe('judgeIncrease', () => {
  const limited = quota({ hardInodes: 10_000n, hardBytes: 1n << 40n });

  it('lets decreases and unlimited kinds pass, whatever the usage', () => {
    const after = usage(20_000n, 0n);
    expect(judgeIncrease(limited, { after, delta: usage(-1n, 0n), nowNs: 0n, exact: true })).toBe('fits');
    expect(judgeIncrease(quota({}), { after, delta: usage(1n, 1n), nowNs: 0n, exact: false })).toBe('fits');
  });

  it('asks for an exact read within the margin, and exceeds only on one', () => {
    const margin = BigInt(limits.metaQuotaExactMarginInodes);
    const far = usage(10_000n - margin, 0n);
    const near = usage(10_000n - margin + 1n, 0n);
    const over = usage(10_001n, 0n);
    const delta = usage(1n, 0n);
    expect(judgeIncrease(limited, { after: far, delta, nowNs: 0n, exact: false })).toBe('fits');
    expect(judgeIncrease(limited, { after: near, delta, nowNs: 0n, exact: false })).toBe('near');
    expect(judgeIncrease(limited, { after: over, delta, nowNs: 0n, exact: false })).toBe('near');
    expect(judgeIncrease(limited, { after: near, delta, nowNs: 0n, exact: true })).toBe('fits');
    expect(judgeIncrease(limited, { after: over, delta, nowNs: 0n, exact: true })).toBe('exceeds');
  });

  it('counts granted bytes with written ones', () => {
    const small = quota({ hardBytes: 100n });
    const delta = usage(0n, 0n, 10n);
    expect(judgeIncrease(small, { after: usage(0n, 50n, 50n), delta, nowNs: 0n, exact: true })).toBe('fits');
    expect(judgeIncrease(small, { after: usage(0n, 50n, 51n), delta, nowNs: 0n, exact: true })).toBe(
      'exceeds',
    );
  });

  it('never lets an exact verdict pass usage over the limit (property)', () => {
    fc.assert(
      fc.property(
        fc.bigInt(0n, 1n << 50n),
        fc.bigInt(1n, 1n << 30n),
        fc.bigInt(0n, 1n << 50n),
        (limit, delta, base) => {
          const verdict = judgeIncrease(quota({ hardBytes: limit }), {
            after: usage(0n, base + delta),
            delta: usage(0n, delta),
            nowNs: 0n,
            exact: true,
          });
          expect(verdict === 'fits').toBe(base + delta <= limit);
        },
      ),
    );
  });
});

describe('trackSoftLimits', () => {
  it('sets the time when usage is first seen over a soft limit and clears it when seen under', () => {
    const soft = quota({ softBytes: 100n });
    const over = trackSoftLimits(soft, usage(0n, 101n), 7n);
    expect(over?.softBytesSinceNs).toBe(7n);
    expect(trackSoftLimits(over as QuotaState, usage(0n, 150n), 9n)).toBeUndefined();
    const under = trackSoftLimits(over as QuotaState, usage(0n, 100n), 11n);
    expect(under).toBeDefined();
    expect(under?.softBytesSinceNs).toBeUndefined();
    expect(trackSoftLimits(soft, usage(0n, 100n), 7n)).toBeUndefined();
  });
});

describe('grants', () => {
  const grant = BigInt(limits.metaQuotaGrantBytes);

  it('give what is needed and the grant size beyond, or what room is left', () => {
    expect(grantCeiling({ currentBytes: 0n, endBytes: 10n, roomBytes: undefined })).toBe(10n + grant);
    expect(grantCeiling({ currentBytes: 50n, endBytes: 10n, roomBytes: 0n })).toBe(50n);
    expect(grantCeiling({ currentBytes: 50n, endBytes: 60n, roomBytes: 5n })).toBe(55n);
    expect(grantCeiling({ currentBytes: 50n, endBytes: 60n, roomBytes: 1n << 40n })).toBe(60n + grant);
  });

  it('find the room below the effective byte limit', () => {
    expect(byteRoom(quota({ hardBytes: 100n }), usage(0n, 30n, 20n), 0n)).toBe(50n);
    expect(byteRoom(quota({ hardBytes: 100n }), usage(0n, 130n), 0n)).toBe(0n);
    expect(byteRoom(quota({ softBytes: 100n }), usage(0n, 130n), 0n)).toBeUndefined();
  });
});
