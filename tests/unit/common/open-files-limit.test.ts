// Proves the open-file limit is read from /proc/self/limits as the kernel prints it, and that the
// read handles of a storage node are sized from it within their bounds.
import { describe, expect, it } from 'vitest';
import { limits } from '../../../src/common/limits.js';
import { openFilesLimit, parseOpenFilesLimit } from '../../../src/common/open-files-limit.js';
import { readHandlesPerTarget } from '../../../src/storage/storage-node.js';

const sample = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            20000                524288               files
Max locked memory         8388608              8388608              bytes
`;

describe('the open-file limit', () => {
  it('reads the soft limit, and unlimited as very large', () => {
    expect(parseOpenFilesLimit(sample)).toBe(20000);
    expect(parseOpenFilesLimit(sample.replace('20000 ', 'unlimited'))).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('answers undefined for text without a usable line', () => {
    expect(parseOpenFilesLimit('')).toBeUndefined();
    expect(parseOpenFilesLimit('Max open files            lots                 lots')).toBeUndefined();
    expect(parseOpenFilesLimit('Max open files            -3                   4')).toBeUndefined();
  });

  it('reads this process', () => {
    expect(openFilesLimit()).toBeGreaterThanOrEqual(1);
  });

  it('gives each target a share of it for read handles, within the bounds', () => {
    expect(readHandlesPerTarget(1024, 1)).toBe(512);
    expect(readHandlesPerTarget(1024, 4)).toBe(128);
    expect(readHandlesPerTarget(1024, 64)).toBe(limits.storageReadHandlesPerTargetMin);
    expect(readHandlesPerTarget(1_048_576, 1)).toBe(limits.storageReadHandlesPerTargetMax);
    expect(() => readHandlesPerTarget(1024, 0)).toThrow();
  });
});
