/**
 * The keys of a bucket's tree in S3's order, read lazily directory by directory.
 *
 * S3 orders keys by their UTF-8 bytes. A directory d of a tree holds the keys "d/…", so among its
 * siblings it sorts as "d/" (after "d-x" and "d.txt", whose bytes after "d" are below "/", and
 * before "d0"), while meta lists a directory's entries by name. Each directory is therefore read
 * in name order with the directories held back in a small sorted list until the first entry that
 * sorts after them comes (or the directory ends).
 *
 * A walk may start after a key (start-after, a continuation): in each directory on that key's
 * path it reads from the key's component on (meta's cursor), and looks up the few names that sort
 * before the component by name but after it as directories (its prefixes followed by a byte
 * below "/"), so that no page re-reads what earlier pages covered.
 *
 * Files are objects; an empty directory other than the bucket is the object "dir/" (what a
 * key ending in "/" made); symbolic links and special files are no objects and are skipped, and
 * so is a directory below the listed one that the caller may not read (the listed one is refused).
 */
import type { Credentials, DirectoryEntry, InodeId } from '../client/index.js';
import { hasCode } from '../common/errors.js';
import { limits } from '../common/limits.js';
import { MetaCode } from '../common/status-code.js';
import { compareKeys } from './names.js';
import type { ObjectFs } from './object-fs.js';

/** What a walk yields: a file or an empty directory ("key/"), or a directory reported whole. */
export type WalkItem =
  | { readonly kind: 'object'; readonly key: string; readonly ino: InodeId; readonly directory: boolean }
  | { readonly kind: 'prefix'; readonly prefix: string; readonly ino: InodeId };

/** Where a walk starts: keys after `key` (or from it, when inclusive); with `skipPrefix`, after every key it prefixes. */
export interface WalkBound {
  readonly key: string;
  readonly inclusive: boolean;
  readonly skipPrefix: boolean;
}

export interface WalkOptions {
  readonly fs: ObjectFs;
  readonly cred: Credentials;
  /** Report directories below the base as prefixes instead of descending (delimiter "/"). */
  readonly directoriesAsPrefixes: boolean;
}

interface Entry {
  readonly name: string;
  readonly ino: InodeId;
  readonly type: DirectoryEntry['type'];
  /** The name, with "/" after a directory's. */
  readonly sortKey: string;
}

function entryOf(entry: DirectoryEntry): Entry {
  return { ...entry, sortKey: entry.type === 'directory' ? `${entry.name}/` : entry.name };
}

/** Whether `name` may be sent to meta as a name (a cursor or a lookup). */
function isName(name: string): boolean {
  return (
    name !== '' &&
    name !== '.' &&
    name !== '..' &&
    !name.includes('/') &&
    !name.includes('\0') &&
    Buffer.byteLength(name) <= limits.metaNameBytesMax
  );
}

/**
 * Walks directory `ino`, whose keys start with `keyPrefix` ("" for the bucket, else "a/b/"), from
 * `bound` on (a bound that does not start with `keyPrefix` is the caller's to have checked).
 */
export async function* walkDirectory(
  options: WalkOptions,
  ino: InodeId,
  keyPrefix: string,
  bound: WalkBound | undefined,
  isBase: boolean,
): AsyncGenerator<WalkItem, void, undefined> {
  const threshold = bound === undefined ? undefined : thresholdIn(bound, keyPrefix);
  let sawEntry = false;
  for await (const entry of entriesInOrder(options, ino, threshold, isBase)) {
    sawEntry = true;
    if (entry.type === 'file') {
      yield { kind: 'object', key: keyPrefix + entry.name, ino: entry.ino, directory: false };
    } else if (entry.type === 'directory') {
      const childPrefix = `${keyPrefix}${entry.name}/`;
      const inner = threshold?.descendInto === entry.name ? bound : undefined;
      if (options.directoriesAsPrefixes && isBase) {
        // A directory the bound reaches into is a prefix only if it holds keys after the bound.
        if (inner === undefined || (await holdsKeys(options, entry.ino, childPrefix, inner))) {
          yield { kind: 'prefix', prefix: childPrefix, ino: entry.ino };
        }
        continue;
      }
      yield* walkDirectory(options, entry.ino, childPrefix, inner, false);
    }
  }
  // An empty directory is the object "dir/", unless the walk started after that key.
  const fromStart = threshold === undefined || (threshold.after === '' && threshold.inclusive);
  if (!sawEntry && fromStart && keyPrefix !== '') {
    yield { kind: 'object', key: keyPrefix, ino, directory: true };
  }
}

/** Whether directory `ino` holds a key after `bound`. */
async function holdsKeys(
  options: WalkOptions,
  ino: InodeId,
  keyPrefix: string,
  bound: WalkBound,
): Promise<boolean> {
  const probe = walkDirectory({ ...options, directoriesAsPrefixes: false }, ino, keyPrefix, bound, false);
  const first = await probe.next();
  await probe.return(undefined);
  return first.done !== true;
}

/** Where a bound puts the walk inside one directory. */
interface Threshold {
  /** Entries whose sort key is after this (or equal, when inclusive). */
  readonly after: string;
  readonly inclusive: boolean;
  /** A directory on the bound's path: walk it with the bound before the entries after it. */
  readonly descendInto: string | undefined;
}

function thresholdIn(bound: WalkBound, keyPrefix: string): Threshold {
  const rest = bound.key.slice(keyPrefix.length);
  const slash = rest.indexOf('/');
  if (slash < 0) return { after: rest, inclusive: bound.inclusive, descendInto: undefined };
  const component = rest.slice(0, slash);
  const skipWhole = bound.skipPrefix && slash === rest.length - 1;
  return { after: `${component}/`, inclusive: false, descendInto: skipWhole ? undefined : component };
}

/** A directory's entries in S3 order after a threshold (see the file comment). */
async function* entriesInOrder(
  options: WalkOptions,
  ino: InodeId,
  threshold: Threshold | undefined,
  isBase: boolean,
): AsyncGenerator<Entry, void, undefined> {
  const held: Entry[] = [];
  const hold = (entry: Entry): void => {
    let index = held.length;
    while (index > 0 && compareKeys((held[index - 1] as Entry).sortKey, entry.sortKey) > 0) index -= 1;
    held.splice(index, 0, entry);
  };
  const passes = (entry: Entry): boolean => {
    if (threshold === undefined) return true;
    const order = compareKeys(entry.sortKey, threshold.after);
    return order > 0 || (order === 0 && threshold.inclusive);
  };
  // The directory on the bound's path comes first of all (its other keys are before the bound).
  if (threshold?.descendInto !== undefined) {
    const inner = await lookup(options, ino, threshold.descendInto);
    if (inner?.type === 'directory') yield inner;
  }
  const cursor = threshold === undefined ? undefined : threshold.after.replace(/\/$/, '');
  const usableCursor = cursor !== undefined && isName(cursor) ? cursor : undefined;
  if (threshold !== undefined && usableCursor !== undefined) {
    for (const candidate of await candidatesBefore(options, ino, threshold))
      if (passes(candidate)) hold(candidate);
  }
  let page: { entries: readonly DirectoryEntry[]; nextCursor: string | null } | undefined;
  let next = usableCursor;
  do {
    try {
      page = await options.fs.readDirPage(
        options.cred,
        { parent: ino, path: '' },
        limits.metaReaddirPageMax,
        next,
      );
    } catch (error) {
      // A directory below the listed one that the caller may not read (or one removed meanwhile)
      // has no keys for it; the listed one itself is refused.
      if (!isBase && (hasCode(error, MetaCode.PermissionDenied) || hasCode(error, MetaCode.NotFound))) return;
      throw error;
    }
    for (const raw of page.entries) {
      const entry = entryOf(raw);
      if (!passes(entry)) continue;
      if (
        threshold?.descendInto !== undefined &&
        entry.type === 'directory' &&
        entry.name === threshold.descendInto
      ) {
        continue;
      }
      while (held.length > 0 && compareKeys((held[0] as Entry).sortKey, entry.sortKey) < 0)
        yield held.shift() as Entry;
      if (entry.type === 'directory') hold(entry);
      else yield entry;
    }
    next = page.nextCursor ?? undefined;
  } while (next !== undefined);
  yield* held;
}

/**
 * Names at or before the threshold by name that sort after it: the threshold's own name, and
 * its prefixes followed by a byte below "/" when they are directories.
 */
async function candidatesBefore(options: WalkOptions, ino: InodeId, threshold: Threshold): Promise<Entry[]> {
  const after = threshold.after.replace(/\/$/, '');
  const names = new Set<string>([after]);
  for (let index = 1; index < after.length; index++) {
    if (after.charCodeAt(index) < 0x2f) names.add(after.slice(0, index));
  }
  const found = await Promise.all([...names].filter(isName).map((name) => lookup(options, ino, name)));
  return found.filter((entry): entry is Entry => entry !== undefined);
}

async function lookup(options: WalkOptions, parent: InodeId, name: string): Promise<Entry | undefined> {
  try {
    const inode = await options.fs.lookup(options.cred, parent, name);
    return inode === undefined ? undefined : entryOf({ name, ino: inode.ino, type: inode.type });
  } catch (error) {
    if (hasCode(error, MetaCode.PermissionDenied)) return undefined;
    throw error;
  }
}
