// Proves that statfs' count of inodes in use follows every create and removal (files, directories, symlinks, special files, renames over a victim, recursive removal, an orphan released at its last close), that a namespace from before counting is counted once at start, and that fsck finds a count that went wrong.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeRecord } from '../../../src/common/record-codec.js';
import { checkInvariants } from '../../../src/meta/fsck/invariant-checker.js';
import { metaMethods as m } from '../../../src/meta/protocol/index.js';
import { inodeCountShard, keys, prefixRange, tags } from '../../../src/meta/store/keys.js';
import { inodeCountRecordSchema } from '../../../src/meta/store/records.js';
import { expectConsistent, fsOf, openHarness, root, type Harness } from './meta-harness.js';

let harness: Harness;
let fs: ReturnType<typeof fsOf>;
beforeEach(async () => {
  harness = await openHarness();
  fs = fsOf(harness);
});
afterEach(async () => harness.close());

async function inodesInUse(): Promise<number | null> {
  return (await harness.call(m.statFs, { cred: root })).inodesInUse;
}

/** The count statfs gives equals the inodes fsck finds, and every invariant holds. */
async function expectCounted(expected: number): Promise<void> {
  expect(await inodesInUse()).toBe(expected);
  expect((await checkInvariants(harness.kv)).inodes).toBe(expected);
  await expectConsistent(harness);
}

describe('inodes in use', () => {
  it('follow creates and removals of every kind', async () => {
    await expectCounted(1);
    await fs.mkdirp('/a/b/c');
    await fs.create('/a/f');
    await fs.symlink('/a/l', 'f');
    await harness.call(m.mknod, { cred: root, at: { path: '/a/p' }, type: 'fifo', mode: 0o644 });
    await expectCounted(7);
    // A hard link names an inode already counted.
    await fs.link('/a/f', '/a/f2');
    await expectCounted(7);
    await fs.unlink('/a/f');
    await expectCounted(7);
    await fs.unlink('/a/f2');
    await expectCounted(6);
    await fs.create('/x');
    await fs.rename('/x', '/a/p');
    await expectCounted(6);
    await fs.mkdir('/empty');
    await fs.rename('/empty', '/a/b/c');
    await expectCounted(6);
    await fs.rmdir('/a/b/c');
    await expectCounted(5);
    expect((await harness.call(m.removeRecursive, { cred: root, at: { path: '/a' } })).removedInodes).toBe(4);
    await expectCounted(1);
  });

  it('count an unlinked file open for writing until its last session closes', async () => {
    const session = { clientId: 'c1', sessionId: 's1' };
    const { inode } = await harness.call(m.create, { cred: root, at: { path: '/f' }, mode: 0o644, session });
    await fs.unlink('/f');
    await expectCounted(2);
    await harness.call(m.close, { cred: root, ino: inode.ino, session });
    await expectCounted(1);
  });

  it('are counted once at start in a namespace from before counting', async () => {
    await fs.mkdirp('/a/b');
    await fs.create('/a/f');
    const range = prefixRange(tags.inodeCount);
    await harness.kv.transact(async (tx) => {
      tx.clearRange(range.begin, range.end);
      tx.clear(keys.inodeCountComplete());
    });
    expect(await inodesInUse()).toBeNull();
    await expectConsistent(harness);
    // Creates and removals before the count do not make the count negative or wrong later.
    await fs.unlink('/a/f');
    await fs.create('/g');
    await harness.service.ensureRoot({ chainTableId: 1, chunkSizeBytes: 1 << 20, stripeSize: 4 });
    await expectCounted(4);
    // Counting again changes nothing.
    await harness.service.ensureRoot({ chainTableId: 1, chunkSizeBytes: 1 << 20, stripeSize: 4 });
    await expectCounted(4);
  });

  it('are checked by fsck', async () => {
    const file = await fs.create('/f');
    await harness.kv.transact(async (tx) => {
      tx.set(
        keys.inodeCount(inodeCountShard(file.ino)),
        encodeRecord(inodeCountRecordSchema, { format: 1, count: 5n }),
      );
    });
    const report = await checkInvariants(harness.kv);
    expect(report.problems).toEqual([
      `inode count shard ${inodeCountShard(file.ino)} says 5, 1 inodes are in it`,
    ]);
  });
});
