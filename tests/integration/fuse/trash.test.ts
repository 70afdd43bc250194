// Proves the trash through a real mount with trash_expire_s set: `rm -rf` of a 1,000-file tree
// moves it into /.trash/<uid> (gone from its place, listed by `admin trash-list` as one tree),
// `admin trash-restore` brings back an identical tree (names, modes, SHA-256 of every file), and
// an item moved in by `admin rmtree --trash` with a short expiry is purged by meta's cleaner, its
// file queued for GC and its chunks freed on every replica.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, lstat, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FsClient } from '../../../src/client/index.js';
import { silentLogger } from '../../../src/common/logger.js';
import { metaMethods } from '../../../src/meta/protocol/index.js';
import { RpcClient } from '../../../src/rpc/index.js';
import { storageMethods } from '../../../src/storage/protocol/index.js';
import { fuseClusterSkipReason, startFuseCluster, type FuseCluster } from '../helpers/fuse-cluster.js';
import { clusterSecret } from '../helpers/meta-cluster.js';
import { TestWorld, eventually } from '../helpers/processes.js';

const skipReason = fuseClusterSkipReason('trash tests');
const chunkSizeBytes = 64 * 1024;
const fileCount = 1_000;
/** Directories the files spread over, some nested, with modes of their own. */
const directories: Array<[string, number]> = [
  ['tree', 0o755],
  ['tree/a', 0o750],
  ['tree/a/deep', 0o700],
  ['tree/a/deep/er', 0o755],
  ['tree/b', 0o775],
  ['tree/c', 0o755],
  ['tree/c/one', 0o711],
  ['tree/c/two', 0o755],
  ['tree/d', 0o700],
  ['tree/empty', 0o755],
];
const fileModes = [0o644, 0o600, 0o640, 0o755, 0o444];

interface Seen {
  type: 'file' | 'directory' | 'symlink';
  mode: number;
  sha256?: string;
}

/** Every path below `top` (relative) with its type, permission bits and, for files, SHA-256. */
async function snapshot(top: string): Promise<Map<string, Seen>> {
  const seen = new Map<string, Seen>();
  const walk = async (relative: string): Promise<void> => {
    for (const name of await readdir(join(top, relative))) {
      const path = join(relative, name);
      const stats = await lstat(join(top, path));
      const mode = stats.mode & 0o7777;
      if (stats.isDirectory()) {
        seen.set(path, { type: 'directory', mode });
        await walk(path);
      } else if (stats.isSymbolicLink()) {
        seen.set(path, { type: 'symlink', mode });
      } else {
        const sha256 = createHash('sha256')
          .update(await readFile(join(top, path)))
          .digest('hex');
        seen.set(path, { type: 'file', mode, sha256 });
      }
    }
  };
  await walk('');
  return seen;
}

/** Runs `work` over `items`, `concurrency` at a time. */
async function eachLimited<T>(items: readonly T[], concurrency: number, work: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let index = next++; index < items.length; index = next++) await work(items[index] as T);
    }),
  );
}

describe.skipIf(skipReason !== undefined)('the trash through a mount', () => {
  let world: TestWorld;
  let cluster: FuseCluster;
  let client: FsClient;
  let mnt: string;

  beforeAll(async () => {
    world = new TestWorld();
    cluster = await startFuseCluster(world, {
      chunkSizeBytes,
      fuseSettings: 'trash_expire_s = 3600',
      metaSettings: '[meta.gc]\ninterval_ms = 200\n\n[meta.trash]\ncleaner_interval_ms = 200',
    });
    client = await cluster.client();
    mnt = cluster.mountPoint;
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

  async function trashGroups(): Promise<Array<{ name: string; originalPath: string | null; items: number }>> {
    const listed = (await admin('trash-list')) as {
      groups: Array<{ name: string; originalPath: string | null; items: number }>;
    };
    return listed.groups;
  }

  it('takes an rm -rf of 1,000 files into the trash and restores an identical tree', async () => {
    for (const [path, mode] of directories) {
      await mkdir(join(mnt, path));
      await chmod(join(mnt, path), mode);
    }
    const homes = directories.map(([path]) => path).filter((path) => path !== 'tree/empty');
    const files = Array.from({ length: fileCount }, (_, index) => ({
      path: join(homes[index % homes.length] as string, `file-${index}.bin`),
      size: 2_048 + ((index * 977) % 4_096),
      mode: fileModes[index % fileModes.length] as number,
    }));
    await eachLimited(files, 16, async (file) => {
      await writeFile(join(mnt, file.path), randomBytes(file.size), { mode: file.mode });
      await chmod(join(mnt, file.path), file.mode);
    });
    const before = await snapshot(join(mnt, 'tree'));
    expect([...before.values()].filter((seen) => seen.type === 'file')).toHaveLength(fileCount);
    expect([...before.values()].filter((seen) => seen.type === 'directory')).toHaveLength(
      directories.length - 1,
    );

    const removal = spawnSync('rm', ['-rf', join(mnt, 'tree')], { encoding: 'utf8', timeout: 120_000 });
    expect(removal.stderr).toBe('');
    expect(removal.status).toBe(0);
    expect(existsSync(join(mnt, 'tree'))).toBe(false);
    const uid = process.geteuid?.() ?? 0;
    // Each file and directory went on its own: they are entries of the user's trash directory.
    expect(readdirSync(join(mnt, '.trash', String(uid)))).toHaveLength(fileCount + directories.length);

    const groups = await trashGroups();
    expect(groups).toHaveLength(1);
    expect(groups[0]).toMatchObject({ originalPath: '/tree', items: fileCount + directories.length });

    const restored = (await admin('trash-restore', '/tree')) as { restored: string[]; left: unknown[] };
    expect(restored.restored).toHaveLength(fileCount + directories.length);
    expect(restored.left).toEqual([]);
    // Another client's changes: the mount sees them within a poll or two of meta's change log.
    const restoredTree = async () =>
      existsSync(join(mnt, 'tree')) && isDeepStrictEqual(await snapshot(join(mnt, 'tree')), before)
        ? true
        : undefined;
    await eventually(restoredTree, 15_000, 'the tree back as it was').catch(() => undefined);
    expect(await snapshot(join(mnt, 'tree'))).toEqual(before);
    expect(await trashGroups()).toEqual([]);
  }, 150_000);

  it('purges an item whose stay ended and frees its chunks on every replica', async () => {
    const rpc = new RpcClient({ clusterSecret, logger: silentLogger() });
    try {
      const routing = await client.routing.refresh();
      const storageAddresses = routing.nodes
        .filter((node) => node.type === 'storage')
        .map((node) => node.address);
      const chunkCounts = async (): Promise<number[]> => {
        const counts: number[] = [];
        for (const address of storageAddresses) {
          const { targets } = await rpc.call(address, storageMethods.listTargets, {});
          for (const target of targets) counts.push(target.chunkCount);
        }
        return counts;
      };
      const before = await chunkCounts();
      await mkdir(join(mnt, 'short'));
      await writeFile(join(mnt, 'short', 'data'), randomBytes(5 * chunkSizeBytes));
      const ino = BigInt((await lstat(join(mnt, 'short', 'data'))).ino);
      const written = await chunkCounts();
      expect(written.map((count, index) => count - (before[index] ?? 0))).toEqual(written.map(() => 5));

      const moved = (await admin('rmtree', '--trash', '--expire', '2s', '/short')) as {
        item: { name: string; inodes: number };
      };
      expect(moved.item.inodes).toBe(2);
      await eventually(
        async () => (existsSync(join(mnt, 'short')) ? undefined : true),
        10_000,
        '/short gone',
      );
      expect((await trashGroups()).map((group) => group.originalPath)).toEqual(['/short']);
      // Nothing is freed while the item waits in the trash.
      expect(await chunkCounts()).toEqual(written);

      await eventually(
        async () => ((await trashGroups()).length === 0 ? true : undefined),
        20_000,
        'the cleaner',
      );
      await eventually(
        async () => {
          const queue = await client.meta.call(metaMethods.listGcQueue, { limit: 1_024 });
          if (queue.entries.some((entry) => entry.ino === ino)) return undefined;
          const counts = await chunkCounts();
          return counts.every((count, index) => count === before[index]) ? true : undefined;
        },
        20_000,
        'the GC queue to drain and the chunks to go',
      );
      expect(existsSync(join(mnt, '.trash', String(process.geteuid?.() ?? 0), moved.item.name))).toBe(false);
    } finally {
      await rpc.close();
    }
  }, 60_000);
});
