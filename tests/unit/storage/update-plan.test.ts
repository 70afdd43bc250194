// Proves the copy-on-write rule of the chunk store's plans: only bytes past the committed end are
// written in place; anything that changes committed bytes (a zeroed range too) builds a new data file.
import { describe, expect, it } from 'vitest';
import { planUpdate, plannedWriteBytes } from '../../../src/storage/store/update-plan.js';

const bytes = (length: number): Buffer => Buffer.alloc(length, 7);

describe('update plans', () => {
  it('writes appends in place, with zeros over a gap', () => {
    expect(planUpdate(10, { kind: 'write', offset: 10, data: bytes(5) })).toMatchObject({
      kind: 'append',
      zeroFillBytes: 0,
      newLength: 15,
    });
    const gap = planUpdate(10, { kind: 'write', offset: 14, data: bytes(2) });
    expect(gap).toMatchObject({ kind: 'append', zeroFillBytes: 4, newLength: 16 });
    expect(plannedWriteBytes(gap)).toBe(6);
  });

  it('rewrites into a new file when the write touches committed bytes', () => {
    const plan = planUpdate(10, { kind: 'write', offset: 9, data: bytes(5) });
    expect(plan).toMatchObject({ kind: 'rewrite', keepBytes: 10, patchOffset: 9, newLength: 14 });
    expect(plannedWriteBytes(plan)).toBe(14);
    expect(planUpdate(10, { kind: 'write', offset: 2, data: bytes(3) })).toMatchObject({
      kind: 'rewrite',
      newLength: 10,
    });
  });

  it('replaces whole chunks without keeping old bytes', () => {
    expect(planUpdate(10, { kind: 'replace', data: bytes(3) })).toMatchObject({
      kind: 'rewrite',
      keepBytes: 0,
      newLength: 3,
    });
  });

  it('extends by truncate in place, shrinks without writing, and removes', () => {
    expect(planUpdate(10, { kind: 'truncate', length: 20 })).toMatchObject({
      kind: 'append',
      zeroFillBytes: 10,
      newLength: 20,
    });
    const shrink = planUpdate(10, { kind: 'truncate', length: 4 });
    expect(shrink).toEqual({ kind: 'shrink', newLength: 4 });
    expect(plannedWriteBytes(shrink)).toBe(0);
    expect(planUpdate(10, { kind: 'remove' })).toEqual({ kind: 'remove' });
  });

  it('zeroes inside a chunk in a new file, cuts at a range reaching the end, and never creates a chunk', () => {
    const inside = planUpdate(100, { kind: 'zero', offset: 10, length: 30 });
    expect(inside).toEqual({ kind: 'zero', keepBytes: 100, zeroOffset: 10, zeroLength: 30, newLength: 100 });
    // Only the bytes around the range are written: the range stays a hole.
    expect(plannedWriteBytes(inside)).toBe(70);
    expect(planUpdate(100, { kind: 'zero', offset: 10, length: 90 })).toEqual({
      kind: 'shrink',
      newLength: 10,
    });
    expect(planUpdate(100, { kind: 'zero', offset: 10, length: 500 })).toEqual({
      kind: 'shrink',
      newLength: 10,
    });
    expect(planUpdate(100, { kind: 'zero', offset: 0, length: 100 })).toEqual({ kind: 'remove' });
    const past = planUpdate(100, { kind: 'zero', offset: 100, length: 5 });
    expect(past).toMatchObject({ kind: 'append', zeroFillBytes: 0, newLength: 100 });
    expect(plannedWriteBytes(past)).toBe(0);
    expect(planUpdate(100, { kind: 'zero', offset: 50, length: 0 })).toMatchObject({
      kind: 'append',
      newLength: 100,
    });
    expect(planUpdate(undefined, { kind: 'zero', offset: 0, length: 5 })).toEqual({ kind: 'remove' });
    expect(planUpdate(0, { kind: 'zero', offset: 0, length: 5 })).toMatchObject({
      kind: 'append',
      newLength: 0,
    });
  });

  it('treats a new chunk as empty', () => {
    expect(planUpdate(undefined, { kind: 'write', offset: 3, data: bytes(1) })).toMatchObject({
      kind: 'append',
      zeroFillBytes: 3,
      newLength: 4,
    });
  });
});
