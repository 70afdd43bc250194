// Proves directory listings by cookie: entries keep their offsets across pages (consecutive, found without a search in listings of thousands), a listing resumes after any offset without skipping or repeating names even when entries vanish meanwhile, and a rewind lists afresh.
import { describe, expect, it } from 'vitest';
import { DirectoryHandle } from '../../../src/fuse/directory-handle.js';
import type { DirectoryEntry } from '../../../src/meta/protocol/index.js';

/** A directory whose pages of `pageSize` come after a name cursor, as meta's readDir does. */
function pagedDirectory(names: string[], pageSize: number) {
  const current = new Set(names);
  let pages = 0;
  const readPage = async (cursor: string | undefined) => {
    pages += 1;
    const sorted = [...current].sort();
    const after = cursor === undefined ? sorted : sorted.filter((name) => name > cursor);
    const page = after.slice(0, pageSize);
    const entries: DirectoryEntry[] = page.map((name) => ({
      name,
      ino: BigInt(name.length + 100),
      type: 'file',
    }));
    return { entries, nextCursor: after.length > pageSize ? (page[page.length - 1] ?? null) : null };
  };
  return { readPage, remove: (name: string) => current.delete(name), pages: () => pages };
}

const names = Array.from({ length: 25 }, (_, index) => `n${String(index).padStart(2, '0')}`);

describe('DirectoryHandle', () => {
  it('lists every entry once, page by page, with cookies from 3 on', async () => {
    const directory = pagedDirectory(names, 10);
    const handle = new DirectoryHandle(5n, 1n, directory.readPage);
    const seen: string[] = [];
    let offset = 0n;
    for (;;) {
      const batch = await handle.entriesAfter(offset, 7);
      if (batch.length === 0) break;
      seen.push(...batch.map((entry) => entry.name));
      offset = batch[batch.length - 1]!.cookie;
    }
    expect(seen).toEqual(names);
    expect(offset).toBe(27n);
    expect(directory.pages()).toBe(3);
  });

  it('neither skips nor repeats names when entries are removed during the listing (rm -r)', async () => {
    const directory = pagedDirectory(names, 4);
    const handle = new DirectoryHandle(5n, 1n, directory.readPage);
    const seen: string[] = [];
    let offset = 0n;
    for (;;) {
      const batch = await handle.entriesAfter(offset, 3);
      if (batch.length === 0) break;
      for (const entry of batch) {
        seen.push(entry.name);
        directory.remove(entry.name);
      }
      offset = batch[batch.length - 1]!.cookie;
    }
    expect(seen).toEqual(names);
  });

  it('resumes after an offset it already handed out, and lists afresh after a rewind', async () => {
    const directory = pagedDirectory(names, 10);
    const handle = new DirectoryHandle(5n, 1n, directory.readPage);
    const first = await handle.entriesAfter(0n, 5);
    const again = await handle.entriesAfter(first[2]!.cookie, 2);
    expect(again.map((entry) => entry.name)).toEqual([names[3], names[4]]);
    directory.remove('n00');
    const rewound = await handle.entriesAfter(0n, 2);
    expect(rewound.map((entry) => entry.name)).toEqual(['n01', 'n02']);
    expect(rewound[0]!.cookie).toBe(3n);
  });
  it('lists 10,000 entries in order past the entries it keeps, and rereads entries it dropped on a seek back', async () => {
    const many = Array.from({ length: 10_000 }, (_, index) => `m${String(index).padStart(5, '0')}`);
    const directory = pagedDirectory(many, 1_000);
    const handle = new DirectoryHandle(5n, 1n, directory.readPage);
    const seen: string[] = [];
    let offset = 0n;
    for (;;) {
      const batch = await handle.entriesAfter(offset, 128);
      if (batch.length === 0) break;
      const after = offset === 0n ? 2n : offset; // cookies 1 and 2 are "." and ".."
      batch.forEach((entry, index) => expect(entry.cookie).toBe(after + BigInt(index) + 1n));
      seen.push(...batch.map((entry) => entry.name));
      offset = batch[batch.length - 1]!.cookie;
    }
    expect(seen).toEqual(many);
    const pagesRead = directory.pages();
    const back = await handle.entriesAfter(10n, 2);
    expect(back.map((entry) => [entry.name, entry.cookie])).toEqual([
      [many[8], 11n],
      [many[9], 12n],
    ]);
    expect(directory.pages()).toBeGreaterThan(pagesRead);
  });
});
