/**
 * Restoring an item: one rename out of the trash, in the transaction that drops the item's
 * record. The item goes to the path asked for, or back into the directory it was removed from:
 * that directory by inode id while it exists outside the trash (so it follows renames, and the
 * items of an `rm -rf` come back into their directories once those are restored), else by the
 * recorded original path. The caller needs write and search permission on the target directory,
 * as for any create there; an existing target is replaced only when asked, as rename(2) would.
 */
import { FsError } from '../../common/errors.js';
import { MetaCode } from '../../common/status-code.js';
import type { OpContext } from '../ops/context.js';
import { checkCanChangeEntries, checkCanRemove, requireEntryParent } from '../ops/links.js';
import { rename } from '../ops/rename.js';
import { resolveExisting, resolvePath } from '../path-resolve.js';
import type {
  DirectoryInode,
  Inode,
  InodeId,
  PathAt,
  TrashItemFields,
  TrashItemKey,
} from '../protocol/index.js';
import type { MetaReader, MetaWriter } from '../store/meta-store.js';
import { TrashWriter } from '../store/trash-records.js';
import { findUserTrash, isInTrash } from './trash-dirs.js';
import { trashCredentials } from './trash-remove.js';
import { checkMayTouch } from './trash-rules.js';

export interface RestoreRequest {
  readonly item: TrashItemKey;
  readonly to?: PathAt | undefined;
  readonly overwrite?: boolean | undefined;
}

/** Moves an item out of the trash; returns the inode and where it went. */
export async function restoreItem(
  writer: MetaWriter,
  ctx: OpContext,
  request: RestoreRequest,
): Promise<{ inode: Inode; parent: InodeId; name: string }> {
  checkMayTouch(ctx.cred, request.item.uid);
  const records = new TrashWriter(writer.transaction);
  const { fields, userTrash } = await requireItem(writer, records, request.item);
  const target = await restoreTarget(writer, ctx, fields, request.to);
  if (await isInTrash(writer, target.parent)) {
    throw new FsError(MetaCode.InvalidArgument, 'an item cannot be restored into the trash');
  }
  checkCanChangeEntries(target.parent, ctx.cred);
  const existing = await writer.entry(target.parent.ino, target.name);
  if (existing !== undefined) {
    if (request.overwrite !== true)
      throw new FsError(MetaCode.Exists, `"${target.name}" exists in directory ${target.parent.ino}`);
    checkCanRemove(target.parent, await writer.requireInode(existing.ino), ctx.cred);
  }
  const inode = await rename(
    writer,
    { ...ctx, cred: trashCredentials },
    {
      cred: trashCredentials,
      source: { parent: userTrash.ino, path: request.item.name },
      target: { parent: target.parent.ino, path: target.name },
      noReplace: request.overwrite !== true,
    },
  );
  records.deleteItem(request.item, fields.expiresAtNs);
  return { inode, parent: target.parent.ino, name: target.name };
}

/**
 * Item `key`'s record and its user's trash directory, when its entry there still names the
 * recorded inode; NotFound otherwise (it was restored, purged, or moved through a mount).
 */
export async function requireItem(
  reader: MetaReader,
  records: TrashWriter,
  key: TrashItemKey,
): Promise<{ fields: TrashItemFields; userTrash: DirectoryInode }> {
  const fields = await records.item(key);
  const userTrash = fields === undefined ? undefined : await findUserTrash(reader, key.uid);
  const entry = userTrash === undefined ? undefined : await reader.entry(userTrash.ino, key.name);
  if (fields === undefined || userTrash === undefined || entry?.ino !== fields.ino) {
    throw new FsError(
      MetaCode.NotFound,
      `no item ${JSON.stringify(key.name)} in the trash of uid ${key.uid}`,
    );
  }
  return { fields, userTrash };
}

async function restoreTarget(
  writer: MetaWriter,
  ctx: OpContext,
  fields: TrashItemFields,
  to: PathAt | undefined,
): Promise<{ parent: DirectoryInode; name: string }> {
  if (to !== undefined) {
    const resolved = await resolvePath(writer, ctx.cred, to, { followLast: false });
    const parent = requireEntryParent(
      resolved,
      () => new FsError(MetaCode.InvalidArgument, `${JSON.stringify(to.path)} names no entry to restore to`),
    );
    return { parent, name: resolved.name };
  }
  const original = await writer.inode(fields.originalParent);
  if (original?.type === 'directory' && !(await isInTrash(writer, original))) {
    return { parent: original, name: fields.originalName };
  }
  const path = fields.originalPath;
  const cut = path === null ? -1 : path.lastIndexOf('/');
  if (path !== null && cut >= 0) {
    try {
      const { inode } = await resolveExisting(
        writer,
        ctx.cred,
        { path: path.slice(0, cut) || '/' },
        { followLast: true },
      );
      if (inode.type === 'directory' && !(await isInTrash(writer, inode))) {
        return { parent: inode, name: fields.originalName };
      }
    } catch (error) {
      if (!(error instanceof FsError) || error.code !== MetaCode.NotFound) throw error;
    }
  }
  throw new FsError(
    MetaCode.NotFound,
    `${JSON.stringify(fields.originalPath ?? fields.originalName)} was removed from a directory that is gone: restore that first or give a target`,
  );
}
