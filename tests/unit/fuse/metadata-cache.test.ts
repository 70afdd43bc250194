// The FUSE daemon's metadata cache and the poller that keeps it fresh: answers from what meta said,
// nothing cached from an answer that raced another client's change, the kernel told to forget
// whatever the cache drops, own changes skipped, and the whole cache dropped when a meta service
// starts over, leaves, or cannot be polled in time.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/common/clock.js';
import { silentLogger } from '../../../src/common/logger.js';
import { ChangePoller, type ChangeSource } from '../../../src/fuse/change-poller.js';
import { MetadataCache } from '../../../src/fuse/metadata-cache.js';
import type { ChangeItem, Inode } from '../../../src/meta/protocol/index.js';

function file(ino: bigint): Inode {
  return {
    ino,
    type: 'file',
    mode: 0o644,
    uid: 0,
    gid: 0,
    nlink: 1,
    parent: 1n,
    atimeNs: 0n,
    mtimeNs: 0n,
    ctimeNs: 0n,
    length: 0n,
    truncateVersion: 0,
    layout: {
      chainTableId: 1,
      chainTableVersion: 1,
      chunkSizeBytes: 1 << 20,
      stripeSize: 1,
      chains: [1],
      seed: 0,
    },
  } as unknown as Inode;
}

function cacheWithNotes(entriesMax = 1_000) {
  const notes: string[] = [];
  const cache = new MetadataCache({
    entriesMax,
    notifier: {
      entry: (parent, name) => notes.push(`entry ${parent}/${name}`),
      inode: (ino) => notes.push(`inode ${ino}`),
    },
  });
  cache.setUsable(true);
  return { cache, notes };
}

describe('MetadataCache', () => {
  it('answers names, absent names and attributes it was given', () => {
    const { cache } = cacheWithNotes();
    expect(cache.lookup(1n, 'a')).toBeUndefined();
    expect(cache.putName(1n, 'a', { ino: 5n, type: 'file' })).toBe(true);
    expect(cache.lookup(1n, 'a')).toBeUndefined(); // the name, but not the inode's attributes
    cache.putInode(file(5n));
    expect(cache.lookup(1n, 'a')).toMatchObject({ kind: 'found', inode: { ino: 5n } });
    cache.putName(1n, 'gone', null);
    expect(cache.lookup(1n, 'gone')).toEqual({ kind: 'absent' });
    // Not complete: an unknown name is a miss, not an absence.
    expect(cache.lookup(1n, 'other')).toBeUndefined();
  });

  it('a directory made here or listed whole answers every unknown name as absent', () => {
    const { cache } = cacheWithNotes();
    cache.putEmptyDirectory(7n);
    expect(cache.lookup(7n, 'x')).toEqual({ kind: 'absent' });
    // Made here: its listing is kept packed from the start, so names created are packed as made.
    const made = cache.listing(7n);
    cache.putName(7n, 'x', { ino: 12n, type: 'directory' });
    expect(made?.packed().count).toBe(1);
    expect(cache.listing(7n)).toBe(made);
    expect(cache.putListing(8n, [{ name: 'b', ino: 9n, type: 'file' }], cache.generation)).toBe(true);
    expect(cache.lookup(8n, 'a')).toEqual({ kind: 'absent' });
    expect(cache.listing(8n)?.entries).toEqual([{ name: 'b', ino: 9n, type: 'file' }]);
  });

  it('keeps a complete listing up to date as names come and go', () => {
    const { cache } = cacheWithNotes();
    cache.putListing(8n, [{ name: 'b', ino: 9n, type: 'file' }], cache.generation);
    const first = cache.listing(8n);
    expect(cache.listing(8n)).toBe(first); // kept, not rebuilt
    expect(first?.packed().count).toBe(1);
    cache.putName(8n, 'a', { ino: 10n, type: 'file' });
    // A name gained goes on the end of the same listing, and of its records.
    expect(cache.listing(8n)).toBe(first);
    expect(first?.entries.map((entry) => entry.name)).toEqual(['b', 'a']);
    expect(first?.packed().count).toBe(2);
    cache.lookup(8n, 'missing'); // remembered as absent: the listing stays
    cache.putName(8n, 'a', { ino: 10n, type: 'file' }); // the same answer again: it stays too
    expect(cache.listing(8n)).toBe(first);
    cache.putName(8n, 'a', { ino: 11n, type: 'file' }); // replaced: a new listing
    const second = cache.listing(8n);
    expect(second).not.toBe(first);
    expect(second?.entries).toEqual([
      { name: 'b', ino: 9n, type: 'file' },
      { name: 'a', ino: 11n, type: 'file' },
    ]);
    cache.putName(8n, 'b', null);
    expect(cache.listing(8n)?.entries.map((entry) => entry.name)).toEqual(['a']);
    cache.invalidateEntry(8n, 'c');
    expect(cache.listing(8n)).toBeUndefined();
  });

  it('caches nothing from an answer that raced another client change', () => {
    const { cache } = cacheWithNotes();
    const since = cache.generation;
    cache.invalidateEntry(1n, 'elsewhere');
    expect(cache.putName(1n, 'a', { ino: 5n, type: 'file' }, since)).toBe(false);
    expect(cache.putInode(file(5n), since)).toBe(false);
    expect(cache.putListing(1n, [], since)).toBe(false);
    expect(cache.lookup(1n, 'a')).toBeUndefined();
  });

  it("another client's change drops the name, the directory's completeness, and the kernel's copy", () => {
    const { cache, notes } = cacheWithNotes();
    cache.putEmptyDirectory(7n);
    cache.putName(7n, 'f', { ino: 5n, type: 'file' });
    cache.putInode(file(5n));
    cache.invalidateEntry(7n, 'g');
    expect(cache.lookup(7n, 'x')).toBeUndefined();
    cache.invalidateInode(5n);
    expect(cache.inode(5n)).toBeUndefined();
    expect(notes).toEqual(['entry 7/g', 'inode 5']);
  });

  it('evicts the least recently used and tells the kernel to forget it', () => {
    const { cache, notes } = cacheWithNotes(4);
    cache.putName(1n, 'a', null);
    cache.putName(2n, 'b', null);
    cache.putName(1n, 'c', null);
    cache.putName(3n, 'd', null);
    cache.putName(3n, 'e', null);
    // Directory 2 was used least recently: it goes first, with a note to the kernel.
    expect(notes).toEqual(['entry 2/b']);
    expect(cache.stats().names).toBe(4);
  });

  it('clear and a poller that can no longer vouch drop everything and tell the kernel', () => {
    const { cache, notes } = cacheWithNotes();
    cache.putName(1n, 'a', { ino: 5n, type: 'file' });
    cache.putInode(file(5n));
    cache.setUsable(false);
    expect(notes.sort()).toEqual(['entry 1/a', 'inode 5']);
    expect(cache.stats()).toEqual({ inodes: 0, names: 0, directories: 0 });
    expect(cache.putName(1n, 'a', null)).toBe(false);
    expect(cache.lookup(1n, 'a')).toBeUndefined();
  });
});

/** A meta service's change log as the poller sees it. */
class FakeSource implements ChangeSource {
  readonly services = new Map<string, { epoch: string; items: ChangeItem[]; down: boolean }>();

  addresses(): string[] {
    return [...this.services.keys()];
  }

  async poll(address: string, request: { epoch?: string; after: number; limit: number }) {
    const service = this.services.get(address);
    if (service === undefined || service.down) throw new Error(`${address} is down`);
    const last = service.items.length;
    if (request.epoch !== service.epoch || request.after > last) {
      return { epoch: service.epoch, last, items: [], reset: true, more: false };
    }
    const items = service.items.slice(request.after, request.after + request.limit);
    const end = request.after + items.length;
    return { epoch: service.epoch, last: end, items, reset: false, more: end < last };
  }
}

function poller(source: FakeSource, clock: ManualClock) {
  const { cache, notes } = cacheWithNotes();
  cache.setUsable(false);
  const changePoller = new ChangePoller({
    cache,
    source,
    clientId: 'me',
    clock,
    logger: silentLogger(),
    intervalMs: 500,
    staleMs: 2_000,
  });
  return { cache, notes, changePoller };
}

describe('ChangePoller', () => {
  it('makes the cache usable once every service has a position, then applies other clients changes', async () => {
    const source = new FakeSource();
    source.services.set('m1', { epoch: 'e1', items: [], down: false });
    source.services.set('m2', { epoch: 'e2', items: [], down: false });
    const clock = new ManualClock();
    const { cache, notes, changePoller } = poller(source, clock);
    await changePoller.pollOnce();
    expect(cache.usable).toBe(true);
    cache.putName(1n, 'mine', { ino: 5n, type: 'file' });
    cache.putInode(file(5n));
    source.services.get('m1')?.items.push({ kind: 'entry', parent: 1n, name: 'mine', origin: 'me' });
    source.services.get('m2')?.items.push({ kind: 'entry', parent: 1n, name: 'theirs', origin: 'other' });
    source.services.get('m2')?.items.push({ kind: 'inode', ino: 5n });
    await changePoller.pollOnce();
    expect(notes).toEqual(['entry 1/theirs', 'inode 5']);
    // Its own change was skipped: the name is still cached.
    expect(cache.lookup(1n, 'mine')).toBeUndefined(); // the inode's attributes were dropped
    expect(cache.tracks(1n, 'mine')).toBe(true);
  });

  it('drops the cache when a service starts over, leaves, or cannot be polled in time', async () => {
    const source = new FakeSource();
    source.services.set('m1', { epoch: 'e1', items: [], down: false });
    const clock = new ManualClock();
    const { cache, changePoller } = poller(source, clock);
    await changePoller.pollOnce();
    expect(cache.usable).toBe(true);

    // A restart: what was cached is dropped, and the new position makes the empty cache usable.
    cache.putName(1n, 'a', null);
    source.services.set('m1', { epoch: 'e1-restarted', items: [], down: false });
    await changePoller.pollOnce();
    expect(cache.stats().names).toBe(0);
    expect(cache.usable).toBe(true);

    (source.services.get('m1') as { down: boolean }).down = true;
    clock.advance(1_000);
    await changePoller.pollOnce();
    expect(cache.usable).toBe(true); // not stale yet
    clock.advance(1_500);
    await changePoller.pollOnce();
    expect(cache.usable).toBe(false);
    (source.services.get('m1') as { down: boolean }).down = false;
    await changePoller.pollOnce();
    expect(cache.usable).toBe(true);

    source.services.set('m2', { epoch: 'e2', items: [], down: false });
    await changePoller.pollOnce();
    expect(cache.usable).toBe(true); // a new service joined: its position is taken, nothing missed
    cache.putName(1n, 'b', null);
    source.services.delete('m2');
    await changePoller.pollOnce();
    expect(cache.stats().names).toBe(0);
  });

  it('an "all" change drops everything', async () => {
    const source = new FakeSource();
    source.services.set('m1', { epoch: 'e1', items: [], down: false });
    const { cache, changePoller } = poller(source, new ManualClock());
    await changePoller.pollOnce();
    cache.putName(1n, 'a', null);
    source.services.get('m1')?.items.push({ kind: 'all', origin: 'other' });
    await changePoller.pollOnce();
    expect(cache.stats().names).toBe(0);
  });
});
