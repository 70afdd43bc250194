// Proves the trash in meta: removals into it (as unlink, rmdir and rm -r, with their checks) move
// entries into the remover's /.trash/<uid> with a record, in one transaction and keeping inode
// ids; what is already in the trash, or has no stay, goes for good; directory settings apply to
// plain removals; users see and restore only their own items, root everyone's; restores refuse to
// overwrite unless asked and rebuild an rm -rf'd tree; purges and the cleaner (two at once
// included) remove expired items once each, queueing their files for GC; entries moved by hand
// through a mount leave their records stale and harmless.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { groupItems } from '../../../src/admin/commands/trash-groups.js';
import { silentLogger } from '../../../src/common/logger.js';
import { seededRandom } from '../../../src/common/random.js';
import { MetaCode } from '../../../src/common/status-code.js';
import { MetaService } from '../../../src/meta/meta-service.js';
import {
  metaMethods as m,
  trashRootInodeId,
  type Credentials,
  type Inode,
  type TrashItem,
  type TrashRemoveWhat,
} from '../../../src/meta/protocol/index.js';
import { TrashCleaner } from '../../../src/meta/trash/trash-cleaner.js';
import {
  alice,
  bob,
  expectCode,
  expectConsistent,
  fsOf,
  openHarness,
  root,
  type Harness,
} from './meta-harness.js';

let harness: Harness;
let fs: ReturnType<typeof fsOf>;
beforeEach(async () => {
  harness = await openHarness();
  fs = fsOf(harness);
});
afterEach(async () => harness.close());

const day = 86_400;

function trashRemove(
  path: string,
  what: TrashRemoveWhat,
  options: { cred?: Credentials; expireS?: number; defaultExpireS?: number } = {},
) {
  return harness.call(m.trashRemove, {
    cred: options.cred ?? root,
    at: { path },
    what,
    ...(options.expireS === undefined ? {} : { expireS: options.expireS }),
    ...(options.defaultExpireS === undefined ? {} : { defaultExpireS: options.defaultExpireS }),
  });
}

async function listTrash(cred: Credentials = root, uid?: number): Promise<TrashItem[]> {
  const items: TrashItem[] = [];
  let after: { uid: number; name: string } | undefined;
  for (;;) {
    const page = await harness.call(m.listTrash, {
      cred,
      limit: 7,
      ...(uid === undefined ? {} : { uid }),
      ...(after === undefined ? {} : { after }),
    });
    items.push(...page.items);
    if (page.nextCursor === null) return items;
    after = page.nextCursor;
  }
}

function restore(
  item: TrashItem,
  cred: Credentials = root,
  extra: { to?: string; overwrite?: boolean } = {},
) {
  return harness.call(m.restoreTrash, {
    cred,
    item: { uid: item.uid, name: item.name },
    ...(extra.to === undefined ? {} : { to: { path: extra.to } }),
    ...(extra.overwrite === undefined ? {} : { overwrite: extra.overwrite }),
  });
}

async function gcQueue(): Promise<bigint[]> {
  return (await harness.call(m.listGcQueue, { limit: 1024 })).entries.map((entry) => entry.ino);
}

/** Every path below `path` with its type, mode and inode id, sorted. */
async function snapshotTree(path: string): Promise<Array<[string, string, number, bigint]>> {
  const out: Array<[string, string, number, bigint]> = [];
  const walk = async (directory: string): Promise<void> => {
    const { entries } = await harness.call(m.readDir, { cred: root, at: { path: directory }, limit: 1024 });
    for (const entry of entries) {
      const child = `${directory}/${entry.name}`;
      const inode: Inode = await fs.lstat(child);
      out.push([child, inode.type, inode.mode, inode.ino]);
      if (inode.type === 'directory') await walk(child);
    }
  };
  await walk(path);
  return out.sort((left, right) => left[0].localeCompare(right[0]));
}

/** Removes a tree as rm -rf through a mount does: files first, then each emptied directory. */
async function rmRfThroughTrash(path: string, options: { cred?: Credentials; defaultExpireS: number }) {
  const { entries } = await harness.call(m.readDir, { cred: root, at: { path }, limit: 1024 });
  for (const entry of entries) {
    const child = `${path}/${entry.name}`;
    if (entry.type === 'directory') await rmRfThroughTrash(child, options);
    else await trashRemove(child, 'file', options);
  }
  await trashRemove(path, 'directory', options);
}

describe('removals into the trash', () => {
  it('moves a file into the remover’s trash directory with its record, keeping the inode', async () => {
    await fs.mkdir('/data', root, 0o777);
    const file = await fs.create('/data/f', alice, 0o640);
    const reply = await trashRemove('/data/f', 'file', { cred: alice, defaultExpireS: day });
    const item = reply.item as TrashItem;
    expect(item).toMatchObject({
      uid: alice.uid,
      ino: file.ino,
      type: 'file',
      originalParent: (await fs.stat('/data')).ino,
      originalName: 'f',
      originalPath: '/data/f',
      bytes: 0n,
      inodes: 1,
    });
    expect(item.expiresAtNs - item.removedAtNs).toBe(BigInt(day) * 1_000_000_000n);
    expect(item.name).toMatch(new RegExp(`^\\d{8}-\\d{6}-${file.ino}-f$`));
    await expectCode(fs.stat('/data/f'), MetaCode.NotFound);
    const kept = await fs.stat(`/.trash/${alice.uid}/${item.name}`);
    expect(kept).toMatchObject({ ino: file.ino, mode: 0o640, uid: alice.uid, nlink: 1 });
    expect(await fs.stat('/.trash')).toMatchObject({ ino: trashRootInodeId, mode: 0o711, uid: 0 });
    expect(await fs.stat(`/.trash/${alice.uid}`)).toMatchObject({ mode: 0o700, uid: alice.uid });
    expect(await listTrash(alice)).toEqual([item]);
    expect(await gcQueue()).toEqual([]);
    await expectConsistent(harness);
  });

  it('checks what unlink and rmdir check, and what rm -r checks for a tree', async () => {
    await fs.mkdirp('/d/e');
    await fs.create('/d/f');
    const options = { defaultExpireS: day };
    await expectCode(trashRemove('/d', 'file', options), MetaCode.IsDirectory);
    await expectCode(trashRemove('/d/f', 'directory', options), MetaCode.NotDirectory);
    await expectCode(trashRemove('/d', 'directory', options), MetaCode.NotEmpty);
    await expectCode(trashRemove('/missing', 'file', options), MetaCode.NotFound);
    await expectCode(trashRemove('/', 'tree', options), MetaCode.Busy);
    await expectCode(trashRemove('/d/f', 'file', { cred: alice, ...options }), MetaCode.PermissionDenied);
    // rm -r needs write permission in every directory of the tree: alice owns /a but not /a/b.
    await fs.chmod('/', 0o777);
    await fs.mkdir('/a', alice, 0o755);
    await fs.mkdir('/a/b', root, 0o755);
    await fs.create('/a/b/x');
    await expectCode(trashRemove('/a', 'tree', { cred: alice, ...options }), MetaCode.PermissionDenied);
    expect(await listTrash()).toEqual([]);
    await expectConsistent(harness);
  });

  it('moves a whole tree in one step and counts what it holds', async () => {
    await fs.mkdirp('/t/a/b');
    for (const name of ['/t/x', '/t/a/y', '/t/a/b/z']) {
      await fs.create(name);
      await harness.call(m.setAttr, { cred: root, at: { path: name }, length: 1000n });
    }
    const before = await snapshotTree('/t');
    const { item } = await trashRemove('/t', 'tree', { expireS: 60 });
    expect(item).toMatchObject({ type: 'directory', bytes: 3000n, inodes: 6, originalPath: '/t' });
    await expectCode(fs.stat('/t'), MetaCode.NotFound);
    await restore(item as TrashItem);
    expect(await snapshotTree('/t')).toEqual(before);
    expect(await listTrash()).toEqual([]);
    await expectConsistent(harness);
  });

  it('removes for good what is already in the trash, and anything when no stay applies', async () => {
    await fs.mkdirp('/t/sub');
    const inner = await fs.create('/t/sub/f');
    const { item } = await trashRemove('/t', 'tree', { expireS: 60 });
    const inTrash = `/.trash/0/${(item as TrashItem).name}`;
    const again = await trashRemove(`${inTrash}/sub/f`, 'file', { defaultExpireS: day });
    expect(again.item).toBeNull();
    expect(await gcQueue()).toEqual([inner.ino]);
    const other = await fs.create('/g');
    expect((await trashRemove('/g', 'file')).item).toBeNull();
    expect(await gcQueue()).toEqual([inner.ino, other.ino].sort((a, b) => (a < b ? -1 : 1)));
    expect((await trashRemove('/.trash', 'tree', { expireS: 60 })).item).toBeNull();
    expect(await listTrash()).toEqual([]);
    await expectConsistent(harness);
  });

  it('gives two links of one inode removed in the same second their own items', async () => {
    await fs.mkdirp('/a');
    await fs.mkdirp('/b');
    await fs.create('/a/x');
    await fs.link('/a/x', '/b/x');
    const first = (await trashRemove('/a/x', 'file', { defaultExpireS: day })).item as TrashItem;
    const second = (await trashRemove('/b/x', 'file', { defaultExpireS: day })).item as TrashItem;
    expect(second.name).not.toBe(first.name);
    expect(second.ino).toBe(first.ino);
    expect((await fs.stat(`/.trash/0/${first.name}`)).nlink).toBe(2);
    await expectConsistent(harness);
  });

  it('refuses to work while /.trash is someone else’s directory', async () => {
    await fs.mkdir('/.trash');
    await fs.create('/f');
    await expectCode(trashRemove('/f', 'file', { defaultExpireS: day }), MetaCode.Exists);
    expect((await fs.stat('/f')).type).toBe('file');
  });
});

describe('restoring', () => {
  it('rebuilds a tree removed entry by entry (rm -rf through a mount) with its inodes and modes', async () => {
    await fs.mkdir('/work', root, 0o777);
    await fs.mkdir('/work/tree', alice, 0o750);
    for (const directory of ['a', 'b', 'a/c']) {
      await fs.mkdir(`/work/tree/${directory}`, alice, 0o700 + (directory.length % 2) * 0o55);
      for (let index = 0; index < 5; index++) {
        await fs.create(`/work/tree/${directory}/f${index}`, alice, 0o600 + index * 0o11);
      }
    }
    await fs.symlink('/work/tree/link', 'a/f1', alice);
    const before = await snapshotTree('/work/tree');
    await rmRfThroughTrash('/work/tree', { cred: alice, defaultExpireS: day });
    await expectCode(fs.stat('/work/tree'), MetaCode.NotFound);
    const items = await listTrash(alice);
    expect(items).toHaveLength(before.length + 1);
    const groups = groupItems(items);
    expect(groups).toHaveLength(1);
    const [group] = groups;
    expect(group?.top).toMatchObject({ originalPath: '/work/tree', type: 'directory' });
    for (const member of group?.members ?? []) await restore(member, alice);
    expect(await snapshotTree('/work/tree')).toEqual(before);
    expect(await listTrash(alice)).toEqual([]);
    await expectConsistent(harness);
  });

  it('refuses an existing target unless asked to overwrite, and restores elsewhere when told', async () => {
    await fs.create('/f');
    const item = (await trashRemove('/f', 'file', { defaultExpireS: day })).item as TrashItem;
    const newer = await fs.create('/f');
    await expectCode(restore(item), MetaCode.Exists);
    await restore(item, root, { to: '/g' });
    expect((await fs.stat('/g')).ino).toBe(item.ino);
    const again = (await trashRemove('/g', 'file', { defaultExpireS: day })).item as TrashItem;
    const overwritten = await harness.call(m.restoreTrash, {
      cred: root,
      item: { uid: again.uid, name: again.name },
      to: { path: '/f' },
      overwrite: true,
    });
    expect(overwritten.inode.ino).toBe(item.ino);
    expect(await gcQueue()).toEqual([newer.ino]);
    await expectCode(restore(again), MetaCode.NotFound);
    await expectConsistent(harness);
  });

  it('follows the original directory through renames, then falls back to the path, then gives up', async () => {
    await fs.mkdirp('/d');
    await fs.create('/d/f');
    const item = (await trashRemove('/d/f', 'file', { defaultExpireS: day })).item as TrashItem;
    await fs.rename('/d', '/renamed');
    await restore(item);
    expect((await fs.stat('/renamed/f')).ino).toBe(item.ino);
    const moved = (await trashRemove('/renamed/f', 'file', { defaultExpireS: day })).item as TrashItem;
    await fs.rmdir('/renamed');
    await expectCode(restore(moved), MetaCode.NotFound);
    await fs.mkdir('/renamed');
    await restore(moved);
    expect((await fs.stat('/renamed/f')).ino).toBe(item.ino);
    await expectCode(restore(moved, root, { to: '/.trash/x' }), MetaCode.NotFound);
    await expectConsistent(harness);
  });

  it('refuses restoring into the trash', async () => {
    await fs.create('/f');
    await fs.create('/g');
    const f = (await trashRemove('/f', 'file', { defaultExpireS: day })).item as TrashItem;
    await trashRemove('/g', 'file', { defaultExpireS: day });
    await expectCode(restore(f, root, { to: '/.trash/0/elsewhere' }), MetaCode.InvalidArgument);
  });
});

describe('who sees what', () => {
  it('shows users their own items, root everyone’s, and lets nobody else restore or purge', async () => {
    await fs.mkdir('/shared', root, 0o777);
    await fs.create('/shared/a', alice);
    await fs.create('/shared/b', bob);
    const aliceItem = (await trashRemove('/shared/a', 'file', { cred: alice, defaultExpireS: day }))
      .item as TrashItem;
    const bobItem = (await trashRemove('/shared/b', 'file', { cred: bob, defaultExpireS: day }))
      .item as TrashItem;
    expect(await listTrash(alice)).toEqual([aliceItem]);
    expect(await listTrash(bob)).toEqual([bobItem]);
    expect((await listTrash(root)).map((item) => item.uid)).toEqual([alice.uid, bob.uid]);
    expect(await listTrash(root, bob.uid)).toEqual([bobItem]);
    await expectCode(listTrash(alice, bob.uid), MetaCode.NotPermitted);
    await expectCode(restore(bobItem, alice), MetaCode.NotPermitted);
    await expectCode(
      harness.call(m.purgeTrash, { cred: alice, item: { uid: bob.uid, name: bobItem.name } }),
      MetaCode.NotPermitted,
    );
    // Through a mount, the trash directories' modes keep users out of each other's trash.
    await expectCode(fs.stat(`/.trash/${bob.uid}/${bobItem.name}`, alice), MetaCode.PermissionDenied);
    await expectCode(
      harness.call(m.readDir, { cred: alice, at: { path: '/.trash' }, limit: 10 }),
      MetaCode.PermissionDenied,
    );
    await restore(bobItem, root);
    expect((await fs.stat('/shared/b')).uid).toBe(bob.uid);
  });

  it('drops from listings, and from the cleaner’s work, an item moved out by hand', async () => {
    await fs.chmod('/', 0o777);
    await fs.create('/f', alice);
    const item = (await trashRemove('/f', 'file', { cred: alice, expireS: 10 })).item as TrashItem;
    await fs.rename(`/.trash/${alice.uid}/${item.name}`, '/back', alice);
    expect(await listTrash(alice)).toEqual([]);
    harness.clock.advance(11_000);
    const report = await cleaner().runOnce();
    expect(report.itemsPurged).toBe(1);
    expect((await fs.stat('/back')).ino).toBe(item.ino);
    expect(await gcQueue()).toEqual([]);
    await expectConsistent(harness);
  });
});

describe('directory settings', () => {
  it('send plain removals below them to the trash, nearest setting first, 0 turning it off', async () => {
    await fs.mkdirp('/data/scratch');
    await fs.create('/data/f');
    await fs.create('/data/scratch/g');
    await fs.create('/elsewhere');
    const set = await harness.call(m.setTrashPolicy, { cred: root, at: { path: '/data' }, expireS: 7 * day });
    expect(set).toMatchObject({ expireS: 7 * day, fromPath: '/data' });
    await harness.call(m.setTrashPolicy, { cred: root, at: { path: '/data/scratch' }, expireS: 0 });
    await fs.unlink('/data/f');
    expect((await listTrash()).map((item) => item.originalPath)).toEqual(['/data/f']);
    // A mount's default does not override a directory's "off".
    expect((await trashRemove('/data/scratch/g', 'file', { defaultExpireS: day })).item).toBeNull();
    await fs.unlink('/elsewhere');
    expect(await listTrash()).toHaveLength(1);
    expect(await harness.call(m.setTrashPolicy, { cred: root, at: { path: '/data/scratch' } })).toMatchObject(
      {
        expireS: 0,
        fromPath: '/data/scratch',
      },
    );
    const cleared = await harness.call(m.setTrashPolicy, {
      cred: root,
      at: { path: '/data/scratch' },
      clear: true,
    });
    expect(cleared).toMatchObject({ expireS: 7 * day, fromPath: '/data' });
    await fs.rmdir('/data/scratch');
    expect((await listTrash()).map((item) => item.originalPath).sort()).toEqual(['/data/f', '/data/scratch']);
    await expectConsistent(harness);
  });

  it('are set by the directory’s owner or root only', async () => {
    await fs.mkdir('/mine', root);
    await fs.chown('/mine', { uid: alice.uid });
    await harness.call(m.setTrashPolicy, { cred: alice, at: { path: '/mine' }, expireS: 60 });
    await expectCode(
      harness.call(m.setTrashPolicy, { cred: bob, at: { path: '/mine' }, expireS: 60 }),
      MetaCode.NotPermitted,
    );
    await expectCode(
      harness.call(m.setTrashPolicy, { cred: alice, at: { path: '/mine' }, expireS: 60, clear: true }),
      MetaCode.InvalidArgument,
    );
  });
});

function cleaner(service: MetaService = harness.service, inodesPerTransaction?: number): TrashCleaner {
  return new TrashCleaner({
    service,
    clock: harness.clock,
    logger: silentLogger(),
    intervalMs: 1_000,
    ...(inodesPerTransaction === undefined ? {} : { inodesPerTransaction }),
  });
}

describe('purging and the cleaner', () => {
  it('purges a file into the GC queue and a tree bottom up', async () => {
    await fs.mkdirp('/t/a/b');
    const files = [await fs.create('/t/x'), await fs.create('/t/a/b/y')];
    const file = await fs.create('/f');
    const tree = (await trashRemove('/t', 'tree', { expireS: 60 })).item as TrashItem;
    const single = (await trashRemove('/f', 'file', { defaultExpireS: 60 })).item as TrashItem;
    expect(await harness.call(m.purgeTrash, { cred: root, item: { uid: 0, name: single.name } })).toEqual({
      removedInodes: 1,
      done: true,
    });
    expect(await gcQueue()).toEqual([file.ino]);
    expect(await harness.call(m.purgeTrash, { cred: root, item: { uid: 0, name: tree.name } })).toEqual({
      removedInodes: 5,
      done: true,
    });
    expect(await gcQueue()).toEqual(
      [file.ino, ...files.map((inode) => inode.ino)].sort((a, b) => (a < b ? -1 : 1)),
    );
    expect(await listTrash()).toEqual([]);
    await expectCode(fs.stat(`/.trash/0/${tree.name}`), MetaCode.NotFound);
    await expectConsistent(harness);
  });

  it('purges expired items only, a large tree over several transactions, and two cleaners at once free each file once', async () => {
    // Ten inodes per transaction: the 43 of this tree take five steps.
    const fileCount = 40;
    await fs.mkdirp('/big/a');
    await fs.mkdirp('/big/b');
    for (let index = 0; index < fileCount; index++) {
      await fs.create(`/big/${index % 2 === 0 ? 'a' : 'b'}/f${index}`);
    }
    await fs.create('/later');
    const big = (await trashRemove('/big', 'tree', { expireS: 10 })).item as TrashItem;
    expect(big.inodes).toBe(fileCount + 3);
    const later = (await trashRemove('/later', 'file', { expireS: 1_000 })).item as TrashItem;
    harness.clock.advance(5_000);
    expect((await cleaner().runOnce()).itemsPurged).toBe(0);
    harness.clock.advance(6_000);
    const other = new MetaService({ ...harness.service.options, random: seededRandom(11) });
    const reports = await Promise.all([cleaner(harness.service, 10).runOnce(), cleaner(other, 10).runOnce()]);
    const removed = reports.reduce((sum, report) => sum + report.inodesRemoved, 0);
    expect(removed).toBe(fileCount + 3);
    const queue: bigint[] = [];
    let after: bigint | undefined;
    for (;;) {
      const page = await harness.call(m.listGcQueue, {
        limit: 1024,
        ...(after === undefined ? {} : { after }),
      });
      queue.push(...page.entries.map((entry) => entry.ino));
      if (!page.more) break;
      after = page.entries.at(-1)?.ino;
    }
    expect(queue).toHaveLength(fileCount);
    expect(new Set(queue).size).toBe(fileCount);
    expect(await listTrash()).toEqual([later]);
    await expectConsistent(harness);
  });
});
