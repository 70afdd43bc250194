/**
 * rename(2), atomically in one transaction, with POSIX's rules: a file may replace a file, a
 * directory may replace an empty directory; renaming onto another link of the same inode does
 * nothing; a directory is never moved under itself, which is checked by walking the target
 * directory's ancestors up to the root. Those reads join the conflict set, so two concurrent
 * renames that together would make a cycle cannot both commit.
 */
import { FsError, assert } from '../../common/errors.js';
import { limits } from '../../common/limits.js';
import { MetaCode } from '../../common/status-code.js';
import { Access, checkAccess } from '../permissions.js';
import { resolveExisting, resolvePath, type ResolvedPath } from '../path-resolve.js';
import {
  rootInodeId,
  type DirectoryInode,
  type Inode,
  type RequestOf,
  type metaMethods,
} from '../protocol/index.js';
import type { MetaWriter } from '../store/meta-store.js';
import type { OpContext } from './context.js';
import {
  addSubdirectoryLink,
  checkCanChangeEntries,
  checkCanRemove,
  dropLink,
  touchDirectory,
} from './links.js';

interface Side {
  parent: DirectoryInode;
  name: string;
}

function entrySide(resolved: ResolvedPath, role: 'source' | 'target'): Side {
  if (resolved.parent !== undefined) return { parent: resolved.parent, name: resolved.name };
  if (resolved.inode?.ino === rootInodeId && resolved.name === '') {
    throw new FsError(MetaCode.Busy, 'the root directory cannot be renamed or replaced');
  }
  throw new FsError(MetaCode.InvalidArgument, `"${resolved.name}" cannot be the ${role} of a rename`);
}

/** Refuses moving directory `moved` into `targetParent` when that is `moved` or lies under it. */
async function checkNotUnderItself(
  writer: MetaWriter,
  moved: Inode,
  targetParent: DirectoryInode,
): Promise<void> {
  let current: DirectoryInode = targetParent;
  for (let depth = 0; depth < limits.metaDirectoryDepthMax; depth++) {
    if (current.ino === moved.ino) {
      throw new FsError(MetaCode.InvalidArgument, `directory ${moved.ino} cannot be moved under itself`);
    }
    if (current.ino === rootInodeId) return;
    current = await writer.requireDirectory(current.parent);
  }
  throw new FsError(
    MetaCode.InvalidArgument,
    `directory ${targetParent.ino} is more than ${limits.metaDirectoryDepthMax} levels deep`,
  );
}

/** Checks what replacing `replaced` with `moved` requires (types match, directory empty). */
async function checkReplace(writer: MetaWriter, moved: Inode, replaced: Inode): Promise<void> {
  if (moved.type === 'directory' && replaced.type !== 'directory') {
    throw new FsError(
      MetaCode.NotDirectory,
      `inode ${replaced.ino} is not a directory and cannot be replaced by one`,
    );
  }
  if (moved.type !== 'directory' && replaced.type === 'directory') {
    throw new FsError(
      MetaCode.IsDirectory,
      `inode ${replaced.ino} is a directory and cannot be replaced by a file`,
    );
  }
  if (replaced.type === 'directory' && (await writer.hasEntries(replaced.ino))) {
    throw new FsError(MetaCode.NotEmpty, `directory ${replaced.ino} is not empty`);
  }
}

/** What a caller adds to a rename once every check passed and before anything changes. */
export interface RenameHooks {
  /** May refuse the move by throwing (directory quotas move usage here: quota/quota-moves.ts). */
  beforeMove?(move: { moved: Inode; source: DirectoryInode; target: DirectoryInode }): Promise<void>;
}

export async function rename(
  writer: MetaWriter,
  ctx: OpContext,
  request: RequestOf<typeof metaMethods.rename>,
  hooks: RenameHooks = {},
): Promise<Inode> {
  const sourcePath = await resolveExisting(writer, ctx.cred, request.source, { followLast: false });
  const source = entrySide(sourcePath, 'source');
  const moved = sourcePath.inode;
  const targetPath = await resolvePath(writer, ctx.cred, request.target, { followLast: false });
  const target = entrySide(targetPath, 'target');
  const replaced = targetPath.inode;
  if (targetPath.trailingSlash && moved.type !== 'directory') {
    throw new FsError(MetaCode.NotDirectory, 'a file cannot be renamed to a name ending in "/"');
  }
  checkCanRemove(source.parent, moved, ctx.cred);
  checkCanChangeEntries(target.parent, ctx.cred);
  if (replaced !== undefined) {
    if (request.noReplace ?? false)
      throw new FsError(MetaCode.Exists, `${JSON.stringify(request.target.path)} exists`);
    // Renaming onto another link of the same inode (or onto itself) does nothing, as POSIX says.
    if (replaced.ino === moved.ino) return writer.presented(moved);
    checkCanRemove(target.parent, replaced, ctx.cred);
    await checkReplace(writer, moved, replaced);
  }
  const movesDirectory = moved.type === 'directory' && source.parent.ino !== target.parent.ino;
  if (movesDirectory) {
    // Its ".." changes, which needs write permission on the directory itself (as Linux checks).
    checkAccess(moved, ctx.cred, Access.Write, `move directory ${moved.ino} to another parent`);
    await checkNotUnderItself(writer, moved, target.parent);
  }
  await hooks.beforeMove?.({ moved, source: source.parent, target: target.parent });
  if (replaced !== undefined) await removeReplaced(writer, ctx, target.parent.ino, replaced);
  writer.deleteEntry(source.parent.ino, source.name);
  writer.putEntry(target.parent.ino, target.name, moved);
  if (movesDirectory) {
    await addSubdirectoryLink(writer, target.parent.ino, 1);
    await addSubdirectoryLink(writer, source.parent.ino, -1);
  }
  const updated = await writer.updateInode(moved.ino, (latest) => ({
    ...latest,
    ctimeNs: ctx.nowNs,
    ...(latest.type === 'directory' ? { parent: target.parent.ino } : {}),
  }));
  await touchDirectory(writer, source.parent.ino, ctx.nowNs);
  await touchDirectory(writer, target.parent.ino, ctx.nowNs);
  return writer.presented(updated);
}

/** Removes the inode a rename replaces: an empty directory is deleted, a file loses a link. */
async function removeReplaced(
  writer: MetaWriter,
  ctx: OpContext,
  targetParent: bigint,
  replaced: Inode,
): Promise<void> {
  if (replaced.type === 'directory') {
    assert(!(await writer.hasEntries(replaced.ino)), 'a replaced directory is empty');
    await writer.deleteInode(replaced.ino);
    await addSubdirectoryLink(writer, targetParent, -1);
    return;
  }
  await dropLink(writer, ctx, replaced.ino);
}
