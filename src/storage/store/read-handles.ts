/**
 * Open read-only handles of data files, reused across reads and bounded in number (least recently
 * used first out). A dropped handle is closed once the reads using it are done; a read that asks
 * for a dropped path opens the file again.
 *
 * Invariants: a path has at most one cached handle; a handle is closed exactly once, never while a
 * read holds it; the owner drops a path when its file is unlinked or created anew, so a cached
 * handle always refers to the file that currently has that name.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { assert } from '../../common/errors.js';

interface Entry {
  readonly opening: Promise<FileHandle>;
  users: number;
  dropped: boolean;
}

/** A handle lent to one read; `release` gives it back (exactly once). */
export interface LentHandle {
  readonly handle: FileHandle;
  readonly release: () => void;
}

export class ReadHandles {
  /** In least recently used order: a Map iterates in insertion order. */
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly max: number) {
    assert(Number.isInteger(max) && max >= 1, 'at least one read handle is cached');
  }

  /** The handle of `path`, opened now unless cached; rejects as `open` does (ENOENT, …). */
  async acquire(path: string): Promise<LentHandle> {
    let entry = this.entries.get(path);
    if (entry === undefined) {
      entry = { opening: open(path, 'r'), users: 0, dropped: false };
      this.entries.set(path, entry);
      this.trim();
    } else {
      this.entries.delete(path);
      this.entries.set(path, entry);
    }
    entry.users += 1;
    let handle: FileHandle;
    try {
      handle = await entry.opening;
    } catch (error) {
      entry.users -= 1;
      if (this.entries.get(path) === entry) this.entries.delete(path);
      throw error;
    }
    const lent = entry;
    let released = false;
    return {
      handle,
      release: () => {
        assert(!released, 'a read handle is released once');
        released = true;
        lent.users -= 1;
        assert(lent.users >= 0, 'read handle users stay non-negative');
        if (lent.dropped && lent.users === 0) closeQuietly(lent);
      },
    };
  }

  /** Forgets the handle of `path`; it is closed once no read holds it. */
  drop(path: string): void {
    const entry = this.entries.get(path);
    if (entry === undefined) return;
    this.entries.delete(path);
    entry.dropped = true;
    if (entry.users === 0) closeQuietly(entry);
  }

  /** Forgets every handle (closing the store). */
  dropAll(): void {
    for (const path of [...this.entries.keys()]) this.drop(path);
  }

  /** Handles cached right now (for tests). */
  get size(): number {
    return this.entries.size;
  }

  private trim(): void {
    while (this.entries.size > this.max) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) return;
      this.drop(oldest);
    }
  }
}

/** Closes an entry's handle once it has opened; a failed open or close leaves nothing to do. */
function closeQuietly(entry: Entry): void {
  entry.opening.then(
    (handle) => handle.close().catch(() => undefined),
    () => undefined,
  );
}
