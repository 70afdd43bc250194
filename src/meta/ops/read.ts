/**
 * The read-only operations: stat, lookup, batch stat, readlink, readdir. They run in read-only
 * transactions (one consistent snapshot) and check search permission along the path like every
 * other operation; readdir also needs read permission on the directory.
 */
import { FsError } from '../../common/errors.js';
import { MetaCode } from '../../common/status-code.js';
import { checkName } from '../names.js';
import { Access, checkAccess } from '../permissions.js';
import { resolveExisting } from '../path-resolve.js';
import type {
  Credentials,
  DirectoryEntry,
  Inode,
  InodeId,
  PathAt,
  RequestOf,
  metaMethods,
} from '../protocol/index.js';
import type { MetaReader } from '../store/meta-store.js';

/** stat(2) (followLast) and lstat(2). */
export async function statPath(
  reader: MetaReader,
  cred: Credentials,
  at: PathAt,
  followLast: boolean,
): Promise<Inode> {
  return reader.presented((await resolveExisting(reader, cred, at, { followLast })).inode);
}

/** One entry of a directory, by name (FUSE's lookup): never follows a symlink. */
export async function lookupEntry(
  reader: MetaReader,
  cred: Credentials,
  parent: InodeId,
  name: string,
): Promise<Inode> {
  checkName(name);
  return statPath(reader, cred, { parent, path: name }, false);
}

/** The inodes of `inos` in order, null for those that do not exist. */
export async function batchStat(reader: MetaReader, inos: readonly InodeId[]): Promise<Array<Inode | null>> {
  const inodes: Array<Inode | null> = [];
  for (const ino of inos) {
    const inode = await reader.inode(ino);
    inodes.push(inode === undefined ? null : await reader.presented(inode));
  }
  return inodes;
}

/** readlink(2). */
export async function readLink(reader: MetaReader, cred: Credentials, at: PathAt): Promise<string> {
  const { inode } = await resolveExisting(reader, cred, at, { followLast: false });
  if (inode.type !== 'symlink') {
    throw new FsError(MetaCode.InvalidArgument, `inode ${inode.ino} is not a symbolic link`);
  }
  return inode.target;
}

/**
 * One page of a directory's entries in name-byte order, after `cursor` (the previous page's last
 * name). "." and ".." are not stored; callers that list them make them up from the directory's
 * own id and its `parent`.
 */
export async function readDirectory(
  reader: MetaReader,
  cred: Credentials,
  request: RequestOf<typeof metaMethods.readDir>,
): Promise<{ entries: DirectoryEntry[]; nextCursor: string | null }> {
  const { inode } = await resolveExisting(reader, cred, request.at, { followLast: true });
  if (inode.type !== 'directory')
    throw new FsError(MetaCode.NotDirectory, `inode ${inode.ino} is not a directory`);
  checkAccess(inode, cred, Access.Read, `list directory ${inode.ino}`);
  if (request.cursor !== undefined) checkName(request.cursor);
  // One more than asked tells whether another page follows, so the last page says so itself.
  const found = await reader.listEntries(inode.ino, request.cursor, request.limit + 1);
  const page = found.slice(0, request.limit);
  const entries = page.map((entry) => ({ name: entry.name, ino: entry.ino, type: entry.type }));
  const last = page[page.length - 1];
  return { entries, nextCursor: found.length > request.limit && last !== undefined ? last.name : null };
}
