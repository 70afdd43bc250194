/**
 * The FUSE daemon's metadata cache: names (parent, name → inode or "no such name") and inode
 * attributes, kept until meta's change log says they changed (change-poller.ts), so that lookups
 * and getattrs the kernel asks again (after its own cache expired or was dropped) are answered
 * without a round trip, and a directory whose every name is known answers "no such name" at once
 * (the lookup before every create).
 *
 * Why it stays correct:
 * - Changes made through this mount update the cache when meta answered them (the daemon calls
 *   `put*` / `forget*`), so they show at once.
 * - Changes of other clients arrive through the poller within its interval; `invalidateEntry` and
 *   `invalidateInode` drop what the cache (and, through the notifier, the kernel) holds of them.
 * - A meta answer that was in flight while such a change arrived may predate it: answers are
 *   cached only when no invalidation came between the request and its answer (`generation`).
 * - The kernel gets long timeouts only for what this cache tracks, and is told to forget whatever
 *   the cache drops (eviction, `clear`), so it never holds a name or attribute nobody invalidates.
 * - While the poller cannot vouch for freshness (`usable` false), nothing is answered from here.
 *
 * Bounded: `entriesMax` names and inodes in all; the least recently used directory (all its names)
 * or inode goes first.
 */
import { assert } from '../common/errors.js';
import type { Inode, InodeId } from '../meta/protocol/index.js';
import { DirectoryListing, type ListedName } from './directory-listing.js';

export type { ListedName } from './directory-listing.js';

/** Tells the kernel to forget a name or an inode's attributes (fire and forget). */
export interface KernelNotifier {
  entry(parent: InodeId, name: string): void;
  inode(ino: InodeId): void;
}

/** A name in a cached directory: its inode and type, or null for "no such name". */
export type CachedName = { readonly ino: InodeId; readonly type: Inode['type'] } | null;

interface DirectoryState {
  readonly names: Map<string, CachedName>;
  /** Every name the directory has is in `names` (absent names do not exist). */
  complete: boolean;
  /** The listing of a complete directory, kept up as names are added, dropped when one goes. */
  listed?: DirectoryListing | undefined;
}

/** What a lookup found in the cache. */
export type LookupHit =
  { readonly kind: 'found'; readonly inode: Inode } | { readonly kind: 'absent' } | undefined;

export class MetadataCache {
  private readonly inodes = new Map<InodeId, Inode>();
  private readonly directories = new Map<InodeId, DirectoryState>();
  private names = 0;
  /** Bumped by every invalidation from another client's change (see the file comment). */
  private generationValue = 0;
  private usableValue = false;

  constructor(private readonly options: { entriesMax: number; notifier: KernelNotifier }) {
    assert(Number.isInteger(options.entriesMax) && options.entriesMax >= 1, 'the cache holds something');
  }

  get generation(): number {
    return this.generationValue;
  }

  /** True while the poller vouches for the cache. */
  get usable(): boolean {
    return this.usableValue;
  }

  /** Called by the poller: it can vouch for freshness (or no longer, which drops everything). */
  setUsable(usable: boolean): void {
    if (this.usableValue && !usable) this.clear();
    // Answers asked for while the cache was not usable may predate the poller's positions.
    if (!this.usableValue && usable) this.generationValue += 1;
    this.usableValue = usable;
  }

  /** Sizes, for metrics and tests. */
  stats(): { inodes: number; names: number; directories: number } {
    return { inodes: this.inodes.size, names: this.names, directories: this.directories.size };
  }

  // --- answers --------------------------------------------------------------------------------

  lookup(parent: InodeId, name: string): LookupHit {
    if (!this.usableValue) return undefined;
    const directory = this.touchDirectory(parent);
    if (directory === undefined) return undefined;
    const cached = directory.names.get(name);
    if (cached === null) return { kind: 'absent' };
    if (cached === undefined) {
      if (!directory.complete) return undefined;
      // Remembered, so that dropping the directory tells the kernel to forget this answer too.
      directory.names.set(name, null);
      this.names += 1;
      this.evict();
      return { kind: 'absent' };
    }
    const inode = this.inode(cached.ino);
    return inode === undefined ? undefined : { kind: 'found', inode };
  }

  inode(ino: InodeId): Inode | undefined {
    if (!this.usableValue) return undefined;
    const inode = this.inodes.get(ino);
    if (inode === undefined) return undefined;
    // Most recently used last.
    this.inodes.delete(ino);
    this.inodes.set(ino, inode);
    return inode;
  }

  /** Every name of a directory whose names are all known; undefined otherwise. */
  listing(parent: InodeId): DirectoryListing | undefined {
    if (!this.usableValue) return undefined;
    const directory = this.touchDirectory(parent);
    if (directory === undefined || !directory.complete) return undefined;
    if (directory.listed === undefined) {
      const entries: ListedName[] = [];
      for (const [name, cached] of directory.names) {
        if (cached !== null) entries.push({ name, ino: cached.ino, type: cached.type });
      }
      directory.listed = new DirectoryListing(entries, false);
    }
    return directory.listed;
  }

  /** True when `name` is tracked (positively or negatively) or its directory is complete. */
  tracks(parent: InodeId, name: string): boolean {
    const directory = this.directories.get(parent);
    return directory !== undefined && (directory.complete || directory.names.has(name));
  }

  tracksInode(ino: InodeId): boolean {
    return this.inodes.has(ino);
  }

  // --- filling --------------------------------------------------------------------------------

  /** Caches an inode meta answered, unless an invalidation came since `since`. */
  putInode(inode: Inode, since: number = this.generationValue): boolean {
    if (!this.usableValue || since !== this.generationValue) return false;
    this.inodes.delete(inode.ino);
    this.inodes.set(inode.ino, inode);
    this.evict();
    return true;
  }

  /** Caches a name (null: it does not exist), unless an invalidation came since `since`. */
  putName(parent: InodeId, name: string, cached: CachedName, since: number = this.generationValue): boolean {
    if (!this.usableValue || since !== this.generationValue) return false;
    const directory = this.touchDirectory(parent) ?? this.newDirectory(parent, false);
    const before = directory.names.get(name);
    if (before === undefined) this.names += 1;
    if (before === undefined || before === null) {
      // A name the directory gains goes on the end of its listing.
      if (cached !== null) directory.listed?.add({ name, ino: cached.ino, type: cached.type });
    } else if (cached === null || cached.ino !== before.ino || cached.type !== before.type) {
      directory.listed = undefined;
    }
    directory.names.set(name, cached);
    this.evict();
    return true;
  }

  /** Caches a directory this mount just made: it has no names. */
  putEmptyDirectory(ino: InodeId): void {
    if (!this.usableValue) return;
    this.dropDirectory(ino, false);
    this.newDirectory(ino, true).listed = new DirectoryListing([], true);
  }

  /** Caches every name of a directory, read whole with no invalidation since `since`. */
  putListing(
    parent: InodeId,
    entries: ReadonlyArray<{ name: string; ino: InodeId; type: Inode['type'] }>,
    since: number,
  ): boolean {
    if (!this.usableValue || since !== this.generationValue) return false;
    if (entries.length > this.options.entriesMax / 2) return false;
    this.dropDirectory(parent, false);
    const directory = this.newDirectory(parent, true);
    for (const entry of entries) directory.names.set(entry.name, { ino: entry.ino, type: entry.type });
    this.names += entries.length;
    this.evict();
    return true;
  }

  /**
   * A change made here set directory `ino`'s mtime and ctime to `atNs` (meta's time, from its
   * answer) and changed its link count by `nlinkDelta`: the cached attributes follow.
   */
  directoryChanged(ino: InodeId, atNs: bigint, nlinkDelta: number): void {
    const cached = this.inodes.get(ino);
    if (cached === undefined) return;
    if (cached.type !== 'directory' || cached.nlink + nlinkDelta < 0) {
      this.inodes.delete(ino);
      return;
    }
    const later = (time: bigint) => (atNs > time ? atNs : time);
    this.inodes.set(ino, {
      ...cached,
      mtimeNs: later(cached.mtimeNs),
      ctimeNs: later(cached.ctimeNs),
      nlink: cached.nlink + nlinkDelta,
    });
  }

  // --- forgetting -----------------------------------------------------------------------------

  /** Drops an inode's cached attributes (changed through this mount in a way not worth tracking). */
  forgetInode(ino: InodeId): void {
    this.inodes.delete(ino);
  }

  /**
   * This mount changed the inode in a way the kernel invalidates on its own (an extended attribute
   * or ACL): drop its attributes, and any answer read before the change and arriving after it,
   * without notifying the kernel. A notification would be worse than useless: one arriving while
   * the kernel's own refresh is in flight makes it discard the fresh attributes and decide a
   * permission check on the old mode.
   */
  changedHere(ino: InodeId): void {
    this.generationValue += 1;
    this.inodes.delete(ino);
  }

  /** A name whose state is unknown after a change made here failed: drop it, like another client's. */
  forgetName(parent: InodeId, name: string): void {
    const directory = this.directories.get(parent);
    if (directory === undefined) return;
    if (directory.names.delete(name)) this.names -= 1;
    directory.complete = false;
    directory.listed = undefined;
    this.options.notifier.entry(parent, name);
  }

  /** Another client changed the name: drop it, and no longer trust the directory to be complete. */
  invalidateEntry(parent: InodeId, name: string): void {
    this.generationValue += 1;
    const directory = this.directories.get(parent);
    if (directory !== undefined) {
      if (directory.names.delete(name)) this.names -= 1;
      directory.complete = false;
      directory.listed = undefined;
    }
    this.options.notifier.entry(parent, name);
  }

  /** Another client changed the inode: drop its attributes. */
  invalidateInode(ino: InodeId): void {
    this.generationValue += 1;
    this.inodes.delete(ino);
    this.options.notifier.inode(ino);
  }

  /** Drops everything, and tells the kernel to forget everything it got from here. */
  clear(): void {
    this.generationValue += 1;
    for (const parent of [...this.directories.keys()]) this.dropDirectory(parent, true);
    for (const ino of this.inodes.keys()) this.options.notifier.inode(ino);
    this.inodes.clear();
    assert(this.names === 0, 'clearing every directory drops every name');
  }

  private touchDirectory(parent: InodeId): DirectoryState | undefined {
    const directory = this.directories.get(parent);
    if (directory === undefined) return undefined;
    this.directories.delete(parent);
    this.directories.set(parent, directory);
    return directory;
  }

  private newDirectory(parent: InodeId, complete: boolean): DirectoryState {
    const directory: DirectoryState = { names: new Map(), complete };
    this.directories.set(parent, directory);
    return directory;
  }

  private dropDirectory(parent: InodeId, notify: boolean): void {
    const directory = this.directories.get(parent);
    if (directory === undefined) return;
    this.directories.delete(parent);
    this.names -= directory.names.size;
    if (!notify) return;
    for (const name of directory.names.keys()) this.options.notifier.entry(parent, name);
  }

  private evict(): void {
    while (this.names + this.inodes.size > this.options.entriesMax) {
      const oldestDirectory = this.directories.keys().next();
      if (!oldestDirectory.done && this.names > this.inodes.size) {
        this.dropDirectory(oldestDirectory.value, true);
        continue;
      }
      const oldestInode = this.inodes.keys().next();
      if (oldestInode.done) return;
      this.inodes.delete(oldestInode.value);
      this.options.notifier.inode(oldestInode.value);
    }
  }
}
