// Proves directory quotas through real mounts and the client library: writes past the hard byte
// limit fail with EDQUOT through FUSE (dd, Python) and the client library, creates past the inode
// limit too, and df inside the quota shows its limit and usage; two mounts writing at once never
// take the quota past its hard limit (the documented bound: written plus granted bytes stay
// within it); usage stays exact after deletes, renames between quota trees and `mv` of a
// directory (which rename(2) refuses with EXDEV, so mv copies), as a walk of each tree recounts it.
import { link, mkdir, readdir, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FsClient } from '../../../src/client/index.js';
import { FallocateFlag } from '../../../src/client/index.js';
import { hasCode } from '../../../src/common/errors.js';
import { MetaCode } from '../../../src/common/status-code.js';
import { run } from '../fuse-binding/harness.js';
import { fuseClusterSkipReason, startFuseCluster, type FuseCluster } from '../helpers/fuse-cluster.js';
import { TestWorld, eventually } from '../helpers/processes.js';

const skipReason = fuseClusterSkipReason('directory quota tests');
const mib = 1024 * 1024;

/** Writes 1 MiB blocks to a new file until `total` bytes or an error; prints what it wrote and the error. */
const pythonWriter = `
import errno, json, os, sys
path, total = sys.argv[1], int(sys.argv[2])
written, error = 0, None
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
block = b"q" * (1 << 20)
try:
    while written < total:
        written += os.write(fd, block)
except OSError as failure:
    error = errno.errorcode[failure.errno]
try:
    os.close(fd)
except OSError as failure:
    error = error or errno.errorcode[failure.errno]
print(json.dumps({"written": written, "error": error}))
`;

/** Creates empty files until `count` or an error; prints how many it made and the error. */
const pythonCreator = `
import errno, json, os, sys
top, count = sys.argv[1], int(sys.argv[2])
made, error = 0, None
try:
    while made < count:
        os.close(os.open(os.path.join(top, "n%d" % made), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        made += 1
except OSError as failure:
    error = errno.errorcode[failure.errno]
print(json.dumps({"made": made, "error": error}))
`;

interface QuotaJson {
  path: string | null;
  counting: boolean;
  usage: { inodes: string; bytes: string; reservedBytes: string };
  limits: { hardBytes?: string; hardInodes?: string };
}

async function python(program: string, ...args: string[]): Promise<Record<string, unknown>> {
  const result = await run('python3', ['-c', program, ...args], { timeoutMs: 60_000 });
  expect(result.stderr).toBe('');
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

/** Inodes below `top` and the bytes of its files (each inode once), by a walk through a mount. */
async function walk(top: string): Promise<{ inodes: number; bytes: number }> {
  const seen = new Set<number>();
  let bytes = 0;
  const visit = async (directory: string): Promise<void> => {
    for (const name of await readdir(directory)) {
      const path = join(directory, name);
      const stats = await stat(path);
      if (seen.has(stats.ino)) continue;
      seen.add(stats.ino);
      if (stats.isFile()) bytes += stats.size;
      if (stats.isDirectory()) await visit(path);
    }
  };
  await visit(top);
  return { inodes: seen.size, bytes };
}

describe.skipIf(skipReason !== undefined)('directory quotas through mounts and the client library', () => {
  let world: TestWorld;
  let cluster: FuseCluster;
  let mnt: string;
  let other: string;
  let client: FsClient;

  beforeAll(async () => {
    world = new TestWorld();
    cluster = await startFuseCluster(world);
    mnt = cluster.mountPoint;
    other = await cluster.mountAnother();
    client = await cluster.client();
  }, 90_000);

  afterAll(async () => {
    await cluster?.stop();
    await world.cleanup();
  }, 60_000);

  async function admin(...args: string[]): Promise<unknown> {
    const result = await world.runBinary(
      'admin',
      ['--mgmtd', cluster.mgmtdAddress, '--secret-file', cluster.secretFile, '--json', ...args],
      60_000,
    );
    if (result.code !== 0)
      throw new Error(`admin ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
    return JSON.parse(result.stdout) as unknown;
  }

  async function quotaOf(path: string): Promise<QuotaJson> {
    const { quota } = (await admin('quota-get', path)) as { quota: QuotaJson | null };
    if (quota === null) throw new Error(`${path} has no quota`);
    return quota;
  }

  /**
   * Waits until the quota's usage is what a walk of its tree through the first mount counts, with
   * no bytes granted: a FUSE release (which ends a write session and its grant) reaches the daemon
   * after close(2) returns, and another mount's changes reach this one's cache within a poll.
   */
  async function expectExact(path: string): Promise<void> {
    await eventually(
      async () => {
        const counted = await walk(join(mnt, path));
        const { usage } = await quotaOf(path);
        expect({ inodes: Number(usage.inodes), bytes: Number(usage.bytes) }, path).toEqual(counted);
        expect(usage.reservedBytes, `${path}: no grant outlives its writers`).toBe('0');
        return true;
      },
      15_000,
      `the usage of ${path} to match its tree`,
    );
  }

  it('refuses writes and creates past the hard limits with EDQUOT through FUSE, and df shows the quota', async () => {
    await mkdir(join(mnt, 'q1'));
    const set = (await admin('quota-set', '/q1', '--bytes', '16M', '--inodes', '20')) as QuotaJson;
    expect(set.limits.hardBytes).toBe(String(16 * mib));

    const dd = await run('dd', ['if=/dev/zero', `of=${join(mnt, 'q1/dd')}`, 'bs=1M', 'count=64']);
    expect(dd.code).not.toBe(0);
    expect(dd.stderr).toContain('Disk quota exceeded');
    const ddSize = (await stat(join(mnt, 'q1/dd'))).size;
    expect(ddSize).toBeLessThanOrEqual(16 * mib);
    expect(ddSize).toBeGreaterThanOrEqual(15 * mib);

    const df = await run('df', ['-B1', '--output=size,used', join(mnt, 'q1')]);
    const [size, used] = (df.stdout.trim().split('\n')[1] ?? '').trim().split(/\s+/).map(Number);
    expect(size).toBe(16 * mib);
    expect(used).toBe(ddSize);

    await unlink(join(mnt, 'q1/dd'));
    await expectExact('/q1');
    const written = await python(pythonWriter, join(mnt, 'q1/py'), String(64 * mib));
    expect(written['error']).toBe('EDQUOT');
    expect(written['written']).toBe(16 * mib);
    await unlink(join(mnt, 'q1/py'));
    await expectExact('/q1');

    const created = await python(pythonCreator, join(mnt, 'q1'), '100');
    expect(created).toEqual({ made: 20, error: 'EDQUOT' });
    const statfs = await run('df', ['--output=itotal,iused', join(mnt, 'q1')]);
    expect((statfs.stdout.trim().split('\n')[1] ?? '').trim().split(/\s+/).map(Number)).toEqual([20, 20]);
    await expectExact('/q1');
  });

  it('refuses a write past the hard limit through the client library with EDQUOT, writing none of it', async () => {
    await client.mkdir('/q2');
    await admin('quota-set', '/q2', '--bytes', '4M');
    await client.writeFile('/q2/a', Buffer.alloc(3 * mib, 1));
    const refused = await client
      .writeFile('/q2/b', Buffer.alloc(2 * mib, 2))
      .catch((error: unknown) => error);
    expect(hasCode(refused, MetaCode.QuotaExceeded)).toBe(true);
    expect(await client.stat('/q2/b')).toMatchObject({ type: 'file', length: 0n });
    const file = await client.open('/q2/c', { write: true, create: true });
    await file.write(0n, Buffer.alloc(mib - 1, 3));
    const past = await file.write(BigInt(mib - 1), Buffer.alloc(2, 3)).catch((error: unknown) => error);
    expect(hasCode(past, MetaCode.QuotaExceeded)).toBe(true);
    const grown = await file.fallocate(0, 0n, BigInt(2 * mib)).catch((error: unknown) => error);
    expect(hasCode(grown, MetaCode.QuotaExceeded)).toBe(true);
    await file.fallocate(FallocateFlag.keepSize, 0n, BigInt(2 * mib));
    await file.close();
    const truncated = await client.truncate('/q2/a', BigInt(5 * mib)).catch((error: unknown) => error);
    expect(hasCode(truncated, MetaCode.QuotaExceeded)).toBe(true);
    await expectExact('/q2');
  });

  it('holds two mounts writing at once within the hard limit', async () => {
    await mkdir(join(mnt, 'q3'));
    await admin('quota-set', '/q3', '--bytes', '48M');
    const [first, second] = await Promise.all([
      python(pythonWriter, join(mnt, 'q3/a'), String(64 * mib)),
      python(pythonWriter, join(other, 'q3/b'), String(64 * mib)),
    ]);
    expect(first?.['error']).toBe('EDQUOT');
    expect(second?.['error']).toBe('EDQUOT');
    const total = (first?.['written'] as number) + (second?.['written'] as number);
    // No overshoot at all; short of the limit by less than one refused block per writer.
    expect(total).toBeLessThanOrEqual(48 * mib);
    expect(total).toBeGreaterThan(48 * mib - 2 * mib);
    const sizes = (await stat(join(mnt, 'q3/a'))).size + (await stat(join(other, 'q3/b'))).size;
    expect(sizes).toBe(total);
    await expectExact('/q3');
  });

  it('keeps usage exact after deletes and renames across quota roots', async () => {
    for (const name of ['q4', 'q5', 'free']) await mkdir(join(mnt, name));
    await admin('quota-set', '/q4', '--bytes', '100M', '--inodes', '1000');
    await mkdir(join(mnt, 'q4/d/e'), { recursive: true });
    await writeFile(join(mnt, 'q4/a'), Buffer.alloc(3 * mib, 4));
    await writeFile(join(mnt, 'q4/b'), Buffer.alloc(mib, 5));
    await writeFile(join(mnt, 'q4/d/c'), Buffer.alloc(2 * mib, 6));
    await writeFile(join(mnt, 'q4/d/e/f'), Buffer.alloc(100_000, 7));
    await writeFile(join(mnt, 'free/g'), Buffer.alloc(mib, 8));
    await writeFile(join(mnt, 'q5/h'), Buffer.alloc(mib, 9));
    await link(join(mnt, 'q5/h'), join(mnt, 'q5/h2'));
    // Set on a tree that holds files already: it counts them (a file of two links once).
    const counted = (await admin('quota-set', '/q5', '--bytes', '100M')) as QuotaJson;
    expect(counted.usage).toEqual({ inodes: '1', bytes: String(mib), reservedBytes: '0' });

    await rename(join(mnt, 'q4/a'), join(mnt, 'q5/a'));
    await rename(join(other, 'free/g'), join(other, 'q4/g'));
    await rename(join(mnt, 'q5/h2'), join(mnt, 'q5/h3'));
    const directoryMove = await rename(join(mnt, 'q4/d'), join(mnt, 'q5/d')).catch((error: unknown) => error);
    expect((directoryMove as NodeJS.ErrnoException).code).toBe('EXDEV');
    const linkedMove = await rename(join(mnt, 'q5/h'), join(mnt, 'free/h')).catch((error: unknown) => error);
    expect((linkedMove as NodeJS.ErrnoException).code).toBe('EXDEV');
    const mv = await run('mv', [join(mnt, 'q4/d'), join(mnt, 'q5/d')]);
    expect(mv.code).toBe(0);
    await unlink(join(mnt, 'q4/b'));
    await rm(join(mnt, 'q5/d/e'), { recursive: true });

    await expectExact('/q4');
    await expectExact('/q5');
    expect(await walk(join(mnt, 'q4'))).toEqual({ inodes: 1, bytes: mib });
    const listed = (await admin('quota-list')) as { quotas: QuotaJson[] };
    expect(listed.quotas.map((quota) => quota.path)).toEqual(['/q1', '/q2', '/q3', '/q4', '/q5']);
  });
});
