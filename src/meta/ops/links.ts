/**
 * The building blocks every namespace change shares: adding and dropping links, releasing an
 * inode (deleted, and queued for chunk GC when it is a file), and touching a directory's times.
 * They keep the link counts the invariant checker verifies: a non-directory (file, symlink, FIFO,
 * socket, device node) has one link per entry naming it; a directory has 2 plus one per subdirectory.
 */
import { FsError, assert } from '../../common/errors.js';
import { limits } from '../../common/limits.js';
import { MetaCode } from '../../common/status-code.js';
import { Access, checkAccess, checkSticky } from '../permissions.js';
import type { ResolvedPath } from '../path-resolve.js';
import type { DirectoryInode, Inode, InodeId } from '../protocol/index.js';
import type { MetaWriter } from '../store/meta-store.js';
import type { OpContext } from './context.js';

/**
 * Sets a directory's mtime and ctime: its entries changed. Recorded apart from the inode and
 * without reading it (MetaWriter.touchEntries), so that creates in one directory do not conflict.
 */
export async function touchDirectory(writer: MetaWriter, ino: InodeId, nowNs: bigint): Promise<void> {
  writer.touchEntries(ino, nowNs);
}

/** Adds `delta` (±1) to a directory's link count: a subdirectory came or went. */
export async function addSubdirectoryLink(writer: MetaWriter, ino: InodeId, delta: 1 | -1): Promise<void> {
  await writer.updateInode(ino, (inode) => {
    assert(inode.type === 'directory', 'subdirectory links are counted on directories');
    assert(inode.nlink + delta >= 2, `directory ${ino} keeps at least its two own links`);
    return { ...inode, nlink: inode.nlink + delta };
  });
}

/**
 * The parent of a path that must name an entry (to create, remove or rename it). A path naming a
 * directory without an entry ("", "/", ".", "..") gets the error the caller chooses.
 */
export function requireEntryParent(resolved: ResolvedPath, error: () => FsError): DirectoryInode {
  if (resolved.parent === undefined) throw error();
  return resolved.parent;
}

/** Write and search permission on a directory whose entries change. */
export function checkCanChangeEntries(directory: DirectoryInode, cred: OpContext['cred']): void {
  checkAccess(directory, cred, Access.Write | Access.Execute, `change entries of directory ${directory.ino}`);
}

/** Permission to remove `victim` from `directory`: write+search, and the sticky rule. */
export function checkCanRemove(directory: DirectoryInode, victim: Inode, cred: OpContext['cred']): void {
  checkCanChangeEntries(directory, cred);
  checkSticky(directory, victim, cred);
}

/**
 * Drops one link of a non-directory whose entry the caller removes. At zero links the inode is
 * released, unless a file still has write sessions: then it stays as an orphan (nlink 0) until
 * the last session closes. Returns true when the inode was released.
 */
export async function dropLink(writer: MetaWriter, ctx: OpContext, ino: InodeId): Promise<boolean> {
  const inode = await writer.requireInode(ino);
  assert(inode.type !== 'directory', 'directories are removed, not unlinked');
  assert(inode.nlink >= 1, `inode ${ino} had a link to drop`);
  const nlink = inode.nlink - 1;
  if (nlink > 0) {
    writer.putInode({ ...inode, nlink, ctimeNs: ctx.nowNs });
    return false;
  }
  if (inode.type === 'file' && (await writer.sessions(ino, 1)).length > 0) {
    writer.putInode({ ...inode, nlink: 0, ctimeNs: ctx.nowNs });
    writer.putOrphan(ino, ctx.nowNs);
    return false;
  }
  await releaseInode(writer, inode, ctx.nowNs);
  return true;
}

/** Deletes an inode that nothing names any more; a file's chunks go to the GC queue. */
export async function releaseInode(writer: MetaWriter, inode: Inode, nowNs: bigint): Promise<void> {
  await writer.deleteInode(inode.ino);
  if (inode.type === 'file') {
    writer.deleteOrphan(inode.ino);
    writer.queueGc({ ino: inode.ino, layout: inode.layout, length: inode.length, removedAtNs: nowNs });
  }
}

/** Refuses one more link when the inode has the most it may have. */
export function checkLinkRoom(inode: Inode): void {
  if (inode.nlink >= limits.metaLinksMax) {
    throw new FsError(MetaCode.TooManyLinks, `inode ${inode.ino} already has ${inode.nlink} links`);
  }
}
