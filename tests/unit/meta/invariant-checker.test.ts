// Proves that the invariant checker finds each kind of damage: wrong link counts, dangling and
// mistyped entries, wrong parent pointers, directory cycles, unreachable inodes, and broken
// session, orphan and GC records.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkInvariants } from '../../../src/meta/fsck/invariant-checker.js';
import type { Inode } from '../../../src/meta/protocol/index.js';
import { MetaWriter } from '../../../src/meta/store/meta-store.js';
import { fsOf, openHarness, type Harness } from './meta-harness.js';

let harness: Harness;
let fs: ReturnType<typeof fsOf>;
beforeEach(async () => {
  harness = await openHarness();
  fs = fsOf(harness);
});
afterEach(async () => harness.close());

/** Changes records directly, as a bug or a broken disk would. */
function damage(change: (writer: MetaWriter) => Promise<void> | void): Promise<void> {
  return harness.kv.transact(async (tx) => change(new MetaWriter(tx)));
}

async function problems(): Promise<string> {
  return (await checkInvariants(harness.kv)).problems.join('\n');
}

describe('the invariant checker', () => {
  it('finds nothing wrong in a namespace built by the operations', async () => {
    await fs.mkdirp('/a/b/c');
    await fs.create('/a/f');
    await fs.link('/a/f', '/a/b/g');
    await fs.symlink('/l', 'a');
    const report = await checkInvariants(harness.kv);
    expect(report).toMatchObject({ problems: [], truncated: false, inodes: 6, entries: 6 });
  });

  it('finds a wrong link count', async () => {
    const file = await fs.create('/f');
    await damage((writer) => writer.putInode({ ...file, nlink: 2 }));
    expect(await problems()).toContain(`inode ${file.ino} has nlink 2 but 1 entries name it`);
  });

  it('finds an entry naming a missing inode and one recording the wrong type', async () => {
    const file = await fs.create('/f');
    await damage((writer) => {
      writer.putEntry(1n, 'ghost', { ino: 999n, type: 'file' });
      writer.putEntry(1n, 'wrong', { ino: file.ino, type: 'directory' });
    });
    const found = await problems();
    expect(found).toContain('names missing inode 999');
    expect(found).toContain('records type directory');
  });

  it('finds a directory whose parent pointer does not match its entry', async () => {
    const a = await fs.mkdir('/a');
    await fs.mkdir('/b');
    await damage((writer) => writer.putInode({ ...a, parent: 999n } as Inode));
    expect(await problems()).toContain(`directory ${a.ino} is named in 1 but its parent pointer is 999`);
  });

  it('finds a directory cycle cut off from the root', async () => {
    const a = await fs.mkdir('/a');
    const b = await fs.mkdir('/a/b');
    await damage(async (writer) => {
      // Move a's entry into b without any check: a and b become each other's ancestors.
      writer.deleteEntry(1n, 'a');
      writer.putEntry(b.ino, 'a', a);
      writer.putInode({ ...a, parent: b.ino } as Inode);
      writer.putInode({ ...((await writer.requireInode(1n)) as Inode), nlink: 2 });
      writer.putInode({ ...b, nlink: 3 });
    });
    const found = await problems();
    expect(found).toContain('is in a cycle of parent pointers');
    expect(found).toContain(`inode ${a.ino} (directory) is unreachable`);
  });

  it('finds an inode nothing names and an orphan without sessions', async () => {
    const file = await fs.create('/f');
    await damage((writer) => writer.deleteEntry(1n, 'f'));
    expect(await problems()).toContain(`inode ${file.ino} (file) is unreachable`);
    await damage((writer) => {
      writer.putInode({ ...file, nlink: 0 });
      writer.putOrphan(file.ino, 0n);
    });
    expect(await problems()).toContain('is unreachable and not an orphan with open sessions');
  });

  it('finds broken session, GC and attribute records', async () => {
    const file = await fs.create('/f');
    await damage((writer) => {
      writer.putSession(777n, { clientId: 'c', sessionId: 's' }, 0n);
      writer.queueGc({
        ino: file.ino,
        layout: file.type === 'file' ? file.layout : (undefined as never),
        length: 0n,
        removedAtNs: 0n,
      });
      writer.putXattr(888n, 'user.x', new Uint8Array([1]));
    });
    const found = await problems();
    expect(found).toContain('sessions of inode 777 belong to no file');
    expect(found).toContain(`inode ${file.ino} is queued for GC but still exists`);
    expect(found).toContain('extended attributes of missing inode 888');
  });
});
