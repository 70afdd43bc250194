// The change log clients poll to keep their metadata caches fresh: what each committed mutation
// changed (entries and inodes, with the client that made it), in order, bounded, and a reset for a
// position the log does not hold (another life of the service, or fallen out of the ring).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { seededRandom } from '../../../src/common/random.js';
import { ChangeLog, ChangeSet, originOf } from '../../../src/meta/change-log.js';
import { formatRequestId, metaMethods as m, type ChangeItem } from '../../../src/meta/protocol/index.js';
import { fsOf, openHarness, root, type Harness } from './meta-harness.js';

function set(entries: Array<[bigint, string]>, inodes: bigint[] = []): ChangeSet {
  const changes = new ChangeSet();
  for (const [parent, name] of entries) changes.entry(parent, name);
  for (const ino of inodes) changes.inode(ino);
  return changes;
}

describe('ChangeLog', () => {
  it('returns the items after a position in order, page by page', () => {
    const log = new ChangeLog({ startMs: 1, random: seededRandom(1) }, 100);
    log.record(set([[1n, 'a']], [5n]), 'c1');
    log.record(set([[1n, 'b']]), undefined);
    const first = log.since(log.epoch, 0, 2);
    expect(first).toMatchObject({ last: 2, reset: false, more: true });
    expect(first.items).toEqual([
      { kind: 'entry', parent: 1n, name: 'a', origin: 'c1' },
      { kind: 'inode', ino: 5n, origin: 'c1' },
    ]);
    const second = log.since(log.epoch, first.last, 10);
    expect(second).toMatchObject({ last: 3, reset: false, more: false });
    expect(second.items).toEqual([{ kind: 'entry', parent: 1n, name: 'b' }]);
    expect(log.since(log.epoch, 3, 10)).toMatchObject({ last: 3, items: [], reset: false, more: false });
  });

  it('answers a reset for another epoch, a future position, or one the ring no longer holds', () => {
    const log = new ChangeLog({ startMs: 1, random: seededRandom(1) }, 4);
    for (let index = 0; index < 10; index++) log.record(set([[1n, `f${index}`]]), undefined);
    expect(log.since('other', 0, 10)).toMatchObject({ reset: true, last: 10, items: [] });
    expect(log.since(undefined, 0, 10)).toMatchObject({ reset: true, last: 10 });
    expect(log.since(log.epoch, 11, 10)).toMatchObject({ reset: true, last: 10 });
    // Items 7..10 are held: position 6 is the oldest one can continue from.
    expect(log.since(log.epoch, 5, 10)).toMatchObject({ reset: true });
    const held = log.since(log.epoch, 6, 10);
    expect(held.reset).toBe(false);
    expect(held.items.map((item) => (item.kind === 'entry' ? item.name : item.kind))).toEqual([
      'f6',
      'f7',
      'f8',
      'f9',
    ]);
  });

  it('says "all" for a transaction that changed more than a set lists', () => {
    const log = new ChangeLog({ startMs: 1, random: seededRandom(1) });
    const changes = new ChangeSet();
    for (let index = 0; index < 1_000; index++) changes.entry(1n, `f${index}`);
    expect(changes.overflowed).toBe(true);
    log.record(changes, 'c9');
    expect(log.since(log.epoch, 0, 10).items).toEqual([{ kind: 'all', origin: 'c9' }]);
  });

  it('reads the client id out of a request id', () => {
    expect(originOf(formatRequestId(1_700_000_000_000, 'fuse-host.a-1', 42))).toBe('fuse-host.a-1');
    expect(originOf(undefined)).toBeUndefined();
  });

  it('two lives of a service have different epochs', () => {
    const a = new ChangeLog({ startMs: 1_000, random: seededRandom(1) });
    const b = new ChangeLog({ startMs: 2_000, random: seededRandom(1) });
    expect(a.epoch).not.toBe(b.epoch);
  });
});

describe('the meta service records what each mutation changed', () => {
  let harness: Harness;
  beforeEach(async () => {
    harness = await openHarness();
  });
  afterEach(async () => harness.close());

  async function changesAfter(after: number): Promise<{ items: ChangeItem[]; last: number }> {
    const epoch = harness.service.changeLog.epoch;
    return harness.call(m.changes, { epoch, after, limit: 1_000 });
  }

  it('lists the entries and inodes of creates, renames and removes, with their origin', async () => {
    const fs = fsOf(harness);
    const start = harness.service.changeLog.lastSequence;
    const dir = await fs.mkdir('/d');
    const requestId = formatRequestId(harness.clock.nowMs(), 'client-7', 1);
    const { inode: file } = await harness.call(m.create, {
      cred: root,
      at: { parent: dir.ino, path: 'f' },
      mode: 0o644,
      write: false,
      requestId,
    });
    const created = await changesAfter(start);
    expect(created.items).toContainEqual({ kind: 'entry', parent: 1n, name: 'd' });
    expect(created.items).toContainEqual({ kind: 'entry', parent: dir.ino, name: 'f', origin: 'client-7' });
    expect(created.items).toContainEqual({ kind: 'inode', ino: file.ino, origin: 'client-7' });
    // The directory's times changed: its inode is listed too.
    expect(created.items).toContainEqual({ kind: 'inode', ino: dir.ino, origin: 'client-7' });

    await fs.rename('/d/f', '/d/g');
    const renamed = await changesAfter(created.last);
    expect(renamed.items).toContainEqual({ kind: 'entry', parent: dir.ino, name: 'f' });
    expect(renamed.items).toContainEqual({ kind: 'entry', parent: dir.ino, name: 'g' });

    await fs.unlink('/d/g');
    const removed = await changesAfter(renamed.last);
    expect(removed.items).toContainEqual({ kind: 'entry', parent: dir.ino, name: 'g' });
    expect(removed.items).toContainEqual({ kind: 'inode', ino: file.ino });

    // Reads change nothing.
    await fs.stat('/d');
    expect((await changesAfter(removed.last)).items).toEqual([]);
  });

  it('lists an idempotent mutation with the client it names as origin', async () => {
    expect(m.takesOrigin(m.setAttr)).toBe(true);
    expect(m.takesOrigin(m.close)).toBe(true);
    expect(m.takesOrigin(m.stat)).toBe(false);
    expect(m.takesOrigin(m.create)).toBe(false);
    const file = await fsOf(harness).create('/chmod-me');
    const start = harness.service.changeLog.lastSequence;
    await harness.call(m.setAttr, {
      cred: root,
      at: { parent: file.ino, path: '' },
      mode: 0o600,
      origin: 'client-9',
    });
    expect((await changesAfter(start)).items).toEqual([{ kind: 'inode', ino: file.ino, origin: 'client-9' }]);
    await expect(
      harness.call(m.setAttr, {
        cred: root,
        at: { parent: file.ino, path: '' },
        mode: 0o644,
        origin: 'no spaces',
      }),
    ).rejects.toThrow(/origin/);
  });

  it('a retried request answered from its record is not listed again', async () => {
    const request = {
      cred: root,
      at: { parent: 1n, path: 'once' },
      mode: 0o644,
      write: false,
      requestId: formatRequestId(harness.clock.nowMs(), 'client-8', 1),
    };
    await harness.call(m.create, request);
    const after = harness.service.changeLog.lastSequence;
    await harness.call(m.create, request);
    expect(harness.service.changeLog.lastSequence).toBe(after);
  });
});
