// Proves unlink, rmdir and recursive remove with their POSIX errors and permission rules, hard
// links and link counts, and the life of a file unlinked while open for writing: kept as an
// orphan until the last writer closes (or its client is pruned), then queued for GC.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MetaCode } from '../../../src/common/status-code.js';
import { metaMethods as m } from '../../../src/meta/protocol/index.js';
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

async function gcQueue(): Promise<bigint[]> {
  return (await harness.call(m.listGcQueue, { limit: 100 })).entries.map((entry) => entry.ino);
}

describe('unlink', () => {
  it('removes the entry, queues the file for GC and keeps other links', async () => {
    const file = await fs.create('/f');
    await fs.link('/f', '/g');
    expect((await fs.stat('/g')).nlink).toBe(2);
    await fs.unlink('/f');
    expect((await fs.stat('/g')).nlink).toBe(1);
    expect(await gcQueue()).toEqual([]);
    await fs.unlink('/g');
    await expectCode(fs.stat('/g'), MetaCode.NotFound);
    const queue = await harness.call(m.listGcQueue, { limit: 100 });
    expect(queue.entries).toMatchObject([{ ino: file.ino, length: 0n }]);
    expect(queue.more).toBe(false);
    await expectConsistent(harness);
  });

  it('removes symlinks themselves, not their targets, and symlinks are not queued for GC', async () => {
    await fs.create('/target');
    await fs.symlink('/l', 'target');
    await fs.unlink('/l');
    expect((await fs.stat('/target')).type).toBe('file');
    expect(await gcQueue()).toEqual([]);
  });

  it('answers IsDirectory, NotFound and NotDirectory as POSIX does', async () => {
    await fs.mkdir('/d');
    await fs.create('/f');
    await expectCode(fs.unlink('/d'), MetaCode.IsDirectory);
    await expectCode(fs.unlink('/d/.'), MetaCode.IsDirectory);
    await expectCode(fs.unlink('/missing'), MetaCode.NotFound);
    await expectCode(fs.unlink('/f/x'), MetaCode.NotDirectory);
    await expectCode(fs.unlink('/f/'), MetaCode.NotDirectory);
    await expectCode(fs.unlink('/'), MetaCode.Busy);
  });

  it('needs write permission on the directory and respects the sticky bit', async () => {
    await fs.mkdir('/tmp', root, 0o1777);
    await fs.create('/tmp/alices', alice);
    await expectCode(fs.unlink('/tmp/alices', bob), MetaCode.NotPermitted);
    await fs.unlink('/tmp/alices', alice);
    await fs.mkdir('/locked', root, 0o755);
    await fs.create('/locked/f');
    await expectCode(fs.unlink('/locked/f', alice), MetaCode.PermissionDenied);
  });
});

describe('rmdir', () => {
  it('removes empty directories only and fixes the parent’s link count', async () => {
    await fs.mkdirp('/a/b');
    await expectCode(fs.rmdir('/a'), MetaCode.NotEmpty);
    await fs.rmdir('/a/b');
    expect((await fs.stat('/a')).nlink).toBe(2);
    await fs.rmdir('/a');
    expect((await fs.stat('/')).nlink).toBe(2);
    await expectConsistent(harness);
  });

  it('answers NotDirectory, InvalidArgument, Busy and NotFound as POSIX does', async () => {
    await fs.mkdir('/d');
    await fs.create('/f');
    await expectCode(fs.rmdir('/f'), MetaCode.NotDirectory);
    await expectCode(fs.rmdir('/d/.'), MetaCode.InvalidArgument);
    await expectCode(fs.rmdir('/d/..'), MetaCode.NotEmpty);
    await expectCode(fs.rmdir('/'), MetaCode.Busy);
    await expectCode(fs.rmdir('/missing'), MetaCode.NotFound);
  });
});

describe('recursive remove', () => {
  it('removes a whole tree in one operation, files to the GC queue', async () => {
    await fs.mkdirp('/t/a/b');
    await fs.create('/t/a/f1');
    await fs.create('/t/a/b/f2');
    await fs.symlink('/t/l', 'a');
    await fs.create('/keep');
    await fs.link('/keep', '/t/a/b/keep-link');
    const result = await harness.call(m.removeRecursive, { cred: root, at: { path: '/t' } });
    expect(result.removedInodes).toBe(6);
    await expectCode(fs.stat('/t'), MetaCode.NotFound);
    expect((await fs.stat('/keep')).nlink).toBe(1);
    expect((await gcQueue()).length).toBe(2);
    await expectConsistent(harness);
  });

  it('removes nothing at all when one directory inside refuses the caller', async () => {
    await fs.mkdir('/t');
    await fs.chown('/t', { uid: alice.uid, gid: alice.gid });
    await fs.mkdir('/t/mine', alice);
    await fs.mkdir('/t/roots', root, 0o755);
    await fs.create('/t/roots/f');
    await expectCode(
      harness.call(m.removeRecursive, { cred: alice, at: { path: '/t' } }),
      MetaCode.PermissionDenied,
    );
    expect((await fs.stat('/t/mine')).type).toBe('directory');
    expect(await fs.list('/t')).toEqual(['mine', 'roots']);
    await expectConsistent(harness);
  });

  it('removes a single file like unlink and refuses the root', async () => {
    await fs.create('/f');
    expect((await harness.call(m.removeRecursive, { cred: root, at: { path: '/f' } })).removedInodes).toBe(1);
    await expectCode(harness.call(m.removeRecursive, { cred: root, at: { path: '/' } }), MetaCode.Busy);
  });
});

describe('hard links', () => {
  it('refuse directories, existing targets and unlinked sources', async () => {
    await fs.mkdir('/d');
    await fs.create('/f');
    await fs.create('/g');
    await expectCode(fs.link('/d', '/d2'), MetaCode.NotPermitted);
    await expectCode(fs.link('/f', '/g'), MetaCode.Exists);
    await expectCode(fs.link('/missing', '/x'), MetaCode.NotFound);
    await expectCode(fs.link('/f', '/nodir/x'), MetaCode.NotFound);
    await expectCode(fs.link('/f', '/d/'), MetaCode.Exists);
  });

  it('need write permission on the target directory', async () => {
    await fs.create('/f', root, 0o644);
    await fs.mkdir('/ro', root, 0o755);
    await expectCode(fs.link('/f', '/ro/x', alice), MetaCode.PermissionDenied);
  });

  it('link a symlink itself unless asked to follow it', async () => {
    const file = await fs.create('/f');
    await fs.symlink('/l', 'f');
    const linked = await fs.link('/l', '/l2');
    expect(linked.inode.type).toBe('symlink');
    const followed = await harness.call(m.hardLink, {
      cred: root,
      source: { path: '/l' },
      target: { path: '/f2' },
      followSource: true,
    });
    expect(followed.inode.ino).toBe(file.ino);
    expect(followed.inode.nlink).toBe(2);
    await expectConsistent(harness);
  });
});

describe('a file unlinked while open for writing', () => {
  const writer = { clientId: 'client-a', sessionId: 'fd-3' };

  it('stays readable by id until the writer closes, then goes to the GC queue', async () => {
    const { inode } = await harness.call(m.create, {
      cred: root,
      at: { path: '/f' },
      mode: 0o644,
      session: writer,
    });
    await harness.call(m.sync, { cred: root, ino: inode.ino, length: { bytes: 4096n, truncateVersion: 0 } });
    await fs.unlink('/f');
    await expectCode(fs.stat('/f'), MetaCode.NotFound);
    const [orphan] = (await harness.call(m.batchStat, { cred: root, inos: [inode.ino] })).inodes;
    expect(orphan).toMatchObject({ ino: inode.ino, nlink: 0, length: 4096n });
    expect(await gcQueue()).toEqual([]);
    await expectConsistent(harness);

    const closed = await harness.call(m.close, {
      cred: root,
      ino: inode.ino,
      session: writer,
      length: { bytes: 8192n, truncateVersion: 0 },
      wrote: true,
    });
    expect(closed.inode).toBeNull();
    const queue = await harness.call(m.listGcQueue, { limit: 10 });
    expect(queue.entries).toMatchObject([{ ino: inode.ino, length: 8192n }]);
    expect((await harness.call(m.batchStat, { cred: root, inos: [inode.ino] })).inodes).toEqual([null]);
    // Closing again is harmless: close may be retried.
    expect((await harness.call(m.close, { cred: root, ino: inode.ino, session: writer })).inode).toBeNull();
    await expectConsistent(harness);
  });

  it('waits for every writer, and pruning a dead client releases it', async () => {
    const other = { clientId: 'client-b', sessionId: 'fd-9' };
    const { inode } = await harness.call(m.create, {
      cred: root,
      at: { path: '/f' },
      mode: 0o644,
      session: writer,
    });
    await harness.call(m.open, { cred: root, at: { path: '/f' }, write: true, session: other });
    await harness.call(m.open, { cred: root, at: { path: '/f' }, write: true, session: other });
    await fs.unlink('/f');
    await harness.call(m.close, { cred: root, ino: inode.ino, session: writer });
    expect(await gcQueue()).toEqual([]);
    await expectConsistent(harness);
    const pruned = await harness.call(m.pruneSessions, { clientId: 'client-b' });
    expect(pruned).toEqual({ removedSessions: 1, reclaimedInodes: 1 });
    expect(await gcQueue()).toEqual([inode.ino]);
    expect(await harness.call(m.pruneSessions, { clientId: 'client-b' })).toEqual({
      removedSessions: 0,
      reclaimedInodes: 0,
    });
    await expectConsistent(harness);
  });

  it('is also kept when replaced by a rename', async () => {
    const { inode } = await harness.call(m.create, {
      cred: root,
      at: { path: '/f' },
      mode: 0o644,
      session: writer,
    });
    await fs.create('/g');
    await fs.rename('/g', '/f');
    expect((await harness.call(m.batchStat, { cred: root, inos: [inode.ino] })).inodes[0]).toMatchObject({
      nlink: 0,
    });
    await expectCode(fs.link(`/missing`, '/x'), MetaCode.NotFound);
    await expectCode(
      harness.call(m.hardLink, {
        cred: root,
        source: { parent: inode.ino, path: '' },
        target: { path: '/back' },
      }),
      MetaCode.NotFound,
    );
    await harness.call(m.close, { cred: root, ino: inode.ino, session: writer });
    expect(await gcQueue()).toEqual([inode.ino]);
    await expectConsistent(harness);
  });
});
