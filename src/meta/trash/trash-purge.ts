/**
 * Purging an item: its inodes are removed as any removal removes them (a file's last link goes
 * and its chunks join the GC queue; a file still open for writing stays an orphan until closed).
 * A directory tree goes from the bottom up, at most metaTrashPurgeInodesPerTransaction inodes per
 * transaction, each leaving the namespace consistent (a partly purged tree is a smaller tree in
 * the trash); the item's entry and record go with its top directory in the last transaction.
 *
 * Every step reads the item's record and entry again inside its transaction, so two meta services
 * purging one item at once (the cleaner runs on each) never remove anything twice: the KV lets
 * one of two conflicting steps commit and the other, retried, finds the work done.
 */
import { FsError, assert } from '../../common/errors.js';
import { limits } from '../../common/limits.js';
import { MetaCode } from '../../common/status-code.js';
import type { OpContext } from '../ops/context.js';
import { addSubdirectoryLink, dropLink, touchDirectory } from '../ops/links.js';
import type { InodeId, TrashItemKey } from '../protocol/index.js';
import type { MetaWriter } from '../store/meta-store.js';
import { TrashWriter } from '../store/trash-records.js';
import { findUserTrash } from './trash-dirs.js';
import { trashCredentials } from './trash-remove.js';

export interface PurgeStep {
  readonly removedInodes: number;
  /** The item is gone (or was never there); false: another step is needed. */
  readonly done: boolean;
}

/**
 * One transaction's worth of purging item `key` (at most `inodesPerTransaction` inodes). With
 * `expiresAtNs` (the cleaner, from the expiry index), only an item of that expiry is purged, and
 * an index entry naming none is cleared.
 */
export async function purgeStep(
  writer: MetaWriter,
  ctx: OpContext,
  key: TrashItemKey,
  options: { expiresAtNs?: bigint; inodesPerTransaction?: number } = {},
): Promise<PurgeStep> {
  const records = new TrashWriter(writer.transaction);
  const fields = await records.item(key);
  if (options.expiresAtNs !== undefined && fields?.expiresAtNs !== options.expiresAtNs) {
    records.deleteExpiryEntry(key, options.expiresAtNs);
    return { removedInodes: 0, done: true };
  }
  if (fields === undefined) return { removedInodes: 0, done: true };
  const userTrash = await findUserTrash(writer, key.uid);
  const entry = userTrash === undefined ? undefined : await writer.entry(userTrash.ino, key.name);
  if (userTrash === undefined || entry?.ino !== fields.ino) {
    // Moved or removed by hand through a mount: nothing of it is left to purge.
    records.deleteItem(key, fields.expiresAtNs);
    return { removedInodes: 0, done: true };
  }
  const system: OpContext = { ...ctx, cred: trashCredentials };
  let removedInodes = 0;
  if (entry.type === 'directory') {
    const budget = options.inodesPerTransaction ?? limits.metaTrashPurgeInodesPerTransaction;
    const below = await purgeBelow(writer, system, fields.ino, budget);
    if (!below.emptied) return { removedInodes: below.removed, done: false };
    writer.deleteEntry(userTrash.ino, key.name);
    await writer.deleteInode(fields.ino);
    await addSubdirectoryLink(writer, userTrash.ino, -1);
    removedInodes = below.removed + 1;
  } else {
    writer.deleteEntry(userTrash.ino, key.name);
    if (await dropLink(writer, system, fields.ino)) removedInodes = 1;
  }
  await touchDirectory(writer, userTrash.ino, ctx.nowNs);
  records.deleteItem(key, fields.expiresAtNs);
  return { removedInodes, done: true };
}

/**
 * Removes up to `budget` inodes below directory `top`, deepest first; `emptied` when `top` has no
 * entries left. Each removed subdirectory gives back its parent's link, so a step that stops
 * midway leaves consistent link counts.
 */
async function purgeBelow(
  writer: MetaWriter,
  ctx: OpContext,
  top: InodeId,
  budget: number,
): Promise<{ removed: number; emptied: boolean }> {
  // The directories from `top` down to the one being emptied, each with its name in the one above.
  const frames: Array<{ ino: InodeId; name: string }> = [{ ino: top, name: '' }];
  let removed = 0;
  let left = budget;
  for (;;) {
    const current = frames[frames.length - 1];
    assert(current !== undefined, 'the walk keeps its top');
    if (left <= 0) return { removed, emptied: false };
    // Removed entries vanish from this transaction's own reads: each read starts afresh.
    const page = await writer.listEntries(current.ino, undefined, Math.min(left, limits.metaReaddirPageMax));
    if (page.length === 0) {
      if (frames.length === 1) return { removed, emptied: true };
      frames.pop();
      const parent = frames[frames.length - 1] as { ino: InodeId };
      writer.deleteEntry(parent.ino, current.name);
      await writer.deleteInode(current.ino);
      await addSubdirectoryLink(writer, parent.ino, -1);
      removed += 1;
      left -= 1;
      continue;
    }
    for (const entry of page) {
      if (entry.type === 'directory') continue;
      writer.deleteEntry(current.ino, entry.name);
      if (await dropLink(writer, ctx, entry.ino)) removed += 1;
      left -= 1;
    }
    const subdirectory = page.find((entry) => entry.type === 'directory');
    if (subdirectory !== undefined) {
      if (frames.length >= limits.metaDirectoryDepthMax) {
        throw new FsError(
          MetaCode.InvalidArgument,
          `the tree below ${top} is deeper than ${limits.metaDirectoryDepthMax}`,
        );
      }
      frames.push({ ino: subdirectory.ino, name: subdirectory.name });
    }
  }
}
