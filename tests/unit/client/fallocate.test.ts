// Proves what each fallocate mode does to a file of a known length: which modes are refused and
// with which status code, which range is zeroed (never past the end), when the file grows, and how
// many bytes past the end are promised (checked against the usable space).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FallocateFlag, checkFallocate, planFallocate } from '../../../src/client/fallocate.js';
import { CommonCode, MetaCode } from '../../../src/common/status-code.js';

const { keepSize, punchHole, zeroRange, collapseRange, insertRange, unshareRange, noHideStale } =
  FallocateFlag;

const refusal = (mode: number, offset = 0n, length = 1n): number | undefined => {
  try {
    checkFallocate(mode, offset, length);
    return undefined;
  } catch (error) {
    return (error as { code?: number }).code;
  }
};

describe('fallocate modes', () => {
  it('accepts mode 0, KEEP_SIZE, PUNCH_HOLE|KEEP_SIZE and ZERO_RANGE with or without KEEP_SIZE', () => {
    expect(checkFallocate(0, 5n, 10n)).toEqual({
      kind: 'allocate',
      keepSize: false,
      offset: 5n,
      length: 10n,
    });
    expect(checkFallocate(keepSize, 0n, 1n)).toMatchObject({ kind: 'allocate', keepSize: true });
    expect(checkFallocate(punchHole | keepSize, 0n, 1n)).toMatchObject({
      kind: 'punch-hole',
      keepSize: true,
    });
    expect(checkFallocate(zeroRange, 0n, 1n)).toMatchObject({ kind: 'zero-range', keepSize: false });
    expect(checkFallocate(zeroRange | keepSize, 0n, 1n)).toMatchObject({
      kind: 'zero-range',
      keepSize: true,
    });
  });

  it('refuses what the file system lacks with NotImplemented (EOPNOTSUPP), and bad ranges', () => {
    for (const mode of [
      punchHole,
      collapseRange,
      collapseRange | keepSize,
      insertRange,
      unshareRange,
      punchHole | zeroRange | keepSize,
      punchHole | keepSize | noHideStale,
      0x80,
    ]) {
      expect(refusal(mode), `mode 0x${mode.toString(16)}`).toBe(CommonCode.NotImplemented);
    }
    expect(refusal(0, -1n, 1n)).toBe(CommonCode.InvalidArgument);
    expect(refusal(0, 0n, 0n)).toBe(CommonCode.InvalidArgument);
    expect(refusal(punchHole | keepSize, 0n, -4n)).toBe(CommonCode.InvalidArgument);
    expect(refusal(0, 1n << 62n, 1n << 62n)).toBe(MetaCode.FileTooLarge);
    expect(refusal(0, (1n << 63n) - 2n, 1n)).toBeUndefined();
  });

  it('extends with mode 0 and promises the bytes past the end, or nothing inside the file', () => {
    expect(planFallocate(checkFallocate(0, 100n, 50n), 120n)).toEqual({
      zero: undefined,
      extendTo: 150n,
      promisedBytes: 30n,
      modifies: true,
    });
    expect(planFallocate(checkFallocate(0, 200n, 50n), 120n)).toMatchObject({
      extendTo: 250n,
      promisedBytes: 50n,
    });
    expect(planFallocate(checkFallocate(0, 0n, 50n), 120n)).toEqual({
      zero: undefined,
      extendTo: undefined,
      promisedBytes: 0n,
      modifies: false,
    });
    expect(planFallocate(checkFallocate(keepSize, 100n, 50n), 120n)).toEqual({
      zero: undefined,
      extendTo: undefined,
      promisedBytes: 30n,
      modifies: false,
    });
  });

  it('punches and zeroes only up to the end, extends only for ZERO_RANGE without KEEP_SIZE', () => {
    expect(planFallocate(checkFallocate(punchHole | keepSize, 10n, 500n), 120n)).toEqual({
      zero: { from: 10n, to: 120n },
      extendTo: undefined,
      promisedBytes: 0n,
      modifies: true,
    });
    expect(planFallocate(checkFallocate(punchHole | keepSize, 200n, 5n), 120n)).toEqual({
      zero: undefined,
      extendTo: undefined,
      promisedBytes: 0n,
      modifies: false,
    });
    expect(planFallocate(checkFallocate(zeroRange, 100n, 50n), 120n)).toEqual({
      zero: { from: 100n, to: 120n },
      extendTo: 150n,
      promisedBytes: 30n,
      modifies: true,
    });
    expect(planFallocate(checkFallocate(zeroRange | keepSize, 100n, 50n), 120n)).toMatchObject({
      zero: { from: 100n, to: 120n },
      extendTo: undefined,
      promisedBytes: 30n,
    });
  });

  it('never zeroes past the end nor shrinks a file, whatever the mode and range', () => {
    const modes = [0, keepSize, punchHole | keepSize, zeroRange, zeroRange | keepSize];
    fc.assert(
      fc.property(
        fc.constantFrom(...modes),
        fc.bigInt({ min: 0n, max: 1n << 40n }),
        fc.bigInt({ min: 1n, max: 1n << 40n }),
        fc.bigInt({ min: 0n, max: 1n << 41n }),
        (mode, offset, length, fileLength) => {
          const request = checkFallocate(mode, offset, length);
          const plan = planFallocate(request, fileLength);
          if (plan.zero !== undefined) {
            expect(plan.zero.from).toBe(offset);
            expect(plan.zero.to <= fileLength && plan.zero.to <= offset + length).toBe(true);
            expect(plan.zero.from < plan.zero.to).toBe(true);
          }
          if (plan.extendTo !== undefined) {
            expect(plan.extendTo).toBe(offset + length);
            expect(plan.extendTo > fileLength).toBe(true);
            expect(request.keepSize).toBe(false);
          }
          expect(plan.promisedBytes >= 0n && plan.promisedBytes <= length).toBe(true);
        },
      ),
    );
  });
});
