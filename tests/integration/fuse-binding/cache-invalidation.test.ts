// Proves that the kernel cache invalidation calls reach the kernel: a change made behind its back becomes visible at once despite long cache timeouts.
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { cleanup, fuseSkipReason, startFs, type MountedFs } from './harness.js';

const skipReason = fuseSkipReason();

describe.skipIf(skipReason !== undefined)('kernel cache invalidation', () => {
  let fs: MountedFs;

  beforeAll(async () => {
    // Caches that would otherwise stay valid for the whole test run.
    fs = await startFs(['--attr-timeout-ms', '600000', '--entry-timeout-ms', '600000']);
  });
  afterAll(cleanup);

  it('shows new content after invalidateInode, though data and attributes were cached', async () => {
    const path = join(fs.mountpoint, 'changing');
    await writeFile(path, 'old content');
    expect(await readFile(path, 'utf8')).toBe('old content');
    const answer = await fs.command({ cmd: 'replace', path: '/changing', content: 'new, longer content' });
    expect(answer).toEqual({ cached: true });
    expect((await stat(path)).size).toBe('new, longer content'.length);
    expect(await readFile(path, 'utf8')).toBe('new, longer content');
  });

  it('forgets a name removed elsewhere after notifyDelete, though the entry was cached', async () => {
    const path = join(fs.mountpoint, 'doomed');
    await writeFile(path, 'x');
    expect((await stat(path)).isFile()).toBe(true);
    expect(await fs.command({ cmd: 'remove', path: '/doomed' })).toEqual({ cached: true });
    await expect(stat(path)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
