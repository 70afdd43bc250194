/**
 * Path resolution inside one transaction, as POSIX defines it: components are resolved from the
 * start directory one by one, every directory passed through needs search permission, "." and
 * ".." stay and climb, symbolic links in the middle are always followed (and the last component's
 * when asked), at most metaSymlinkDepthMax links per resolution (ELOOP beyond). Every read joins
 * the transaction's conflict set, so a concurrent rename or removal of anything on the way makes
 * one of the two transactions retry.
 */
import { FsError, assert } from '../common/errors.js';
import { limits } from '../common/limits.js';
import { MetaCode } from '../common/status-code.js';
import { Access, checkAccess } from './permissions.js';
import { checkName, checkPath, pathComponents } from './names.js';
import {
  rootInodeId,
  type Credentials,
  type DirectoryInode,
  type Inode,
  type PathAt,
} from './protocol/index.js';
import type { MetaReader } from './store/meta-store.js';

/** Where a path leads. */
export interface ResolvedPath {
  /**
   * The directory holding the last component's entry. Undefined when the path names a directory
   * without naming an entry: "", "/", or a last component "." or "..".
   */
  parent: DirectoryInode | undefined;
  /** The last component as written ("" for "" and "/"); an entry name when `parent` is set. */
  name: string;
  /** What the path names, when it exists. */
  inode: Inode | undefined;
  /** The path ended in "/": what it names must be a directory. */
  trailingSlash: boolean;
}

export interface ResolveOptions {
  /** Follow a symlink as the last component (stat, open) rather than naming the link (lstat, unlink). */
  followLast: boolean;
}

/** Resolves `at` for `cred`; intermediate components must exist (NotFound) and be directories. */
export async function resolvePath(
  reader: MetaReader,
  cred: Credentials,
  at: PathAt,
  options: ResolveOptions,
): Promise<ResolvedPath> {
  checkPath(at.path);
  const absolute = at.path.startsWith('/');
  const start = await reader.requireInode(absolute ? rootInodeId : (at.parent ?? rootInodeId));
  const pending = pathComponents(at.path).reverse();
  const trailingSlash = at.path.endsWith('/') && pending.length > 0;
  if (pending.length === 0) return { parent: undefined, name: '', inode: start, trailingSlash: false };
  if (start.type !== 'directory') {
    throw new FsError(MetaCode.NotDirectory, `inode ${start.ino} is not a directory`);
  }
  const walk = { current: start, linksFollowed: 0, visited: 0 };
  for (;;) {
    const name = pending.pop();
    assert(name !== undefined, 'the walk stops at the last component');
    const isLast = pending.length === 0;
    walk.visited += 1;
    if (walk.visited > limits.metaPathComponentsVisitedMax) {
      throw new FsError(
        MetaCode.TooManySymlinks,
        `path resolution visited over ${limits.metaPathComponentsVisitedMax} components`,
      );
    }
    const current = walk.current;
    checkName(name);
    checkAccess(current, cred, Access.Execute, `search directory ${current.ino}`);
    const step = await stepInto(reader, current, name);
    if (step.inode?.type === 'symlink' && (!isLast || options.followLast || trailingSlash)) {
      walk.current = await followLink(reader, walk, step.inode.target, pending);
      continue;
    }
    if (isLast) return finish(current, name, step, trailingSlash);
    if (step.inode === undefined) {
      throw new FsError(MetaCode.NotFound, `no entry "${name}" in directory ${current.ino}`);
    }
    if (step.inode.type !== 'directory') {
      throw new FsError(MetaCode.NotDirectory, `"${name}" in directory ${current.ino} is not a directory`);
    }
    walk.current = step.inode;
  }
}

/** What one component names: the directory itself, its parent, or an entry (maybe absent). */
async function stepInto(
  reader: MetaReader,
  current: DirectoryInode,
  name: string,
): Promise<{ inode: Inode | undefined; isEntry: boolean }> {
  if (name === '.') return { inode: current, isEntry: false };
  if (name === '..') return { inode: await reader.requireDirectory(current.parent), isEntry: false };
  const entry = await reader.entry(current.ino, name);
  if (entry === undefined) return { inode: undefined, isEntry: true };
  const inode = await reader.inode(entry.ino);
  assert(
    inode !== undefined,
    `entry "${name}" of directory ${current.ino} names existing inode ${entry.ino}`,
  );
  assert(inode.type === entry.type, `entry "${name}" of directory ${current.ino} records its inode's type`);
  return { inode, isEntry: true };
}

/**
 * Splices a symlink's target into the pending components and returns the directory the rest
 * resolves from: the root for an absolute target, else the directory holding the link.
 */
async function followLink(
  reader: MetaReader,
  walk: { current: DirectoryInode; linksFollowed: number },
  target: string,
  pending: string[],
): Promise<DirectoryInode> {
  walk.linksFollowed += 1;
  if (walk.linksFollowed > limits.metaSymlinkDepthMax) {
    throw new FsError(
      MetaCode.TooManySymlinks,
      `more than ${limits.metaSymlinkDepthMax} symbolic links in one path`,
    );
  }
  const components = pathComponents(target);
  for (let index = components.length - 1; index >= 0; index--) pending.push(components[index] as string);
  const from = target.startsWith('/') ? await reader.requireDirectory(rootInodeId) : walk.current;
  // A link to "/" (or to "." from the last component) leaves nothing pending: it names `from`.
  if (pending.length === 0) pending.push('.');
  return from;
}

function finish(
  current: DirectoryInode,
  name: string,
  step: { inode: Inode | undefined; isEntry: boolean },
  trailingSlash: boolean,
): ResolvedPath {
  if (trailingSlash && step.inode !== undefined && step.inode.type !== 'directory') {
    throw new FsError(MetaCode.NotDirectory, `"${name}" is not a directory but the path ends in "/"`);
  }
  return {
    parent: step.isEntry ? current : undefined,
    name,
    inode: step.inode,
    trailingSlash,
  };
}

/** Resolves `at` and requires that it exists. */
export async function resolveExisting(
  reader: MetaReader,
  cred: Credentials,
  at: PathAt,
  options: ResolveOptions,
): Promise<ResolvedPath & { inode: Inode }> {
  const resolved = await resolvePath(reader, cred, at, options);
  if (resolved.inode === undefined) {
    throw new FsError(MetaCode.NotFound, `no such file or directory: ${JSON.stringify(at.path)}`);
  }
  return { ...resolved, inode: resolved.inode };
}
