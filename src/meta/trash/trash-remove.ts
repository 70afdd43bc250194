/**
 * Removals into the trash. A removal checks what the call it stands for checks (unlink, rmdir or
 * rm -r: the entry's type, emptiness, write and search permission on its directory, the sticky
 * rule; for a tree removed by someone other than root, permission to remove everything in it, as
 * rm -r needs), then decides: into the trash, or for good. For good when it is already inside the
 * trash, or when no stay applies (trash-rules.ts). Into the trash is one rename, in the same
 * transaction, into the remover's trash directory under a fresh item name, with the item's record:
 * no data moves, and the inode keeps its id, attributes, links and open sessions.
 */
import { FsError } from '../../common/errors.js';
import { limits } from '../../common/limits.js';
import { MetaCode } from '../../common/status-code.js';
import type { OpContext } from '../ops/context.js';
import { checkCanRemove } from '../ops/links.js';
import { collectTree, removeRecursive, resolveVictim, rmdir, unlink } from '../ops/remove.js';
import { rename } from '../ops/rename.js';
import { isRoot } from '../permissions.js';
import {
  trashRootInodeId,
  type Credentials,
  type DirectoryInode,
  type Inode,
  type InodeId,
  type PathAt,
  type TrashItem,
  type TrashItemFields,
  type TrashItemKey,
  type TrashRemoveWhat,
} from '../protocol/index.js';
import type { MetaWriter } from '../store/meta-store.js';
import { TrashReader, TrashWriter } from '../store/trash-records.js';
import { childPath, countTree, ensureUserTrash, pathOfChain, placeOf, type Place } from './trash-dirs.js';
import { chooseExpiryS, expiresAtNs, itemName } from './trash-rules.js';

/** The credentials the trash's own moves and purges run with, once the caller's were checked. */
export const trashCredentials: Credentials = { uid: 0, gid: 0, groups: [] };

export interface TrashRemoveRequest {
  readonly at: PathAt;
  readonly what: TrashRemoveWhat;
  /** Seconds in the trash, whatever directories say. */
  readonly expireS?: number | undefined;
  /** Seconds in the trash where no directory has a setting (a mount's). */
  readonly defaultExpireS?: number | undefined;
}

export interface TrashRemoval {
  readonly ino?: InodeId;
  readonly changedAtNs?: bigint;
  /** Inodes a permanent removal released, as removeRecursive counts them (1 for unlink and rmdir). */
  readonly removedInodes: number;
  /** The item made; null for a permanent removal. */
  readonly item: TrashItem | null;
  /** The user's trash directory the item went into. */
  readonly trashDirectory?: InodeId;
}

/**
 * An unlink, rmdir or recursive remove asked for without the trash: permanent, unless a
 * directory's trash setting says otherwise. Costs one read when no directory has a setting.
 */
export async function removeFollowingPolicy(
  writer: MetaWriter,
  ctx: OpContext,
  request: TrashRemoveRequest,
): Promise<TrashRemoval> {
  if (await new TrashReader(writer.transaction).policiesExist())
    return removeThroughTrash(writer, ctx, request);
  return removePermanently(writer, ctx, request);
}

/** A removal into the trash when a stay applies (see the file comment). */
export async function removeThroughTrash(
  writer: MetaWriter,
  ctx: OpContext,
  request: TrashRemoveRequest,
): Promise<TrashRemoval> {
  const victim = await resolveVictim(writer, ctx, request.at, request.what !== 'file');
  await checkRemovable(writer, ctx, victim, request.what);
  const records = new TrashWriter(writer.transaction);
  const place = await placeOf(writer, victim.parent, { policies: await records.policiesExist() });
  const expireS =
    place.insideTrash || victim.inode.ino === trashRootInodeId
      ? 0
      : chooseExpiryS({
          explicitS: request.expireS,
          directoryS: place.policyExpireS,
          mountDefaultS: request.defaultExpireS,
        });
  if (expireS === 0) return removePermanently(writer, ctx, request);
  const counted = await countVictim(writer, ctx, victim.inode, request.what);
  const { key, fields, trashDirectory } = await moveIntoTrash(writer, ctx, {
    ...victim,
    place,
    expireS,
    counted,
  });
  records.putItem(key, fields);
  return {
    ino: victim.inode.ino,
    changedAtNs: ctx.nowNs,
    removedInodes: 0,
    item: { ...key, ...fields },
    trashDirectory,
  };
}

async function removePermanently(
  writer: MetaWriter,
  ctx: OpContext,
  request: TrashRemoveRequest,
): Promise<TrashRemoval> {
  if (request.what === 'file')
    return { ...(await unlink(writer, ctx, request.at)), removedInodes: 1, item: null };
  if (request.what === 'directory')
    return { ...(await rmdir(writer, ctx, request.at)), removedInodes: 1, item: null };
  return { removedInodes: await removeRecursive(writer, ctx, request.at), item: null };
}

/** What the call a removal stands for refuses, before any decision. */
async function checkRemovable(
  writer: MetaWriter,
  ctx: OpContext,
  victim: { parent: DirectoryInode; name: string; inode: Inode },
  what: TrashRemoveWhat,
): Promise<void> {
  const { inode } = victim;
  if (what === 'file' && inode.type === 'directory')
    throw new FsError(MetaCode.IsDirectory, `"${victim.name}" is a directory`);
  if (what === 'directory' && inode.type !== 'directory')
    throw new FsError(MetaCode.NotDirectory, `"${victim.name}" is not a directory`);
  checkCanRemove(victim.parent, inode, ctx.cred);
  // This range read joins the conflict set: a create racing into the directory retries or wins.
  if (what === 'directory' && (await writer.hasEntries(inode.ino)))
    throw new FsError(MetaCode.NotEmpty, `"${victim.name}" is not empty`);
}

/**
 * The bytes and inodes an item holds. A tree removed by someone other than root is walked with
 * the permission checks of rm -r (bounded as it is); root's is counted with snapshot reads, and
 * is moved whole however large (the count is then unknown).
 */
async function countVictim(
  writer: MetaWriter,
  ctx: OpContext,
  inode: Inode,
  what: TrashRemoveWhat,
): Promise<{ bytes: bigint; inodes: number } | undefined> {
  if (inode.type === 'file') return { bytes: inode.length, inodes: 1 };
  if (inode.type !== 'directory' || what !== 'tree') return { bytes: 0n, inodes: 1 };
  if (isRoot(ctx.cred)) return countTree(writer, inode);
  const tree = await collectTree(writer, ctx, inode);
  const count = { bytes: 0n, inodes: 1 };
  for (const { entries } of tree) {
    for (const entry of entries) {
      count.inodes += 1;
      // collectTree read every child inode: these come from the transaction's cache.
      const child = await writer.requireInode(entry.ino);
      if (child.type === 'file') count.bytes += child.length;
    }
  }
  return count;
}

/** Renames the victim into the caller's trash directory; returns the item it became. */
async function moveIntoTrash(
  writer: MetaWriter,
  ctx: OpContext,
  victim: {
    parent: DirectoryInode;
    name: string;
    inode: Inode;
    place: Place;
    expireS: number;
    counted: { bytes: bigint; inodes: number } | undefined;
  },
): Promise<{ key: TrashItemKey; fields: TrashItemFields; trashDirectory: InodeId }> {
  const userTrash = await ensureUserTrash(writer, ctx);
  const name = await freeItemName(writer, userTrash.ino, ctx.nowNs, victim);
  const originalPath = childPath(await pathOfChain(writer, victim.place), victim.name);
  await rename(
    writer,
    { ...ctx, cred: trashCredentials },
    {
      cred: trashCredentials,
      source: { parent: victim.parent.ino, path: victim.name },
      target: { parent: userTrash.ino, path: name },
      noReplace: true,
    },
  );
  const fields: TrashItemFields = {
    ino: victim.inode.ino,
    type: victim.inode.type,
    originalParent: victim.parent.ino,
    originalName: victim.name,
    originalPath,
    removedAtNs: ctx.nowNs,
    expiresAtNs: expiresAtNs(ctx.nowNs, victim.expireS),
    bytes: victim.counted?.bytes ?? null,
    inodes: victim.counted?.inodes ?? null,
  };
  return { key: { uid: ctx.cred.uid, name }, fields, trashDirectory: userTrash.ino };
}

/** A name for the item that no entry of the user's trash directory has yet. */
async function freeItemName(
  writer: MetaWriter,
  userTrash: InodeId,
  nowNs: bigint,
  victim: { name: string; inode: Inode },
): Promise<string> {
  for (let attempt = 0; attempt < limits.metaTrashNameAttemptsMax; attempt++) {
    const name = itemName({ removedAtNs: nowNs, ino: victim.inode.ino, name: victim.name, attempt });
    if ((await writer.entry(userTrash, name)) === undefined) return name;
  }
  throw new FsError(
    MetaCode.Exists,
    `inode ${victim.inode.ino} was removed into the trash ${limits.metaTrashNameAttemptsMax} times this second`,
  );
}
