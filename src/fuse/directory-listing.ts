/**
 * The listing of a directory the metadata cache holds whole: its names in a fixed order, and the
 * same names as readdir records, so a listing is answered with copies of bytes packed beforehand.
 * Names added to the directory are appended, to the names and (once packed) to the records, so a
 * directory filled through this mount is listed without packing anything then. A name removed or
 * replaced ends the listing (the cache builds a new one when asked), so an entry, once listed,
 * keeps its index, and its readdir offset `firstEntryCookie + index`, for the listing's life.
 */
import { typeBits } from './attributes.js';
import { firstEntryCookie } from './directory-handle.js';
import { PackedDirents } from './lowlevel/index.js';
import type { Inode, InodeId } from '../meta/protocol/index.js';

/** A name of a listing. */
export interface ListedName {
  readonly name: string;
  readonly ino: InodeId;
  readonly type: Inode['type'];
}

export class DirectoryListing {
  private packedValue: PackedDirents | undefined;
  /** Set when a name could not be packed: `packed` throws what packing it threw. */
  private packError: unknown;
  /** Told of every name appended (handles whose listing the FUSE binding answers from a copy). */
  private growListeners: Set<() => void> | undefined;

  /**
   * @param entries the names, owned by the listing from here on
   * @param packNow pack them now (an empty listing costs nothing to pack, and is then kept packed)
   */
  constructor(
    private readonly entriesValue: ListedName[],
    packNow: boolean,
  ) {
    if (packNow) this.packed();
  }

  /** The names, in listing order (entries are only ever appended). */
  get entries(): readonly ListedName[] {
    return this.entriesValue;
  }

  /** The names as readdir records, entry i with next offset `firstEntryCookie + i`. */
  packed(): PackedDirents {
    if (this.packError !== undefined) throw this.packError;
    if (this.packedValue === undefined) {
      this.packedValue = PackedDirents.pack(
        this.entriesValue.map((entry) => ({ name: entry.name, ino: entry.ino, mode: typeBits(entry.type) })),
        Number(firstEntryCookie),
      );
    }
    return this.packedValue;
  }

  /** Calls `listener` whenever a name is appended; returns what stops that. */
  onGrow(listener: () => void): () => void {
    const listeners = (this.growListeners ??= new Set());
    listeners.add(listener);
    return () => listeners.delete(listener);
  }

  /** Appends a name the directory gained. */
  add(entry: ListedName): void {
    if (this.growListeners !== undefined) for (const listener of [...this.growListeners]) listener();
    this.entriesValue.push(entry);
    if (this.packedValue === undefined || this.packError !== undefined) return;
    try {
      this.packedValue.push(entry.name, entry.ino, typeBits(entry.type));
    } catch (error) {
      // Records must match the entries one for one; a readdir reports this, as a fresh pack would.
      this.packError = error;
    }
  }
}
