/**
 * The wire types of the trash (meta/trash/). A removal into the trash moves the entry, in one
 * transaction and without copying data, into the remover's trash directory `/.trash/<uid>`; meta
 * keeps beside it where it came from, when it went and when it expires. Such an entry is an item,
 * named by its trash's uid and its name there.
 */
import { z } from 'zod';
import { limits } from '../../common/limits.js';
import { inodeIdSchema, inodeTypeSchema, timeNsSchema, uidSchema, type InodeId } from './types.js';

/** The trash directory's fixed inode id: ids below 16 are kept for fixed inodes, 1 being the root. */
export const trashRootInodeId: InodeId = 2n;

/** The trash directory's name in the root directory, where meta makes it at its first use. */
export const trashRootName = '.trash';

/** How long an item stays in the trash, in seconds. */
export const trashExpirySchema = z.number().int().min(1).max(limits.trashExpireSMax);

/**
 * What a removal into the trash removes, with the checks of the call it stands for: `file` as
 * unlink(2) (not a directory), `directory` as rmdir(2) (an empty directory), `tree` as rm -r
 * (anything, moved whole).
 */
export const trashRemoveWhatSchema = z.enum(['file', 'directory', 'tree']);
export type TrashRemoveWhat = z.infer<typeof trashRemoveWhatSchema>;

/** Names one item: whose trash holds it (the remover's uid) and its entry's name there. */
export const trashItemKeySchema = z.strictObject({ uid: uidSchema, name: z.string().min(1).max(4_096) });
export type TrashItemKey = z.infer<typeof trashItemKeySchema>;

/** What meta keeps of one item, beside its entry in the trash. */
export const trashItemFieldsSchema = z.strictObject({
  /** The inode the item's entry names (kept in the trash under the same id). */
  ino: inodeIdSchema,
  type: inodeTypeSchema,
  /** The directory the entry was removed from, and its name there: where a restore puts it back. */
  originalParent: inodeIdSchema,
  originalName: z.string().min(1),
  /**
   * The entry's path when removed, for people and for a restore whose original directory is gone;
   * null when an ancestor's name was not found within metaTrashPathEntriesScannedMax reads.
   */
  originalPath: z.string().nullable(),
  removedAtNs: timeNsSchema,
  expiresAtNs: timeNsSchema,
  /** Bytes of the files it holds and inodes it counts, when counted at removal (null: too large to count). */
  bytes: z.bigint().min(0n).nullable(),
  inodes: z.number().int().min(0).nullable(),
});
export type TrashItemFields = z.infer<typeof trashItemFieldsSchema>;

/** One item as listed: its key and what meta keeps of it. */
export const trashItemSchema = trashItemKeySchema.extend(trashItemFieldsSchema.shape);
export type TrashItem = z.infer<typeof trashItemSchema>;
