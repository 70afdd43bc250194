// Proves create (O_CREAT, O_EXCL, O_TRUNC), open with access modes and write sessions, mkdir,
// symlink, file layouts from the parent directory, inherited and changed by an operator.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MetaCode, RpcCode } from '../../../src/common/status-code.js';
import { metaMethods as m } from '../../../src/meta/protocol/index.js';
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
});
afterEach(async () => harness.close());

const session = (sessionId: string) => ({ clientId: 'client-1', sessionId });

describe('create', () => {
  it('creates a file owned by the caller with the parent’s layout', async () => {
    await fs.mkdir('/pub', root, 0o777);
    const result = await harness.call(m.create, {
      cred: alice,
      at: { path: '/pub/f' },
      mode: 0o640,
      session: session('s1'),
    });
    expect(result.created).toBe(true);
    const inode = result.inode;
    expect(inode).toMatchObject({ type: 'file', uid: 1000, gid: 1000, mode: 0o640, nlink: 1, length: 0n });
    if (inode.type !== 'file') throw new Error('a file');
    expect(inode.layout).toMatchObject({ chainTableId: 1, chunkSizeBytes: 1 << 20, stripeSize: 4 });
    expect(new Set(inode.layout.chains).size).toBe(4);
    await expectConsistent(harness);
  });

  it('opens an existing file without O_EXCL and refuses it with O_EXCL', async () => {
    const first = await fs.create('/f');
    const again = await harness.call(m.create, { cred: root, at: { path: '/f' }, mode: 0o600, write: false });
    expect(again).toMatchObject({ created: false, inode: { ino: first.ino, mode: 0o644 } });
    await expectCode(
      harness.call(m.create, { cred: root, at: { path: '/f' }, mode: 0o600, exclusive: true, write: false }),
      MetaCode.Exists,
    );
  });

  it('with O_EXCL refuses an existing symlink, even a dangling one; without, creates the link’s target', async () => {
    await fs.symlink('/dangling', 'target');
    await expectCode(
      harness.call(m.create, {
        cred: root,
        at: { path: '/dangling' },
        mode: 0o644,
        exclusive: true,
        write: false,
      }),
      MetaCode.Exists,
    );
    const created = await harness.call(m.create, {
      cred: root,
      at: { path: '/dangling' },
      mode: 0o644,
      write: false,
    });
    expect(created.created).toBe(true);
    expect((await fs.stat('/target')).ino).toBe(created.inode.ino);
  });

  it('truncates an existing file with O_TRUNC and records the pending truncation', async () => {
    const file = await fs.create('/f');
    await harness.call(m.sync, { cred: root, ino: file.ino, length: { bytes: 5000n, truncateVersion: 0 } });
    const result = await harness.call(m.create, {
      cred: root,
      at: { path: '/f' },
      mode: 0o644,
      truncate: true,
      session: session('s1'),
    });
    expect(result.inode).toMatchObject({ length: 0n, truncateVersion: 1 });
    const pending = await harness.call(m.listPendingTruncations, { limit: 10 });
    expect(pending.entries).toMatchObject([
      { ino: file.ino, fromBytes: 0n, toBytes: 5000n, truncateVersion: 1 },
    ]);
  });

  it('refuses directories, trailing slashes and missing parents', async () => {
    await fs.mkdir('/d');
    await expectCode(
      harness.call(m.create, { cred: root, at: { path: '/d' }, mode: 0o644, write: false }),
      MetaCode.IsDirectory,
    );
    await expectCode(
      harness.call(m.create, { cred: root, at: { path: '/new/' }, mode: 0o644, write: false }),
      MetaCode.IsDirectory,
    );
    await expectCode(
      harness.call(m.create, { cred: root, at: { path: '/no/f' }, mode: 0o644, write: false }),
      MetaCode.NotFound,
    );
    await expectCode(
      harness.call(m.create, { cred: root, at: { path: '/' }, mode: 0o644, write: false }),
      MetaCode.IsDirectory,
    );
  });

  it('needs write and search permission on the parent', async () => {
    await fs.mkdir('/ro', root, 0o755);
    await expectCode(
      harness.call(m.create, { cred: alice, at: { path: '/ro/f' }, mode: 0o644, write: false }),
      MetaCode.PermissionDenied,
    );
    await fs.mkdir('/wo', root, 0o776);
    await expectCode(
      harness.call(m.create, { cred: alice, at: { path: '/wo/f' }, mode: 0o644, write: false }),
      MetaCode.PermissionDenied,
    );
  });

  it('requires a session for opening to write', async () => {
    await expectCode(
      harness.call(m.create, { cred: root, at: { path: '/f' }, mode: 0o644 }),
      MetaCode.InvalidArgument,
    );
  });

  it('answers NoChainTable when the parent’s chain table is unknown, and creates nothing', async () => {
    harness.chainTables.clear();
    await expectCode(fs.create('/f'), MetaCode.NoChainTable);
    await expectCode(fs.stat('/f'), MetaCode.NotFound);
    await expectConsistent(harness);
  });
});

describe('open', () => {
  it('checks read and write permission by the access mode', async () => {
    await fs.create('/f', root, 0o604);
    const ino = (await fs.stat('/f')).ino;
    expect((await harness.call(m.open, { cred: alice, at: { path: '/f' } })).inode.ino).toBe(ino);
    await expectCode(
      harness.call(m.open, { cred: alice, at: { path: '/f' }, write: true, session: session('s') }),
      MetaCode.PermissionDenied,
    );
    await expectCode(
      harness.call(m.open, { cred: alice, at: { path: '/f' }, truncate: true }),
      MetaCode.PermissionDenied,
    );
    await fs.chmod('/f', 0o600);
    await expectCode(harness.call(m.open, { cred: alice, at: { path: '/f' } }), MetaCode.PermissionDenied);
  });

  it('grants group access through the primary group and through supplementary groups', async () => {
    await fs.create('/team', root, 0o640);
    await fs.chown('/team', { gid: 2000 });
    expect((await harness.call(m.open, { cred: carol, at: { path: '/team' } })).inode.gid).toBe(2000);
    expect((await harness.call(m.open, { cred: bob, at: { path: '/team' } })).inode.gid).toBe(2000);
    await expectCode(harness.call(m.open, { cred: alice, at: { path: '/team' } }), MetaCode.PermissionDenied);
    await expectCode(
      harness.call(m.open, { cred: carol, at: { path: '/team' }, write: true, session: session('s') }),
      MetaCode.PermissionDenied,
    );
  });

  it('refuses writing a directory, and a symlink with O_NOFOLLOW', async () => {
    await fs.mkdir('/d');
    await fs.symlink('/l', 'd');
    expect((await harness.call(m.open, { cred: root, at: { path: '/d' } })).inode.type).toBe('directory');
    await expectCode(
      harness.call(m.open, { cred: root, at: { path: '/d' }, write: true, session: session('s') }),
      MetaCode.IsDirectory,
    );
    await expectCode(
      harness.call(m.open, { cred: root, at: { path: '/l' }, noFollow: true }),
      MetaCode.TooManySymlinks,
    );
    await expectCode(harness.call(m.open, { cred: root, at: { path: '/missing' } }), MetaCode.NotFound);
  });

  it('adopts a reported length only when larger and under the current truncate version', async () => {
    const file = await fs.create('/f');
    const sync = (bytes: bigint, truncateVersion: number) =>
      harness.call(m.sync, { cred: root, ino: file.ino, length: { bytes, truncateVersion } });
    expect((await sync(100n, 0)).inode).toMatchObject({ length: 100n });
    expect((await sync(50n, 0)).inode).toMatchObject({ length: 100n });
    await harness.call(m.setAttr, { cred: root, at: { path: '/f' }, length: 10n });
    expect((await sync(100n, 0)).inode).toMatchObject({ length: 10n, truncateVersion: 1 });
    expect((await sync(30n, 1)).inode).toMatchObject({ length: 30n });
    await expectCode(
      harness.call(m.sync, { cred: root, ino: 1n, length: { bytes: 1n, truncateVersion: 0 } }),
      MetaCode.IsDirectory,
    );
  });
});

describe('mkdir and symlink', () => {
  it('creates directories, counts subdirectory links and refuses what exists', async () => {
    const d = await fs.mkdir('/d', root, 0o750);
    expect(d).toMatchObject({ type: 'directory', mode: 0o750, nlink: 2 });
    await fs.mkdir('/d/e');
    expect((await fs.stat('/d')).nlink).toBe(3);
    expect((await fs.stat('/')).nlink).toBe(3);
    await expectCode(fs.mkdir('/d'), MetaCode.Exists);
    await expectCode(fs.mkdir('/'), MetaCode.Exists);
    await expectCode(fs.mkdir('/d/.'), MetaCode.Exists);
    await expectCode(fs.mkdir('/x/y'), MetaCode.NotFound);
    await fs.symlink('/l', 'nowhere');
    await expectCode(fs.mkdir('/l'), MetaCode.Exists);
    await expectConsistent(harness);
  });

  it('creates missing directories with mkdir -p and passes through existing ones', async () => {
    await fs.mkdir('/a');
    const deep = await fs.mkdirp('/a/b/c/d', root, 0o700);
    expect(deep.mode).toBe(0o700);
    expect((await fs.stat('/a/b')).mode).toBe(0o700);
    expect((await fs.mkdirp('/a/b/c/d')).ino).toBe(deep.ino);
    await fs.create('/a/file');
    await expectCode(fs.mkdirp('/a/file/x'), MetaCode.NotDirectory);
    await expectCode(fs.mkdirp('/a/file'), MetaCode.Exists);
    await fs.symlink('/a/link', 'b');
    expect((await fs.mkdirp('/a/link/c/e')).type).toBe('directory');
    await expectConsistent(harness);
  });

  it('inherits group and setgid from a setgid directory', async () => {
    await fs.mkdir('/shared', root, 0o2777);
    await fs.chown('/shared', { gid: 2000 });
    const file = await fs.create('/shared/f', alice);
    const dir = await fs.mkdir('/shared/sub', alice);
    expect(file).toMatchObject({ uid: 1000, gid: 2000, mode: 0o644 });
    expect(dir).toMatchObject({ uid: 1000, gid: 2000, mode: 0o2755 });
  });

  it('refuses empty and over-long symlink targets', async () => {
    await expectCode(fs.symlink('/l', ''), MetaCode.NotFound);
    await expectCode(fs.symlink('/l', 'x'.repeat(4097)), MetaCode.NameTooLong);
    await expectCode(fs.symlink('/l', 'a\0b'), MetaCode.InvalidArgument);
    expect((await fs.symlink('/l', 'x'.repeat(4096))).type).toBe('symlink');
  });
});

describe('directory layouts', () => {
  it('are inherited by new subdirectories and changed only by root', async () => {
    harness.chainTables.set(2, { chainTableId: 2, chainTableVersion: 4, chains: [21, 22, 23] });
    await fs.mkdir('/data');
    await expectCode(
      harness.call(m.setDirLayout, { cred: alice, at: { path: '/data' }, stripeSize: 2 }),
      MetaCode.NotPermitted,
    );
    await expectCode(
      harness.call(m.setDirLayout, { cred: root, at: { path: '/data' }, chainTableId: 9 }),
      MetaCode.NoChainTable,
    );
    const changed = await harness.call(m.setDirLayout, {
      cred: root,
      at: { path: '/data' },
      chainTableId: 2,
      chunkSizeBytes: 65536,
      stripeSize: 2,
    });
    expect(changed.inode).toMatchObject({
      layout: { chainTableId: 2, chunkSizeBytes: 65536, stripeSize: 2 },
    });
    await fs.mkdir('/data/sub');
    const file = await fs.create('/data/sub/f');
    if (file.type !== 'file') throw new Error('a file');
    expect(file.layout).toMatchObject({
      chainTableId: 2,
      chainTableVersion: 4,
      chunkSizeBytes: 65536,
      stripeSize: 2,
    });
    expect(file.layout.chains.every((chain) => [21, 22, 23].includes(chain))).toBe(true);
    const elsewhere = await fs.create('/g');
    expect(elsewhere.type === 'file' && elsewhere.layout.chainTableId).toBe(1);
    await expectCode(harness.call(m.setDirLayout, { cred: root, at: { path: '/g' } }), MetaCode.NotDirectory);
    await expectCode(
      harness.call(m.setDirLayout, { cred: root, at: { path: '/data' }, stripeSize: 0 }),
      RpcCode.BadRequest,
    );
  });

  it('ignores root squash for the operator command but applies it to users', async () => {
    const squashed = await openHarness({ rootSquash: true });
    try {
      const squashedFs = fsOf(squashed);
      await squashedFs.mkdir('/x', root, 0o777).catch(() => undefined);
      await expectCode(squashedFs.mkdir('/x'), MetaCode.PermissionDenied);
      const result = await squashed.call(m.setDirLayout, { cred: root, at: { path: '/' }, stripeSize: 1 });
      expect(result.inode).toMatchObject({ layout: { stripeSize: 1 } });
    } finally {
      await squashed.close();
    }
  });
});
