// Two mounts of one cluster (two FUSE daemons, as on two hosts), each caching names and attributes
// in the kernel and in its metadata cache: each sees the other's creates, renames, chmods and
// unlinks within the documented bound (a change-log poll, at most fuseMetadataPollStaleMs), even
// for names it had just looked up, found missing, or listed; and its own changes at once.
import { chmod, mkdir, readFile, readdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { limits } from '../../../src/common/limits.js';
import type { FuseCluster } from '../helpers/fuse-cluster.js';
import { fuseClusterSkipReason, startFuseCluster } from '../helpers/fuse-cluster.js';
import { TestWorld } from '../helpers/processes.js';

const skipReason = fuseClusterSkipReason('two-mount cache coherence tests');

/** The documented bound on how long another client's change may stay unseen. */
const boundMs = limits.fuseMetadataPollStaleMs;

/** How long `probe` took to hold; fails when it does not within the bound plus a margin. */
async function timeUntil(what: string, probe: () => Promise<boolean>): Promise<number> {
  const started = performance.now();
  const giveUpMs = boundMs + 5_000;
  for (;;) {
    if (await probe().catch(() => false)) return performance.now() - started;
    if (performance.now() - started > giveUpMs) throw new Error(`${what}: not seen after ${giveUpMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

describe.skipIf(skipReason !== undefined)('two mounts of one cluster', () => {
  let world: TestWorld;
  let cluster: FuseCluster | undefined;
  let a: string;
  let b: string;

  beforeAll(async () => {
    world = new TestWorld();
    cluster = await startFuseCluster(world);
    a = cluster.mountPoint;
    b = await cluster.mountAnother();
  }, 90_000);

  afterAll(async () => {
    await cluster?.stop();
    await world.cleanup();
  }, 60_000);

  it("see each other's creates, chmods, renames and unlinks within the bound", async () => {
    const elapsed: Record<string, number> = {};
    await mkdir(join(a, 'shared'));
    elapsed['mkdir'] = await timeUntil('a directory made on A, on B', () => exists(join(b, 'shared')));
    // B caches what it sees now: the whole (empty) listing, and that "f" does not exist.
    expect(await readdir(join(b, 'shared'))).toEqual([]);
    expect(await exists(join(b, 'shared/f'))).toBe(false);

    await writeFile(join(a, 'shared/f'), 'hello');
    // Through its own mount at once.
    expect((await stat(join(a, 'shared/f'))).size).toBe(5);
    elapsed['create'] = await timeUntil(
      'a file created on A, on B',
      async () => (await stat(join(b, 'shared/f'))).size === 5,
    );
    expect(await readFile(join(b, 'shared/f'), 'utf8')).toBe('hello');
    expect(await readdir(join(b, 'shared'))).toEqual(['f']);

    await chmod(join(a, 'shared/f'), 0o600);
    expect((await stat(join(a, 'shared/f'))).mode & 0o777).toBe(0o600);
    elapsed['chmod'] = await timeUntil(
      'a chmod on A, on B',
      async () => ((await stat(join(b, 'shared/f'))).mode & 0o777) === 0o600,
    );

    await rename(join(a, 'shared/f'), join(a, 'shared/g'));
    expect(await exists(join(a, 'shared/f'))).toBe(false);
    elapsed['rename'] = await timeUntil(
      'a rename on A, on B',
      async () => (await exists(join(b, 'shared/g'))) && !(await exists(join(b, 'shared/f'))),
    );
    expect(await readdir(join(b, 'shared'))).toEqual(['g']);

    await unlink(join(a, 'shared/g'));
    elapsed['unlink'] = await timeUntil(
      'an unlink on A, on B',
      async () => !(await exists(join(b, 'shared/g'))),
    );
    expect(await readdir(join(b, 'shared'))).toEqual([]);

    // And the other way round.
    await writeFile(join(b, 'shared/h'), 'from b');
    elapsed['create on B'] = await timeUntil('a file created on B, on A', () => exists(join(a, 'shared/h')));
    expect(await readFile(join(a, 'shared/h'), 'utf8')).toBe('from b');

    console.log(`seen on the other mount after (ms): ${JSON.stringify(elapsed)}`);
    for (const [what, ms] of Object.entries(elapsed)) {
      expect(ms, `${what} seen on the other mount within ${boundMs} ms`).toBeLessThanOrEqual(boundMs);
    }
  }, 60_000);

  it('answer repeated lookups and stats of a directory from the cache, and stay right', async () => {
    await mkdir(join(a, 'many'));
    const names = Array.from({ length: 200 }, (_, index) => `f${index}`);
    for (const name of names) await writeFile(join(a, 'many', name), '');
    for (const name of names) expect((await stat(join(a, 'many', name))).isFile()).toBe(true);
    expect((await readdir(join(a, 'many'))).sort()).toEqual([...names].sort());
    await timeUntil('200 files made on A, on B', async () => (await readdir(join(b, 'many'))).length === 200);
    for (const name of names.slice(0, 100)) await unlink(join(b, 'many', name));
    const unlinked = await timeUntil('100 unlinks on B, on A', async () => {
      for (const name of names.slice(0, 100)) if (await exists(join(a, 'many', name))) return false;
      return (await readdir(join(a, 'many'))).length === 100;
    });
    expect(unlinked).toBeLessThanOrEqual(boundMs);
    for (const name of names.slice(100)) expect(await exists(join(a, 'many', name))).toBe(true);
  }, 60_000);
});
