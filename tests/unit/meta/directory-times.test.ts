// Proves directory times: creating, removing and renaming entries moves the directory's mtime and
// ctime as stat shows them, without writing the directory's inode (so changes in one directory do
// not conflict on it); explicit times set on a directory win until its entries change again;
// removing a directory removes its entry times; and the invariant checker flags stray ones.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeRecord, encodeRecord } from '../../../src/common/record-codec.js';
import { metaMethods as m } from '../../../src/meta/protocol/index.js';
import { checkInvariants } from '../../../src/meta/fsck/invariant-checker.js';
import { keys } from '../../../src/meta/store/keys.js';
import { entryTimesRecordSchema, inodeRecordSchema } from '../../../src/meta/store/records.js';
import { expectConsistent, fsOf, openHarness, root, type Harness } from './meta-harness.js';

let harness: Harness;
let fs: ReturnType<typeof fsOf>;
beforeEach(async () => {
  harness = await openHarness();
  fs = fsOf(harness);
});
afterEach(async () => harness.close());

/** The directory's inode record as stored, without its entry times. */
async function storedInode(ino: bigint) {
  const bytes = await harness.kv.read((tx) => tx.get(keys.inode(ino)));
  if (bytes === undefined) throw new Error(`no inode ${ino}`);
  return decodeRecord(inodeRecordSchema, bytes, 'inode').inode;
}

describe('directory times', () => {
  it('move with every entry change, while the directory inode itself is not written', async () => {
    const dir = await fs.mkdir('/d');
    const madeAt = harness.service.nowNs();
    harness.clock.advance(1_000);
    await fs.create('/d/a');
    const afterCreate = await fs.stat('/d');
    expect(afterCreate.mtimeNs).toBe(harness.service.nowNs());
    expect(afterCreate.ctimeNs).toBe(harness.service.nowNs());
    expect((await storedInode(dir.ino)).mtimeNs).toBe(madeAt);

    for (const change of [
      () => harness.call(m.rename, { cred: root, source: { path: '/d/a' }, target: { path: '/d/b' } }),
      () => harness.call(m.unlink, { cred: root, at: { path: '/d/b' } }),
      () => fs.mkdir('/d/sub'),
      () => harness.call(m.rmdir, { cred: root, at: { path: '/d/sub' } }),
    ]) {
      harness.clock.advance(1_000);
      await change();
      expect((await fs.stat('/d')).mtimeNs).toBe(harness.service.nowNs());
    }
    // lookup and batchStat show the same times as stat.
    const looked = await harness.call(m.lookup, { cred: root, parent: 1n, name: 'd' });
    expect(looked.inode.mtimeNs).toBe(harness.service.nowNs());
    const batch = await harness.call(m.batchStat, { cred: root, inos: [dir.ino] });
    expect(batch.inodes[0]?.mtimeNs).toBe(harness.service.nowNs());
    await expectConsistent(harness);
  });

  it('lets explicit times win until the entries change again', async () => {
    await fs.mkdir('/d');
    harness.clock.advance(1_000);
    await fs.create('/d/a');
    const set = await harness.call(m.setAttr, { cred: root, at: { path: '/d' }, mtime: 5n });
    expect(set.inode.mtimeNs).toBe(5n);
    expect((await fs.stat('/d')).mtimeNs).toBe(5n);
    harness.clock.advance(1_000);
    await fs.create('/d/b');
    expect((await fs.stat('/d')).mtimeNs).toBe(harness.service.nowNs());
  });

  it('go with the directory, and stray ones are reported', async () => {
    await fs.mkdir('/gone');
    await fs.create('/gone/f');
    await harness.call(m.removeRecursive, { cred: root, at: { path: '/gone' } });
    await expectConsistent(harness);
    await harness.kv.transact(async (tx) =>
      tx.set(
        keys.entryTimes(999n),
        encodeRecord(entryTimesRecordSchema, { format: 1, mtimeNs: 1n, ctimeNs: 1n }),
      ),
    );
    const report = await checkInvariants(harness.kv);
    expect(report.problems).toEqual(['entry times of inode 999 belong to no directory']);
  });
});
