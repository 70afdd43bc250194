// Proves setattr (chmod, chown, utimes, truncate with its pending truncation), extended
// attributes with their namespaces and permissions, readdir paging, lookup, batch stat and statfs.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MetaCode } from '../../../src/common/status-code.js';
import { metaMethods as m, type RequestOf } from '../../../src/meta/protocol/index.js';
import { alice, bob, expectCode, fsOf, openHarness, root, type Harness } from './meta-harness.js';

let harness: Harness;
let fs: ReturnType<typeof fsOf>;
beforeEach(async () => {
  harness = await openHarness();
  fs = fsOf(harness);
});
afterEach(async () => harness.close());

const setAttr = (request: RequestOf<typeof m.setAttr>) => harness.call(m.setAttr, request);

describe('setattr', () => {
  it('changes mode and owner with ctime, and refuses non-owners', async () => {
    await fs.mkdir('/pub', root, 0o777);
    const created = await fs.create('/pub/f', alice, 0o644);
    harness.clock.advance(1_000);
    const changed = await fs.chmod('/pub/f', 0o600, alice);
    expect(changed.mode).toBe(0o600);
    expect(changed.ctimeNs).toBe(created.ctimeNs + 1_000_000_000n);
    await expectCode(fs.chmod('/pub/f', 0o777, bob), MetaCode.NotPermitted);
    await expectCode(fs.chown('/pub/f', { uid: bob.uid }, alice), MetaCode.NotPermitted);
    expect((await fs.chown('/pub/f', { uid: bob.uid, gid: 2000 })).uid).toBe(bob.uid);
  });

  it('drops setuid on chown of a file', async () => {
    await fs.create('/f', root, 0o4755);
    expect((await fs.chown('/f', { uid: 5 })).mode).toBe(0o755);
  });

  it('sets times: now by anyone who may write, explicit times by the owner only', async () => {
    await fs.mkdir('/pub', root, 0o777);
    await fs.create('/pub/f', alice, 0o666);
    const touched = await setAttr({ cred: bob, at: { path: '/pub/f' }, atime: 'now', mtime: 'now' });
    expect(touched.inode.mtimeNs).toBe(harness.service.nowNs());
    await expectCode(setAttr({ cred: bob, at: { path: '/pub/f' }, mtime: 5n }), MetaCode.NotPermitted);
    const explicit = await setAttr({ cred: alice, at: { path: '/pub/f' }, atime: 7n, mtime: 5n });
    expect(explicit.inode).toMatchObject({ atimeNs: 7n, mtimeNs: 5n });
  });

  it('truncates files, records shrinking truncations, and refuses directories and symlinks', async () => {
    const file = await fs.create('/f');
    await harness.call(m.sync, { cred: root, ino: file.ino, length: { bytes: 10_000n, truncateVersion: 0 } });
    expect((await setAttr({ cred: root, at: { path: '/f' }, length: 20_000n })).inode).toMatchObject({
      length: 20_000n,
      truncateVersion: 1,
    });
    expect((await harness.call(m.listPendingTruncations, { limit: 10 })).entries).toEqual([]);
    await setAttr({ cred: root, at: { path: '/f' }, length: 100n });
    await setAttr({ cred: root, at: { path: '/f' }, length: 500n });
    await setAttr({ cred: root, at: { path: '/f' }, length: 50n });
    const pending = await harness.call(m.listPendingTruncations, { limit: 10 });
    expect(pending.entries).toMatchObject([
      { ino: file.ino, fromBytes: 50n, toBytes: 20_000n, truncateVersion: 4 },
    ]);
    await fs.mkdir('/d');
    await fs.symlink('/l', 'f');
    await expectCode(setAttr({ cred: root, at: { path: '/d' }, length: 0n }), MetaCode.IsDirectory);
    await expectCode(
      setAttr({ cred: root, at: { path: '/l' }, followLast: false, length: 0n }),
      MetaCode.InvalidArgument,
    );
    await expectCode(setAttr({ cred: root, at: { path: '/f' }, length: 1n << 63n }), MetaCode.FileTooLarge);
    await expectCode(setAttr({ cred: alice, at: { path: '/f' }, length: 0n }), MetaCode.PermissionDenied);
    // Removing the file supersedes its pending truncation with a GC entry.
    await fs.unlink('/f');
    expect((await harness.call(m.listPendingTruncations, { limit: 10 })).entries).toEqual([]);
    expect((await harness.call(m.listGcQueue, { limit: 10 })).entries).toMatchObject([
      { ino: file.ino, length: 50n },
    ]);
  });
});

describe('extended attributes', () => {
  const value = (text: string) => new Uint8Array(Buffer.from(text));

  it('sets, gets, lists and removes user attributes with create/replace flags', async () => {
    await fs.create('/f');
    const at = { path: '/f' };
    await harness.call(m.setXattr, { cred: root, at, name: 'user.a', value: value('1') });
    await harness.call(m.setXattr, { cred: root, at, name: 'user.b', value: value('2'), flag: 'create' });
    await expectCode(
      harness.call(m.setXattr, { cred: root, at, name: 'user.b', value: value('3'), flag: 'create' }),
      MetaCode.Exists,
    );
    await expectCode(
      harness.call(m.setXattr, { cred: root, at, name: 'user.c', value: value('3'), flag: 'replace' }),
      MetaCode.NoAttribute,
    );
    expect(
      Buffer.from((await harness.call(m.getXattr, { cred: root, at, name: 'user.b' })).value).toString(),
    ).toBe('2');
    expect((await harness.call(m.listXattr, { cred: root, at })).names).toEqual(['user.a', 'user.b']);
    await harness.call(m.removeXattr, { cred: root, at, name: 'user.a' });
    await expectCode(harness.call(m.getXattr, { cred: root, at, name: 'user.a' }), MetaCode.NoAttribute);
    await expectCode(harness.call(m.removeXattr, { cred: root, at, name: 'user.a' }), MetaCode.NoAttribute);
  });

  it('applies read and write permission, root-only namespaces and unsupported ones', async () => {
    await fs.create('/f', root, 0o644);
    const at = { path: '/f' };
    await expectCode(
      harness.call(m.setXattr, { cred: alice, at, name: 'user.x', value: value('1') }),
      MetaCode.PermissionDenied,
    );
    await harness.call(m.setXattr, { cred: root, at, name: 'trusted.t', value: value('1') });
    await harness.call(m.setXattr, { cred: root, at, name: 'user.u', value: value('1') });
    expect((await harness.call(m.listXattr, { cred: alice, at })).names).toEqual(['user.u']);
    await expectCode(harness.call(m.getXattr, { cred: alice, at, name: 'trusted.t' }), MetaCode.NoAttribute);
    await expectCode(
      harness.call(m.setXattr, { cred: alice, at, name: 'security.s', value: value('1') }),
      MetaCode.NotPermitted,
    );
    await expectCode(
      harness.call(m.getXattr, { cred: root, at, name: 'system.nfs4_acl' }),
      MetaCode.NotSupported,
    );
    await expectCode(harness.call(m.getXattr, { cred: root, at, name: 'noprefix' }), MetaCode.NotSupported);
    await expectCode(harness.call(m.getXattr, { cred: root, at, name: 'user.' }), MetaCode.InvalidArgument);
    await expectCode(
      harness.call(m.getXattr, { cred: root, at, name: `user.${'x'.repeat(251)}` }),
      MetaCode.NameTooLong,
    );
    await fs.symlink('/l', 'f');
    await expectCode(
      harness.call(m.setXattr, {
        cred: root,
        at: { path: '/l' },
        followLast: false,
        name: 'user.x',
        value: value('1'),
      }),
      MetaCode.NotPermitted,
    );
  });

  it('bounds value size and the number of attributes', async () => {
    await fs.create('/f');
    const at = { path: '/f' };
    await harness.call(m.setXattr, { cred: root, at, name: 'user.big', value: new Uint8Array(65_536) });
    await expectCode(
      harness.call(m.setXattr, { cred: root, at, name: 'user.big', value: new Uint8Array(65_537) }),
      MetaCode.ValueTooLarge,
    );
    for (let index = 1; index < 256; index++) {
      await harness.call(m.setXattr, { cred: root, at, name: `user.n${index}`, value: value('v') });
    }
    await expectCode(
      harness.call(m.setXattr, { cred: root, at, name: 'user.one-more', value: value('v') }),
      MetaCode.NoSpace,
    );
    // Replacing an existing attribute still works at the bound.
    await harness.call(m.setXattr, { cred: root, at, name: 'user.n1', value: value('w') });
  });
});

describe('reading', () => {
  it('pages through a directory with a cursor and needs read permission', async () => {
    await fs.mkdir('/d', root, 0o711);
    const names = Array.from({ length: 25 }, (_, index) => `f${String(index).padStart(2, '0')}`);
    for (const name of names) await fs.create(`/d/${name}`);
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    for (;;) {
      const page = await harness.call(m.readDir, {
        cred: root,
        at: { path: '/d' },
        limit: 10,
        ...(cursor === undefined ? {} : { cursor }),
      });
      pages += 1;
      seen.push(...page.entries.map((entry) => entry.name));
      if (page.nextCursor === null) break;
      cursor = page.nextCursor;
    }
    expect(pages).toBe(3);
    expect(seen).toEqual(names);
    await expectCode(
      harness.call(m.readDir, { cred: alice, at: { path: '/d' }, limit: 10 }),
      MetaCode.PermissionDenied,
    );
    await expectCode(
      harness.call(m.readDir, { cred: root, at: { path: '/d/f00' }, limit: 10 }),
      MetaCode.NotDirectory,
    );
    // Exactly one full page says there is no next page.
    const exact = await harness.call(m.readDir, { cred: root, at: { path: '/d' }, limit: 25 });
    expect(exact.nextCursor).toBeNull();
  });

  it('looks entries up by parent and name, never following a symlink', async () => {
    await fs.mkdir('/d');
    await fs.symlink('/d/l', '/');
    const parent = (await fs.stat('/d')).ino;
    expect((await harness.call(m.lookup, { cred: root, parent, name: 'l' })).inode.type).toBe('symlink');
    await expectCode(harness.call(m.lookup, { cred: root, parent, name: 'x' }), MetaCode.NotFound);
    await expectCode(harness.call(m.lookup, { cred: root, parent, name: 'a/b' }), MetaCode.InvalidArgument);
    await expectCode(harness.call(m.lookup, { cred: root, parent, name: '' }), MetaCode.InvalidArgument);
  });

  it('stats many inodes at once, null for missing ones', async () => {
    const file = await fs.create('/f');
    const result = await harness.call(m.batchStat, { cred: root, inos: [file.ino, 1n, 424_242n] });
    expect(result.inodes.map((inode) => inode?.ino ?? null)).toEqual([file.ino, 1n, null]);
  });

  it('reports capacity, inodes in use, name length and chunk size in statfs', async () => {
    await fs.create('/f');
    expect(await harness.call(m.statFs, { cred: alice })).toEqual({
      capacityBytes: 1000,
      usedBytes: 250,
      freeBytes: 750,
      inodesInUse: 2,
      nameBytesMax: 255,
      chunkSizeBytes: 1 << 20,
    });
  });
});
