/**
 * One open directory (opendir .. releasedir): its entries, read from meta page by page as the
 * kernel asks, each numbered with a cookie that is its readdir offset. Cookies 1 and 2 are "."
 * and ".."; entries count from 3 in the order meta lists them (by name). An entry keeps its cookie
 * for the handle's life, so a listing interrupted by unlinks (rm -r) neither skips nor repeats
 * names: later pages continue after the last name read, whatever happened before it.
 *
 * Entries the kernel consumed are dropped once the handle holds many; a rewind (offset 0) or a
 * seek before them starts the listing again from meta.
 */
import { assert } from '../common/errors.js';
import type { DirectoryEntry, InodeId } from '../meta/protocol/index.js';

/** Entries one handle keeps before dropping those behind the kernel's position. */
const entriesKeptMax = 4_096;
const firstEntryCookie = 3n;

export interface NumberedEntry extends DirectoryEntry {
  readonly cookie: bigint;
}

/** Reads one page after `cursor` (undefined: the first page). */
export type PageReader = (
  cursor: string | undefined,
) => Promise<{ entries: DirectoryEntry[]; nextCursor: string | null }>;

export class DirectoryHandle {
  private entries: NumberedEntry[] = [];
  /** The cursor of the next page; null when the last page was read. */
  private nextCursor: string | null | undefined = undefined;
  private nextCookie = firstEntryCookie;

  constructor(
    readonly ino: InodeId,
    readonly parentIno: InodeId,
    private readonly readPage: PageReader,
  ) {}

  /**
   * Entries with cookies above `offset`, in order, loading pages as needed; at most `max` of them
   * (the kernel's buffer holds a page or so of entries).
   */
  async entriesAfter(offset: bigint, max: number): Promise<NumberedEntry[]> {
    assert(max >= 1, 'a readdir asks for at least one entry');
    const first = this.entries[0];
    // A rewind lists afresh; a seek to entries already dropped reads them again from meta.
    if (offset === 0n || (first !== undefined && first.cookie > offset + 1n)) this.restart();
    if (this.entries.length > entriesKeptMax) {
      this.entries = this.entries.filter((entry) => entry.cookie > offset);
    }
    const result: NumberedEntry[] = [];
    let index = this.entries.findIndex((entry) => entry.cookie > offset);
    if (index < 0) index = this.entries.length;
    for (;;) {
      while (index < this.entries.length && result.length < max) {
        const entry = this.entries[index++] as NumberedEntry;
        if (entry.cookie > offset) result.push(entry);
      }
      if (result.length >= max || this.nextCursor === null) return result;
      await this.loadPage();
    }
  }

  private async loadPage(): Promise<void> {
    const cursor = this.nextCursor === undefined ? undefined : (this.nextCursor ?? undefined);
    const page = await this.readPage(cursor);
    for (const entry of page.entries) {
      this.entries.push({ ...entry, cookie: this.nextCookie });
      this.nextCookie += 1n;
    }
    this.nextCursor = page.nextCursor;
  }

  private restart(): void {
    this.entries = [];
    this.nextCursor = undefined;
    this.nextCookie = firstEntryCookie;
  }
}
