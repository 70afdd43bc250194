/**
 * The shapes of the meta service's records in the KV (DESIGN §6). Each carries a format version
 * for later upgrades and is validated before every write and after every read
 * (common/record-codec), so a record of the wrong shape is refused instead of spreading.
 */
import { z } from 'zod';
import {
  bytesSchema,
  gcEntrySchema,
  inodeIdSchema,
  inodeSchema,
  inodeTypeSchema,
  pendingTruncationSchema,
  timeNsSchema,
} from '../protocol/index.js';

const format1 = z.literal(1);

/** INOD: an inode; its id is repeated in the value so a record can be checked against its key. */
export const inodeRecordSchema = z.strictObject({ format: format1, inode: inodeSchema });

/** DENT: a directory entry; the child's type is kept so readdir needs no inode reads. */
export const entryRecordSchema = z.strictObject({
  format: format1,
  ino: inodeIdSchema,
  type: inodeTypeSchema,
});
export type EntryRecord = z.infer<typeof entryRecordSchema>;

/** SESS: one write session of one file. */
export const sessionRecordSchema = z.strictObject({ format: format1, openedAtNs: timeNsSchema });

/** CSES: the index entry of a session by client (all its fields are in the key). */
export const clientSessionRecordSchema = z.strictObject({ format: format1 });

/** ORPH: a file with no entry left, kept until its last write session closes. */
export const orphanRecordSchema = z.strictObject({ format: format1, orphanedAtNs: timeNsSchema });

/** GCQU: a removed file whose chunks storage must delete. */
export const gcRecordSchema = z.strictObject({ format: format1, entry: gcEntrySchema });

/** TRNC: a shrinking truncate whose chunk data storage must cut. */
export const truncationRecordSchema = z.strictObject({
  format: format1,
  truncation: pendingTruncationSchema,
});

/** XATR: one extended attribute's value. */
export const xattrRecordSchema = z.strictObject({ format: format1, value: bytesSchema });

/** IALC: the next inode id no meta service has reserved yet. */
export const inodeCounterRecordSchema = z.strictObject({ format: format1, next: inodeIdSchema });

/**
 * What one transaction of a mutation with a request id returned, replayed to a retry of it. The
 * value is the operation's own result (checked against the method's response schema on the way
 * out, like a fresh one).
 */
export const requestRecordSchema = z.strictObject({ format: format1, result: z.unknown().optional() });

/**
 * DTIM: when a directory's entries last changed (its mtime and ctime from then on, unless the
 * inode's own are later). Kept apart from the inode and written without reading it, so creates
 * and removals in one directory do not all conflict on the directory's inode.
 */
export const entryTimesRecordSchema = z.strictObject({
  format: format1,
  mtimeNs: timeNsSchema,
  ctimeNs: timeNsSchema,
});

/** ICNT: how many inodes in use have their id in one shard (see keys.inodeCountShard). */
export const inodeCountRecordSchema = z.strictObject({ format: format1, count: z.bigint().min(0n) });

/**
 * ICOK: the ICNT counts cover every inode, because the namespace was created with counting or was
 * counted whole at `countedAtNs` (0 for a namespace counted from its creation).
 */
export const inodeCountCompleteRecordSchema = z.strictObject({ format: format1, countedAtNs: timeNsSchema });
