// Proves the staging sweep removes only staging files older than s3StagingMaxAgeMs (uploads a stopped gateway left), never younger ones, directories or names it did not make.
import { describe, expect, it } from 'vitest';
import type { DirectoryEntry } from '../../../src/client/index.js';
import { ManualClock } from '../../../src/common/clock.js';
import { limits } from '../../../src/common/limits.js';
import { silentLogger } from '../../../src/common/logger.js';
import type { ObjectFs } from '../../../src/s3/object-fs.js';
import { Staging } from '../../../src/s3/staging.js';

describe('the staging directory', () => {
  it('names files by node and time, and sweeps only stale ones', async () => {
    const clock = new ManualClock(1_700_000_000_000);
    const entries = new Map<string, DirectoryEntry['type']>();
    const removed: string[] = [];
    const fs = {
      readDirPage: async () => ({
        entries: [...entries].map(([name, type]) => ({ name, type, ino: 1n })),
        nextCursor: null,
      }),
      unlink: async (_cred: unknown, path: string) => {
        removed.push(path.slice(path.lastIndexOf('/') + 1));
      },
    } as unknown as ObjectFs;
    const staging = new Staging({ fs, exportRoot: '/s3', nodeId: 7, clock, logger: silentLogger() });
    const old = staging.tempPath().split('/').pop() ?? '';
    const oldDirectory = staging.tempPath().split('/').pop() ?? '';
    expect(staging.stagingPath).toBe('/s3/.s3-staging');
    expect(Staging.timeOfName(old)).toBe(clock.nowMs());
    clock.advance(limits.s3StagingMaxAgeMs + 1);
    const fresh = staging.tempPath().split('/').pop() ?? '';
    entries.set(old, 'file');
    entries.set(fresh, 'file');
    entries.set('not-ours', 'file');
    entries.set(oldDirectory, 'directory');
    expect(await staging.sweep()).toBe(1);
    expect(removed).toEqual([old]);
  });
});
