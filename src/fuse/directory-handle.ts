/**
 * One open directory (opendir .. releasedir): its entries, read from meta page by page as the
 * kernel asks, each numbered with a cookie that is its readdir offset. Cookies 1 and 2 are "."
 * and ".."; entries count from 3 in the order meta lists them (by name). An entry keeps its cookie
 * for the handle's life, so a listing interrupted by unlinks (rm -r) neither skips nor repeats
 * names: later pages continue after the last name read, whatever happened before it.
 *
 * Entries the kernel consumed are dropped once the handle holds many; a rewind (offset 0) or a
 * seek before them starts the listing again from meta. The entries held always have consecutive
 * cookies, so finding where a readdir resumes costs the same for the first page and the last.
 *
 * A handle over a listing the daemon holds whole (directory-listing.ts) reads it in place instead:
 * entry i has cookie 3 + i, in the listing's order, and names appended to it while the handle is
 * open are read too.
 */
import { assert } from '../common/errors.js';
import type { DirectoryEntry, InodeId } from '../meta/protocol/index.js';
import type { DirectoryListing } from './directory-listing.js';

/** Entries one handle keeps before dropping those behind the kernel's position. */
const entriesKeptMax = 4_096;
/** The cookie of a directory's first entry (1 and 2 are "." and ".."). */
export const firstEntryCookie = 3n;

export interface NumberedEntry {
  readonly name: string;
  readonly ino: InodeId;
  readonly type: DirectoryEntry['type'];
  readonly cookie: bigint;
}

/** Reads one page after `cursor` (undefined: the first page). */
export type PageReader = (
  cursor: string | undefined,
) => Promise<{ entries: readonly DirectoryEntry[]; nextCursor: string | null }>;

export class DirectoryHandle {
  private entries: NumberedEntry[] = [];
  /** The cursor of the next page; null when the last page was read. */
  private nextCursor: string | null | undefined = undefined;
  private nextCookie = firstEntryCookie;

  constructor(
    readonly ino: InodeId,
    readonly parentIno: InodeId,
    private readonly readPage: PageReader,
    /**
     * The listing every page comes from, when the handle serves one held in memory: entry i of it
     * always has cookie 3 + i, however the handle is read.
     */
    readonly listed?: DirectoryListing,
  ) {}

  /** A handle over `listed`, a listing held in memory: one page of every entry. */
  static ofListing(ino: InodeId, parentIno: InodeId, listed: DirectoryListing): DirectoryHandle {
    return new DirectoryHandle(
      ino,
      parentIno,
      () => Promise.reject(new Error('not read page by page')),
      listed,
    );
  }

  /** Index in `listed` of the entry after cookie `offset` (the entry count when none follows). */
  static listedIndexAfter(offset: bigint, count: number): number {
    if (offset < firstEntryCookie) return 0;
    const index = offset - firstEntryCookie + 1n;
    return index >= BigInt(count) ? count : Number(index);
  }

  /**
   * Entries with cookies above `offset`, in order, loading pages as needed; at most `max` of them
   * (the kernel's buffer holds a page or so of entries).
   */
  async entriesAfter(offset: bigint, max: number): Promise<NumberedEntry[]> {
    assert(max >= 1, 'a readdir asks for at least one entry');
    if (this.listed !== undefined) return this.listedAfter(this.listed.entries, offset, max);
    const first = this.entries[0];
    // A rewind lists afresh; a seek to entries already dropped reads them again from meta.
    if (offset === 0n || (first !== undefined && first.cookie > offset + 1n)) this.restart();
    if (this.entries.length > entriesKeptMax) this.dropBefore(offset);
    for (;;) {
      // Cookies are consecutive from the first entry kept, so the entry after `offset` is found
      // by subtraction rather than by a search through the entries.
      const start = this.indexAfter(offset);
      if (this.entries.length - start >= max || this.nextCursor === null) {
        return this.entries.slice(start, start + max);
      }
      await this.loadPage();
    }
  }

  /** Entries of a listing held in memory, numbered by their index in it (none is copied ahead). */
  private listedAfter(listed: readonly DirectoryEntry[], offset: bigint, max: number): NumberedEntry[] {
    const from = DirectoryHandle.listedIndexAfter(offset, listed.length);
    const batch: NumberedEntry[] = [];
    for (let index = from; index < listed.length && index < from + max; index += 1) {
      const entry = listed[index] as DirectoryEntry;
      batch.push({
        name: entry.name,
        ino: entry.ino,
        type: entry.type,
        cookie: firstEntryCookie + BigInt(index),
      });
    }
    return batch;
  }

  /** Index of the first entry with a cookie above `offset` (the length when there is none yet). */
  private indexAfter(offset: bigint): number {
    const first = this.entries[0];
    if (first === undefined || offset < first.cookie) return 0;
    const index = Number(offset - first.cookie) + 1;
    return Math.min(index, this.entries.length);
  }

  /** Drops the entries the kernel has consumed (cookies up to `offset`). */
  private dropBefore(offset: bigint): void {
    this.entries = this.entries.slice(this.indexAfter(offset));
  }

  private async loadPage(): Promise<void> {
    const cursor = this.nextCursor === undefined ? undefined : (this.nextCursor ?? undefined);
    const page = await this.readPage(cursor);
    let cookie = this.nextCookie;
    for (const entry of page.entries) {
      // One object shape for every entry, whatever the page's objects carry besides.
      this.entries.push({ name: entry.name, ino: entry.ino, type: entry.type, cookie });
      cookie += 1n;
    }
    this.nextCookie = cookie;
    this.nextCursor = page.nextCursor;
  }

  private restart(): void {
    this.entries = [];
    this.nextCursor = undefined;
    this.nextCookie = firstEntryCookie;
  }
}
