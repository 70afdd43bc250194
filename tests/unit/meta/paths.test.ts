// Proves path resolution: ".", "..", absolute and relative paths, symlinks in the middle and at
// the end, the symlink depth bound (ELOOP), name and path length bounds (ENAMETOOLONG), ENOTDIR
// and search permission on every component.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MetaCode } from '../../../src/common/status-code.js';
import { checkName, checkPath } from '../../../src/meta/names.js';
import { metaMethods as m } from '../../../src/meta/protocol/index.js';
import { alice, bob, expectCode, fsOf, openHarness, root, type Harness } from './meta-harness.js';

let harness: Harness;
let fs: ReturnType<typeof fsOf>;
beforeEach(async () => {
  harness = await openHarness();
  fs = fsOf(harness);
});
afterEach(async () => harness.close());

describe('names', () => {
  it('accepts 255 bytes and refuses 256 with NameTooLong, counting UTF-8 bytes', () => {
    expect(() => checkName('a'.repeat(255))).not.toThrow();
    expect(() => checkName('é'.repeat(127))).not.toThrow();
    for (const name of ['a'.repeat(256), 'é'.repeat(128)]) {
      try {
        checkName(name);
        expect.unreachable();
      } catch (error) {
        expect((error as { code: number }).code).toBe(MetaCode.NameTooLong);
      }
    }
  });

  it('refuses empty names, "/", NUL and lone surrogates with InvalidArgument', () => {
    for (const name of ['', 'a/b', 'a\0b', 'x\uD800']) {
      try {
        checkName(name);
        expect.unreachable();
      } catch (error) {
        expect((error as { code: number }).code).toBe(MetaCode.InvalidArgument);
      }
    }
  });

  it('bounds paths at 4096 bytes', () => {
    expect(() => checkPath(`/${'a/'.repeat(2047)}b`)).not.toThrow();
    expect(() => checkPath('/'.repeat(4097))).toThrow();
  });
});

describe('path resolution', () => {
  it('resolves ".", ".." and repeated slashes, and ".." of the root is the root', async () => {
    await fs.mkdirp('/a/b/c');
    const c = await fs.stat('/a/b/c');
    expect((await fs.stat('/a/./b//c/')).ino).toBe(c.ino);
    expect((await fs.stat('/a/b/c/../c')).ino).toBe(c.ino);
    expect((await fs.stat('/../../a/b/c')).ino).toBe(c.ino);
    expect((await fs.stat('/')).ino).toBe(1n);
  });

  it('resolves relative paths from a parent inode, and absolute paths from the root whatever the parent', async () => {
    const a = await fs.mkdirp('/a/b');
    const parent = (await fs.stat('/a')).ino;
    expect((await harness.call(m.stat, { cred: root, at: { parent, path: 'b' } })).inode.ino).toBe(a.ino);
    expect((await harness.call(m.stat, { cred: root, at: { parent, path: '/a' } })).inode.ino).toBe(parent);
    expect((await harness.call(m.stat, { cred: root, at: { parent, path: '' } })).inode.ino).toBe(parent);
  });

  it('answers NotFound for a missing component and NotDirectory for a file in the middle', async () => {
    await fs.create('/f');
    await expectCode(fs.stat('/missing/x'), MetaCode.NotFound);
    await expectCode(fs.stat('/missing'), MetaCode.NotFound);
    await expectCode(fs.stat('/f/x'), MetaCode.NotDirectory);
    await expectCode(fs.stat('/f/'), MetaCode.NotDirectory);
    await expectCode(
      harness.call(m.stat, { cred: root, at: { parent: 99_999n, path: 'x' } }),
      MetaCode.NotFound,
    );
  });

  it('follows symlinks in the middle, relative to the link’s directory or from the root', async () => {
    await fs.mkdirp('/a/b');
    await fs.create('/a/b/f');
    await fs.symlink('/a/rel', 'b');
    await fs.symlink('/abs', '/a/b');
    await fs.symlink('/a/up', '../a/b/f');
    const f = await fs.stat('/a/b/f');
    expect((await fs.stat('/a/rel/f')).ino).toBe(f.ino);
    expect((await fs.stat('/abs/f')).ino).toBe(f.ino);
    expect((await fs.stat('/a/up')).ino).toBe(f.ino);
    expect((await fs.lstat('/a/up')).type).toBe('symlink');
    expect((await harness.call(m.readlink, { cred: root, at: { path: '/a/up' } })).target).toBe('../a/b/f');
  });

  it('answers TooManySymlinks for a loop and for more than 40 links in a path', async () => {
    await fs.symlink('/loop', 'loop');
    await expectCode(fs.stat('/loop'), MetaCode.TooManySymlinks);
    await fs.mkdir('/d');
    await fs.symlink('/l0', 'd');
    for (let index = 1; index <= 41; index++) await fs.symlink(`/l${index}`, `l${index - 1}`);
    expect((await fs.stat('/l39')).type).toBe('directory');
    await expectCode(fs.stat('/l40'), MetaCode.TooManySymlinks);
    await expectCode(fs.stat('/l41'), MetaCode.TooManySymlinks);
    // Not following the last link never counts it.
    expect((await fs.lstat('/l41')).type).toBe('symlink');
  });

  it('answers NameTooLong for a long component or path and InvalidArgument for NUL', async () => {
    await expectCode(fs.stat(`/${'x'.repeat(256)}`), MetaCode.NameTooLong);
    await expectCode(fs.stat(`/${'a/'.repeat(2100)}`), MetaCode.NameTooLong);
    await expectCode(fs.stat('/a\0b'), MetaCode.InvalidArgument);
    await expectCode(fs.mkdir(`/${'x'.repeat(256)}`), MetaCode.NameTooLong);
  });

  it('needs search permission on every directory passed through', async () => {
    await fs.mkdirp('/top/mid', root, 0o755);
    await fs.create('/top/mid/f');
    expect((await fs.stat('/top/mid/f', alice)).type).toBe('file');
    await fs.chmod('/top/mid', 0o750);
    await expectCode(fs.stat('/top/mid/f', alice), MetaCode.PermissionDenied);
    // The directory itself can still be stat'ed: only what lies inside needs search permission.
    expect((await fs.stat('/top/mid', alice)).mode).toBe(0o750);
    await fs.chown('/top/mid', { gid: bob.groups[0] ?? 0 });
    expect((await fs.stat('/top/mid/f', bob)).type).toBe('file');
  });
});
