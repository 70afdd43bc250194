// Proves POSIX ACLs through the meta service: system.posix_acl_access / _default are set, read,
// listed and removed as Linux answers them, setting one updates the mode (and chmod the ACL),
// only the owner or root may set them, bad values are EINVAL, new inodes inherit a directory's
// default ACL in place of the umask, and every permission check (open, path search) obeys them.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MetaCode } from '../../../src/common/status-code.js';
import {
  AclTag,
  AclXattr,
  encodeAclXattr,
  metaMethods as m,
  parseAclXattr,
  type AclEntry,
  type Credentials,
} from '../../../src/meta/protocol/index.js';
import {
  alice,
  bob,
  carol,
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
  await fs.chmod('/', 0o777);
});
afterEach(async () => harness.close());

const undefinedId = 0xffff_ffff;
const base = (tag: number, perm: number): AclEntry => ({ tag, perm, id: undefinedId });
const named = (tag: number, id: number, perm: number): AclEntry => ({ tag, perm, id });

/** user::rw-, user:bob:r--, group::---, mask::r--, other::--- */
const bobReads = [
  base(AclTag.UserObj, 6),
  named(AclTag.User, bob.uid, 4),
  base(AclTag.GroupObj, 0),
  base(AclTag.Mask, 4),
  base(AclTag.Other, 0),
];

const setAcl = (path: string, name: string, entries: AclEntry[], cred: Credentials = root) =>
  harness.call(m.setXattr, { cred, at: { path }, name, value: encodeAclXattr(entries) });
const getAcl = async (path: string, name: string, cred: Credentials = root) =>
  parseAclXattr((await harness.call(m.getXattr, { cred, at: { path }, name })).value);
const names = async (path: string) => (await harness.call(m.listXattr, { cred: root, at: { path } })).names;

describe('setting and reading ACLs', () => {
  it('stores an extended access ACL, sets the mode from it, and lists and returns it', async () => {
    await fs.create('/f', alice, 0o644);
    await setAcl('/f', AclXattr.Access, bobReads, alice);
    expect((await fs.stat('/f')).mode).toBe(0o640);
    expect(await getAcl('/f', AclXattr.Access, carol)).toEqual(bobReads);
    expect(await names('/f')).toEqual([AclXattr.Access]);
    await expectConsistent(harness);
  });

  it('keeps an ACL equivalent to a mode as just the mode', async () => {
    await fs.create('/f', alice, 0o644);
    await setAcl('/f', AclXattr.Access, [
      base(AclTag.UserObj, 7),
      base(AclTag.GroupObj, 5),
      base(AclTag.Other, 1),
    ]);
    expect((await fs.stat('/f')).mode).toBe(0o751);
    await expectCode(
      harness.call(m.getXattr, { cred: root, at: { path: '/f' }, name: AclXattr.Access }),
      MetaCode.NoAttribute,
    );
    expect(await names('/f')).toEqual([]);
  });

  it('changes the mask, owner and other entries with chmod, and keeps the group entry', async () => {
    await fs.create('/f', alice, 0o644);
    await setAcl('/f', AclXattr.Access, bobReads, alice);
    await fs.chmod('/f', 0o604, alice);
    expect(await getAcl('/f', AclXattr.Access)).toEqual([
      base(AclTag.UserObj, 6),
      named(AclTag.User, bob.uid, 4),
      base(AclTag.GroupObj, 0),
      base(AclTag.Mask, 0),
      base(AclTag.Other, 4),
    ]);
  });

  it('removes an ACL keeping the mode, and removing a missing one changes nothing', async () => {
    await fs.create('/f', alice, 0o644);
    await setAcl('/f', AclXattr.Access, bobReads, alice);
    await harness.call(m.removeXattr, { cred: alice, at: { path: '/f' }, name: AclXattr.Access });
    expect((await fs.stat('/f')).mode).toBe(0o640);
    expect((await fs.stat('/f')).accessAcl).toBeUndefined();
    await harness.call(m.removeXattr, { cred: alice, at: { path: '/f' }, name: AclXattr.Access });
    await harness.call(m.removeXattr, { cred: alice, at: { path: '/f' }, name: AclXattr.Default });
    // An ACL value of no entries removes too.
    await setAcl('/f', AclXattr.Access, bobReads, alice);
    await setAcl('/f', AclXattr.Access, [], alice);
    expect((await fs.stat('/f')).accessAcl).toBeUndefined();
  });

  it('lets only the owner or root set ACLs, and clears setgid for an owner outside the group', async () => {
    await fs.create('/f', alice, 0o644);
    await expectCode(setAcl('/f', AclXattr.Access, bobReads, bob), MetaCode.NotPermitted);
    await expectCode(
      harness.call(m.removeXattr, { cred: bob, at: { path: '/f' }, name: AclXattr.Access }),
      MetaCode.NotPermitted,
    );
    await fs.chown('/f', { gid: 2000 });
    await fs.chmod('/f', 0o2755);
    await setAcl('/f', AclXattr.Access, bobReads, alice);
    expect((await fs.stat('/f')).mode).toBe(0o640);
    await fs.chmod('/f', 0o2755);
    await setAcl('/f', AclXattr.Access, bobReads);
    expect((await fs.stat('/f')).mode).toBe(0o2640);
  });

  it('answers EINVAL for bad values and leaves the inode as it was', async () => {
    await fs.create('/f', alice, 0o644);
    const bad = [
      Buffer.from([2, 0]),
      Buffer.concat([encodeAclXattr(bobReads), Buffer.from([1])]),
      Buffer.from([3, 0, 0, 0]),
      encodeAclXattr([
        base(AclTag.UserObj, 6),
        named(AclTag.User, 5, 4),
        base(AclTag.GroupObj, 0),
        base(AclTag.Other, 0),
      ]),
      encodeAclXattr([base(AclTag.GroupObj, 6), base(AclTag.UserObj, 4), base(AclTag.Other, 0)]),
      encodeAclXattr([base(AclTag.UserObj, 9), base(AclTag.GroupObj, 4), base(AclTag.Other, 0)]),
    ];
    for (const value of bad) {
      await expectCode(
        harness.call(m.setXattr, { cred: alice, at: { path: '/f' }, name: AclXattr.Access, value }),
        MetaCode.InvalidArgument,
      );
    }
    expect((await fs.stat('/f')).mode).toBe(0o644);
  });

  it('refuses ACLs of symlinks, default ACLs of files, and other system attributes', async () => {
    await fs.create('/f', root, 0o644);
    await fs.symlink('/l', '/f');
    await expectCode(
      harness.call(m.setXattr, {
        cred: root,
        at: { path: '/l' },
        followLast: false,
        name: AclXattr.Access,
        value: encodeAclXattr(bobReads),
      }),
      MetaCode.NotSupported,
    );
    await expectCode(setAcl('/f', AclXattr.Default, bobReads), MetaCode.PermissionDenied);
    await expectCode(
      harness.call(m.getXattr, { cred: root, at: { path: '/f' }, name: AclXattr.Default }),
      MetaCode.NoAttribute,
    );
    await expectCode(
      harness.call(m.getXattr, { cred: root, at: { path: '/f' }, name: 'system.nfs4_acl' }),
      MetaCode.NotSupported,
    );
  });
});

describe('inheritance', () => {
  /** Default ACL of /d: user::rwx, user:bob:rwx, group::r-x, mask::rwx, other::--- */
  const inherited = [
    base(AclTag.UserObj, 7),
    named(AclTag.User, bob.uid, 7),
    base(AclTag.GroupObj, 5),
    base(AclTag.Mask, 7),
    base(AclTag.Other, 0),
  ];

  beforeEach(async () => {
    await fs.mkdir('/d', alice, 0o755);
    await setAcl('/d', AclXattr.Default, inherited, alice);
  });

  it('gives a new file the default ACL limited by its mode, ignoring the umask', async () => {
    const { inode } = await harness.call(m.create, {
      cred: alice,
      at: { path: '/d/f' },
      mode: 0o640,
      umask: 0o077,
      write: false,
    });
    expect(inode.mode).toBe(0o640);
    expect(await getAcl('/d/f', AclXattr.Access)).toEqual([
      base(AclTag.UserObj, 6),
      named(AclTag.User, bob.uid, 7),
      base(AclTag.GroupObj, 5),
      base(AclTag.Mask, 4),
      base(AclTag.Other, 0),
    ]);
    await expectCode(
      harness.call(m.getXattr, { cred: root, at: { path: '/d/f' }, name: AclXattr.Default }),
      MetaCode.NoAttribute,
    );
  });

  it('gives a new directory both ACLs, and so on down a mkdir -p', async () => {
    await harness.call(m.mkdirs, {
      cred: alice,
      at: { path: '/d/a/b' },
      mode: 0o777,
      umask: 0o077,
      recursive: true,
    });
    for (const path of ['/d/a', '/d/a/b']) {
      expect((await fs.stat(path)).mode).toBe(0o770);
      expect(await getAcl(path, AclXattr.Default)).toEqual(inherited);
      expect(await getAcl(path, AclXattr.Access)).toEqual([...inherited.slice(0, 4), base(AclTag.Other, 0)]);
    }
  });

  it('gives special files the access ACL but symlinks nothing', async () => {
    const fifo = await harness.call(m.mknod, {
      cred: alice,
      at: { path: '/d/p' },
      type: 'fifo',
      mode: 0o666,
      umask: 0o022,
    });
    expect(fifo.inode.mode).toBe(0o660);
    expect(fifo.inode.accessAcl).toBeDefined();
    const link = await fs.symlink('/d/l', 'p', alice);
    expect(link.mode).toBe(0o777);
    expect(link.accessAcl).toBeUndefined();
  });

  it('applies the umask where no default ACL is', async () => {
    const { inode } = await harness.call(m.create, {
      cred: alice,
      at: { path: '/g' },
      mode: 0o666,
      umask: 0o027,
      write: false,
    });
    expect(inode.mode).toBe(0o640);
    expect(inode.accessAcl).toBeUndefined();
    expect(
      (await harness.call(m.mkdirs, { cred: root, at: { path: '/e' }, mode: 0o777, umask: 0o022 })).inode
        .mode,
    ).toBe(0o755);
  });
});

describe('enforcement', () => {
  it('lets a named user read what the mode alone refuses, within the mask', async () => {
    await fs.create('/f', alice, 0o600);
    await expectCode(harness.call(m.open, { cred: bob, at: { path: '/f' } }), MetaCode.PermissionDenied);
    await setAcl('/f', AclXattr.Access, bobReads, alice);
    await harness.call(m.open, { cred: bob, at: { path: '/f' } });
    await expectCode(harness.call(m.open, { cred: carol, at: { path: '/f' } }), MetaCode.PermissionDenied);
    // A restrictive mask takes it away again.
    await fs.chmod('/f', 0o600, alice);
    await expectCode(harness.call(m.open, { cred: bob, at: { path: '/f' } }), MetaCode.PermissionDenied);
  });

  it('grants search through a directory to a named group', async () => {
    await fs.mkdir('/private', alice, 0o700);
    await fs.create('/private/f', alice, 0o644);
    await expectCode(fs.stat('/private/f', carol), MetaCode.PermissionDenied);
    await setAcl(
      '/private',
      AclXattr.Access,
      [
        base(AclTag.UserObj, 7),
        base(AclTag.GroupObj, 0),
        named(AclTag.Group, 2000, 1),
        base(AclTag.Mask, 1),
        base(AclTag.Other, 0),
      ],
      alice,
    );
    expect((await fs.stat('/private/f', carol)).ino).toBeGreaterThan(0n);
    expect((await fs.stat('/private/f', bob)).ino).toBeGreaterThan(0n);
    await expectCode(fs.list('/private', carol), MetaCode.PermissionDenied);
  });
});
