/**
 * mkdir(2), mkdir -p, and symlink(2). A new directory inherits its parent's default layout (and
 * its group and setgid bit when the parent is setgid) and adds one link to the parent (its "..").
 */
import { FsError } from '../../common/errors.js';
import { limits } from '../../common/limits.js';
import { MetaCode } from '../../common/status-code.js';
import { inheritedDefaultAcl, newInodeAccess } from '../acl.js';
import { newInodeOwnership } from '../permissions.js';
import { resolvePath, type ResolvedPath } from '../path-resolve.js';
import { checkPath, pathComponents } from '../names.js';
import {
  rootInodeId,
  type DirectoryInode,
  type Inode,
  type RequestOf,
  type SymlinkInode,
  type metaMethods,
} from '../protocol/index.js';
import { quotasOfNewChild } from '../quota/quota-moves.js';
import type { MetaWriter } from '../store/meta-store.js';
import type { OpContext } from './context.js';
import {
  addSubdirectoryLink,
  checkCanChangeEntries,
  checkLinkRoom,
  requireEntryParent,
  touchDirectory,
} from './links.js';

/** Creates directory `name` in `parent`. */
async function makeDirectory(
  writer: MetaWriter,
  ctx: OpContext,
  parent: DirectoryInode,
  name: string,
  request: { mode: number; umask?: number | undefined },
): Promise<DirectoryInode> {
  checkCanChangeEntries(parent, ctx.cred);
  checkLinkRoom(parent);
  const directory: DirectoryInode = {
    type: 'directory',
    ino: ctx.takeInodeId(),
    ...newInodeAccess(parent, ctx.cred, 'directory', request),
    nlink: 2,
    atimeNs: ctx.nowNs,
    mtimeNs: ctx.nowNs,
    ctimeNs: ctx.nowNs,
    parent: parent.ino,
    layout: parent.layout,
    ...inheritedDefaultAcl(parent),
    ...(await quotasOfNewChild(writer, parent)),
  };
  await writer.createInode(directory);
  writer.putEntry(parent.ino, name, directory);
  await addSubdirectoryLink(writer, parent.ino, 1);
  await touchDirectory(writer, parent.ino, ctx.nowNs);
  return directory;
}

function exists(path: string): FsError {
  return new FsError(MetaCode.Exists, `${JSON.stringify(path)} exists`);
}

/** mkdir(2), or mkdir -p with `recursive`. */
export async function mkdirs(
  writer: MetaWriter,
  ctx: OpContext,
  request: RequestOf<typeof metaMethods.mkdirs>,
): Promise<Inode> {
  if (request.recursive ?? false) return mkdirRecursive(writer, ctx, request);
  const resolved = await resolvePath(writer, ctx.cred, request.at, { followLast: false });
  if (resolved.inode !== undefined) throw exists(request.at.path);
  const parent = requireEntryParent(resolved, () => exists(request.at.path));
  return makeDirectory(writer, ctx, parent, resolved.name, request);
}

/** The number of inode ids a mkdirs request may need. */
export function mkdirsIdsNeeded(request: RequestOf<typeof metaMethods.mkdirs>): number {
  if (!(request.recursive ?? false)) return 1;
  // Bounded by the path limit (checked again during resolution): at most one id per two bytes.
  return Math.min(pathComponents(request.at.path).length, limits.metaPathBytesMax / 2);
}

/**
 * mkdir -p: each component resolves from the directory the previous one led to; missing ones are
 * created (intermediate ones with owner write and search added, as mkdir -p does), existing
 * directories are passed through, anything else fails.
 */
async function mkdirRecursive(
  writer: MetaWriter,
  ctx: OpContext,
  request: RequestOf<typeof metaMethods.mkdirs>,
): Promise<Inode> {
  const path = request.at.path;
  let current: Inode = await writer.requireInode(
    path.startsWith('/') ? rootInodeId : (request.at.parent ?? rootInodeId),
  );
  const components = pathComponents(path);
  for (const [index, component] of components.entries()) {
    if (current.type !== 'directory')
      throw new FsError(MetaCode.NotDirectory, `inode ${current.ino} is not a directory`);
    const isLast = index === components.length - 1;
    const resolved = await resolveFollowingExisting(writer, ctx, { parent: current.ino, path: component });
    if (resolved.inode !== undefined) {
      if (resolved.inode.type !== 'directory') {
        throw isLast ? exists(path) : new FsError(MetaCode.NotDirectory, `"${component}" is not a directory`);
      }
      current = resolved.inode;
      continue;
    }
    const parent = requireEntryParent(resolved, () => exists(path));
    current = await makeDirectory(writer, ctx, parent, resolved.name, {
      mode: isLast ? request.mode : request.mode | 0o300,
      umask: request.umask,
    });
  }
  return writer.presented(current);
}

/** Resolves one component, following a symlink only to an existing target (a dangling one "exists"). */
async function resolveFollowingExisting(
  writer: MetaWriter,
  ctx: OpContext,
  at: { parent: bigint; path: string },
): Promise<ResolvedPath> {
  const link = await resolvePath(writer, ctx.cred, at, { followLast: false });
  if (link.inode?.type !== 'symlink') return link;
  const target = await resolvePath(writer, ctx.cred, at, { followLast: true });
  if (target.inode === undefined) throw exists(at.path);
  return target;
}

/** symlink(2): a link at `at` whose content is `target`. */
export async function makeSymlink(
  writer: MetaWriter,
  ctx: OpContext,
  request: RequestOf<typeof metaMethods.symlink>,
): Promise<SymlinkInode> {
  checkSymlinkTarget(request.target);
  const resolved = await resolvePath(writer, ctx.cred, request.at, { followLast: false });
  if (resolved.inode !== undefined) throw exists(request.at.path);
  if (resolved.trailingSlash)
    throw new FsError(MetaCode.NotFound, 'a symlink is not named with a trailing "/"');
  const parent = requireEntryParent(resolved, () => exists(request.at.path));
  checkCanChangeEntries(parent, ctx.cred);
  const symlink: SymlinkInode = {
    type: 'symlink',
    ino: ctx.takeInodeId(),
    ...newInodeOwnership(parent, ctx.cred, 'symlink', 0o777),
    nlink: 1,
    atimeNs: ctx.nowNs,
    mtimeNs: ctx.nowNs,
    ctimeNs: ctx.nowNs,
    target: request.target,
    ...(await quotasOfNewChild(writer, parent)),
  };
  await writer.createInode(symlink);
  writer.putEntry(parent.ino, resolved.name, symlink);
  await touchDirectory(writer, parent.ino, ctx.nowNs);
  return symlink;
}

/** A symlink's content: not empty (ENOENT, as Linux answers), and a valid path. */
function checkSymlinkTarget(target: string): void {
  if (target.length === 0) throw new FsError(MetaCode.NotFound, 'a symbolic link has a target');
  checkPath(target);
}
