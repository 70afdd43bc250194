/**
 * unlink(2), rmdir(2) and recursive remove. Every removal checks write and search permission on
 * the directory losing the entry and the sticky rule. Recursive remove is one transaction: the
 * whole tree goes at once or not at all (a refused permission anywhere leaves everything), and it
 * is bounded by metaRecursiveRemoveInodesMax (OperationTooLarge beyond: remove in parts).
 */
import { FsError, assert } from '../../common/errors.js';
import { limits } from '../../common/limits.js';
import { MetaCode } from '../../common/status-code.js';
import { Access, checkAccess } from '../permissions.js';
import { resolveExisting, type ResolvedPath } from '../path-resolve.js';
import {
  rootInodeId,
  type DirectoryInode,
  type Inode,
  type InodeId,
  type PathAt,
} from '../protocol/index.js';
import type { MetaWriter, NamedEntry } from '../store/meta-store.js';
import type { OpContext } from './context.js';
import { addSubdirectoryLink, checkCanRemove, dropLink, touchDirectory } from './links.js';

/** The errors of removing what names no entry: ".", "..", "" or "/". */
function notAnEntry(resolved: ResolvedPath, forDirectory: boolean): FsError {
  if (resolved.inode?.ino === rootInodeId && resolved.name === '') {
    return new FsError(MetaCode.Busy, 'the root directory cannot be removed');
  }
  if (!forDirectory && resolved.inode?.type === 'directory') {
    return new FsError(MetaCode.IsDirectory, `"${resolved.name}" is a directory`);
  }
  if (!forDirectory) return new FsError(MetaCode.InvalidArgument, 'an empty path names no entry to remove');
  if (resolved.name === '..') return new FsError(MetaCode.NotEmpty, '".." is not empty');
  return new FsError(MetaCode.InvalidArgument, `"${resolved.name}" cannot be removed by that name`);
}

/** Resolves the entry a removal takes away (not following a last symlink). */
export async function resolveVictim(
  writer: MetaWriter,
  ctx: OpContext,
  at: PathAt,
  forDirectory: boolean,
): Promise<{ parent: DirectoryInode; name: string; inode: Inode }> {
  const resolved = await resolveExisting(writer, ctx.cred, at, { followLast: false });
  if (resolved.parent === undefined) throw notAnEntry(resolved, forDirectory);
  return { parent: resolved.parent, name: resolved.name, inode: resolved.inode };
}

/** unlink(2). */
export async function unlink(writer: MetaWriter, ctx: OpContext, at: PathAt): Promise<Removal> {
  const victim = await resolveVictim(writer, ctx, at, false);
  if (victim.inode.type === 'directory') {
    throw new FsError(MetaCode.IsDirectory, `${JSON.stringify(at.path)} is a directory`);
  }
  checkCanRemove(victim.parent, victim.inode, ctx.cred);
  writer.deleteEntry(victim.parent.ino, victim.name);
  await dropLink(writer, ctx, victim.inode.ino);
  await touchDirectory(writer, victim.parent.ino, ctx.nowNs);
  return { ino: victim.inode.ino, changedAtNs: ctx.nowNs };
}

/** What a removal did (see the protocol's removalReply). */
export interface Removal {
  readonly ino: InodeId;
  readonly changedAtNs: bigint;
}

/** Removes the entry of empty directory `directory` from `parent` and deletes it. */
async function removeEmptyDirectory(
  writer: MetaWriter,
  ctx: OpContext,
  victim: { parent: DirectoryInode; name: string; inode: DirectoryInode },
): Promise<void> {
  writer.deleteEntry(victim.parent.ino, victim.name);
  await writer.deleteInode(victim.inode.ino);
  await addSubdirectoryLink(writer, victim.parent.ino, -1);
  await touchDirectory(writer, victim.parent.ino, ctx.nowNs);
}

/** rmdir(2). */
export async function rmdir(writer: MetaWriter, ctx: OpContext, at: PathAt): Promise<Removal> {
  const victim = await resolveVictim(writer, ctx, at, true);
  const inode = victim.inode;
  if (inode.type !== 'directory')
    throw new FsError(MetaCode.NotDirectory, `${JSON.stringify(at.path)} is not a directory`);
  checkCanRemove(victim.parent, inode, ctx.cred);
  // This range read joins the conflict set: a create racing into the directory retries or wins.
  if (await writer.hasEntries(inode.ino))
    throw new FsError(MetaCode.NotEmpty, `${JSON.stringify(at.path)} is not empty`);
  await removeEmptyDirectory(writer, ctx, { ...victim, inode });
  return { ino: inode.ino, changedAtNs: ctx.nowNs };
}

/** rm -r as one transaction; returns how many inodes were released (files still open for writing stay as orphans). */
export async function removeRecursive(writer: MetaWriter, ctx: OpContext, at: PathAt): Promise<number> {
  const victim = await resolveVictim(writer, ctx, at, true);
  const inode = victim.inode;
  checkCanRemove(victim.parent, inode, ctx.cred);
  if (inode.type !== 'directory') {
    writer.deleteEntry(victim.parent.ino, victim.name);
    await dropLink(writer, ctx, inode.ino);
    await touchDirectory(writer, victim.parent.ino, ctx.nowNs);
    return 1;
  }
  const tree = await collectTree(writer, ctx, inode);
  let removed = 1;
  for (const { directory, entries } of tree) {
    for (const entry of entries) {
      writer.deleteEntry(directory, entry.name);
      if (entry.type !== 'directory' && (await dropLink(writer, ctx, entry.ino))) removed += 1;
    }
    if (directory !== inode.ino) {
      await writer.deleteInode(directory);
      removed += 1;
    }
  }
  await removeEmptyDirectory(writer, ctx, { ...victim, inode });
  return removed;
}

/**
 * Every directory of the tree under `top` (itself included) with its entries, checking on each
 * that the caller may list it and remove from it, and counting toward the bound.
 */
export async function collectTree(
  writer: MetaWriter,
  ctx: OpContext,
  top: DirectoryInode,
): Promise<Array<{ directory: bigint; entries: NamedEntry[] }>> {
  const tree: Array<{ directory: bigint; entries: NamedEntry[] }> = [];
  const queue: DirectoryInode[] = [top];
  let inodes = 1;
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    checkAccess(
      next,
      ctx.cred,
      Access.Read | Access.Write | Access.Execute,
      `remove the contents of ${next.ino}`,
    );
    const entries = await writer.listEntries(next.ino, undefined, limits.metaRecursiveRemoveInodesMax + 1);
    inodes += entries.length;
    if (inodes > limits.metaRecursiveRemoveInodesMax) {
      throw new FsError(
        MetaCode.OperationTooLarge,
        `the tree holds over ${limits.metaRecursiveRemoveInodesMax} entries; remove its subdirectories first`,
      );
    }
    for (const entry of entries) {
      const child = await writer.requireInode(entry.ino);
      checkCanRemove(next, child, ctx.cred);
      if (child.type === 'directory') queue.push(child);
    }
    tree.push({ directory: next.ino, entries });
  }
  assert(tree[0]?.directory === top.ino, 'the tree starts at its top');
  return tree;
}
