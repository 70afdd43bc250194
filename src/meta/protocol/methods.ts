/**
 * RPC methods served by every meta service (service id 2). Requests carry the caller's
 * credentials; every mutation is one KV transaction on the service side, so any meta service may
 * answer any call. Errors come back as MetaCode statuses (see common/status-code.ts for the errno
 * each stands for); malformed requests as RpcCode.BadRequest.
 *
 * Bounds on list sizes here are the schema's; the service applies the exact byte bounds on names
 * and paths (NameTooLong) itself.
 */
import { z } from 'zod';
import { limits } from '../../common/limits.js';
import { defineMethod, type MethodDef } from '../../rpc/index.js';
import { chainTableIdSchema } from '../../mgmtd/protocol/index.js';
import {
  byteRangeSchema,
  lockConflictSchema,
  lockHolderSchema,
  lockKindSchema,
  lockLeaseMsSchema,
  lockInstanceSchema,
  lockModeSchema,
  lockPidSchema,
  lockReleaseScopeSchema,
} from './locks.js';
import { quotaGraceSchema, quotaInfoSchema, quotaLimitChangeSchema } from './quota.js';
import {
  s3AccessKeyIdSchema,
  s3KeyInfoSchema,
  s3KeyNameSchema,
  s3KeyOwnerSchema,
  s3KeySchema,
  s3SecretAccessKeySchema,
} from './s3-keys.js';
import { trashExpirySchema, trashItemKeySchema, trashItemSchema, trashRemoveWhatSchema } from './trash.js';
import {
  bytesSchema,
  chunkSizeSchema,
  clientIdSchema,
  credentialsSchema,
  deviceNumberSchema,
  directoryEntrySchema,
  fileLayoutSchema,
  inodeIdSchema,
  inodeSchema,
  modeSchema,
  pathAtSchema,
  requestIdSchema,
  sessionSchema,
  specialTypeSchema,
  stripeSizeSchema,
  timeNsSchema,
  uidSchema,
  gidSchema,
} from './types.js';

/** The request type of a method. */
export type RequestOf<M> = M extends MethodDef<infer Request, unknown> ? Request : never;
/** The response type of a method. */
export type ResponseOf<M> = M extends MethodDef<unknown, infer Response> ? Response : never;

/** Service id of the meta service in RPC frame headers. */
export const metaServiceId = 2;

/** Loose bound on names in requests; the service refuses over metaNameBytesMax with NameTooLong. */
const nameSchema = z.string().max(4_096);
const inodeReply = z.strictObject({ inode: inodeSchema });
const empty = z.strictObject({});
const cred = credentialsSchema;

/** A length report: the highest written offset, under the truncate version the writer saw at open. */
export const lengthReportSchema = z.strictObject({
  bytes: z
    .bigint()
    .min(0n)
    .max((1n << 63n) - 1n),
  truncateVersion: z.number().int().min(0),
});
export type LengthReport = z.infer<typeof lengthReportSchema>;

/** A time to set: nanoseconds since the epoch, or "now" (the service's clock). */
export const timeSpecSchema = z.union([z.literal('now'), timeNsSchema]);
export type TimeSpec = z.infer<typeof timeSpecSchema>;

/**
 * An idempotent call that changes metadata: it is not recorded under a request id, so it names its
 * client as `origin` instead, for the change log (clients skip their own changes there).
 */
const idempotentMutation = 'idempotent mutation';

const originMethods = new WeakSet<MethodDef<unknown, unknown>>();

/** True when `method` takes its client's id as `origin` (an idempotent mutation). */
export function takesOrigin(method: MethodDef<unknown, unknown>): boolean {
  return originMethods.has(method);
}

/**
 * A meta method. Mutations (not idempotent) also accept an optional `requestId` (types.ts): the
 * service records what a request id's transaction returned in that transaction, and answers a
 * retry with the same id from the record, so clients may retry any call after a lost reply.
 * Idempotent mutations accept an optional `origin` instead.
 */
function method<ReqS extends z.ZodObject, ResS extends z.ZodType>(
  methodId: number,
  name: string,
  request: ReqS,
  response: ResS,
  idempotent: boolean | typeof idempotentMutation,
) {
  const defined = defineMethod({
    serviceId: metaServiceId,
    methodId,
    name: `Meta.${name}`,
    request: (idempotent === idempotentMutation
      ? request.extend({ origin: clientIdSchema.optional() })
      : idempotent
        ? request
        : request.extend({ requestId: requestIdSchema.optional() })) as unknown as ReqS,
    response,
    idempotent: idempotent !== false,
  });
  if (idempotent === idempotentMutation) originMethods.add(defined as MethodDef<unknown, unknown>);
  return defined;
}

export const statFs = method(
  1,
  'statFs',
  z.strictObject({ cred }),
  z.strictObject({
    capacityBytes: z.number().int().min(0),
    usedBytes: z.number().int().min(0),
    freeBytes: z.number().int().min(0),
    /** Inodes in use; null while a namespace from before inode counting is not counted yet. */
    inodesInUse: z.number().int().min(0).nullable(),
    nameBytesMax: z.number().int().min(1),
    chunkSizeBytes: z.number().int().min(1),
  }),
  true,
);

export const stat = method(
  2,
  'stat',
  z.strictObject({
    cred,
    at: pathAtSchema,
    /** Follow a symlink as the last component (stat rather than lstat); default true. */
    followLast: z.boolean().optional(),
  }),
  inodeReply,
  true,
);

export const lookup = method(
  3,
  'lookup',
  z.strictObject({ cred, parent: inodeIdSchema, name: nameSchema }),
  inodeReply,
  true,
);

export const batchStat = method(
  4,
  'batchStat',
  z.strictObject({ cred, inos: z.array(inodeIdSchema).max(limits.metaBatchStatMax) }),
  z.strictObject({ inodes: z.array(inodeSchema.nullable()) }),
  true,
);

/**
 * The caller's umask, for a create, mkdir or mknod whose `mode` it was not applied to yet: meta
 * applies it unless the parent directory has a default ACL, which replaces it (acl(5)).
 */
const umaskSchema = z.number().int().min(0).max(0o777);

export const create = method(
  5,
  'create',
  z.strictObject({
    cred,
    at: pathAtSchema,
    mode: modeSchema,
    umask: umaskSchema.optional(),
    /** O_EXCL: fail with Exists when the name exists (a symlink as the last component included). */
    exclusive: z.boolean().optional(),
    /** O_TRUNC: an existing file is truncated to zero. */
    truncate: z.boolean().optional(),
    /** Open for reading (default false) and writing (default true), as the access mode says. */
    read: z.boolean().optional(),
    write: z.boolean().optional(),
    /** Required when `write`: the write session to open. */
    session: sessionSchema.optional(),
  }),
  z.strictObject({ inode: inodeSchema, created: z.boolean() }),
  false,
);

export const mkdirs = method(
  6,
  'mkdirs',
  z.strictObject({
    cred,
    at: pathAtSchema,
    mode: modeSchema,
    umask: umaskSchema.optional(),
    /** mkdir -p (default false). */ recursive: z.boolean().optional(),
  }),
  inodeReply,
  false,
);

export const symlink = method(
  7,
  'symlink',
  z.strictObject({ cred, at: pathAtSchema, target: z.string().max(65_536) }),
  inodeReply,
  false,
);

export const readlink = method(
  8,
  'readlink',
  z.strictObject({ cred, at: pathAtSchema }),
  z.strictObject({ target: z.string() }),
  true,
);

export const hardLink = method(
  9,
  'hardLink',
  z.strictObject({
    cred,
    source: pathAtSchema,
    target: pathAtSchema,
    /** AT_SYMLINK_FOLLOW: link what a symlink source points at, not the link itself (default false). */
    followSource: z.boolean().optional(),
  }),
  inodeReply,
  false,
);

/**
 * What a removal did: the inode whose name went (its link count changed), and the time the
 * directory's mtime and ctime were set to, so a client that caches attributes keeps them exact.
 */
const removalReply = z.strictObject({ ino: inodeIdSchema.optional(), changedAtNs: timeNsSchema.optional() });

export const unlink = method(10, 'unlink', z.strictObject({ cred, at: pathAtSchema }), removalReply, false);

export const rmdir = method(11, 'rmdir', z.strictObject({ cred, at: pathAtSchema }), removalReply, false);

export const removeRecursive = method(
  12,
  'removeRecursive',
  z.strictObject({ cred, at: pathAtSchema }),
  z.strictObject({ removedInodes: z.number().int().min(0) }),
  false,
);

export const rename = method(
  13,
  'rename',
  z.strictObject({
    cred,
    source: pathAtSchema,
    target: pathAtSchema,
    /** RENAME_NOREPLACE: fail with Exists rather than replace the target (default false). */
    noReplace: z.boolean().optional(),
  }),
  inodeReply,
  false,
);

export const setAttr = method(
  14,
  'setAttr',
  z.strictObject({
    cred,
    at: pathAtSchema,
    /** Default true; false changes a symlink itself (lchown, lutimes). */
    followLast: z.boolean().optional(),
    mode: modeSchema.optional(),
    uid: uidSchema.optional(),
    gid: gidSchema.optional(),
    atime: timeSpecSchema.optional(),
    mtime: timeSpecSchema.optional(),
    /**
     * The write session of the open file the change comes through (ftruncate): its writer's
     * permission was checked when it opened the file, so a truncate through it is not checked
     * against the mode the file has now (POSIX). Without it, or when the file no longer has that
     * session, truncate needs write permission.
     */
    session: sessionSchema.optional(),
    /** Truncate (or extend) a file to this many bytes. */
    length: z
      .bigint()
      .min(0n)
      .max((1n << 64n) - 1n)
      .optional(),
  }),
  inodeReply,
  idempotentMutation,
);

export const readDir = method(
  15,
  'readDir',
  z.strictObject({
    cred,
    at: pathAtSchema,
    /** The last name of the previous page; absent for the first page. */
    cursor: nameSchema.optional(),
    limit: z.number().int().min(1).max(limits.metaReaddirPageMax),
  }),
  z.strictObject({ entries: z.array(directoryEntrySchema), nextCursor: z.string().nullable() }),
  true,
);

export const open = method(
  16,
  'open',
  z.strictObject({
    cred,
    at: pathAtSchema,
    /** The access mode: read (default true) and write (default false). */
    read: z.boolean().optional(),
    write: z.boolean().optional(),
    /** O_TRUNC (default false). */
    truncate: z.boolean().optional(),
    /** O_NOFOLLOW: a symlink as the last component fails with TooManySymlinks. */
    noFollow: z.boolean().optional(),
    /** Required when `write`. */
    session: sessionSchema.optional(),
  }),
  inodeReply,
  false,
);

export const close = method(
  17,
  'close',
  z.strictObject({
    cred,
    ino: inodeIdSchema,
    session: sessionSchema,
    length: lengthReportSchema.optional(),
    /** Set mtime and ctime to now because the session wrote (default false). */
    wrote: z.boolean().optional(),
  }),
  z.strictObject({ inode: inodeSchema.nullable() }),
  idempotentMutation,
);

export const sync = method(
  18,
  'sync',
  z.strictObject({
    cred,
    ino: inodeIdSchema,
    length: lengthReportSchema,
    /** Set mtime and ctime to now because data was written (default false). */
    wrote: z.boolean().optional(),
  }),
  inodeReply,
  idempotentMutation,
);

/** The inode an xattr call applies to; `followLast` (default true) false is the l*xattr family. */
const xattrTarget = { cred, at: pathAtSchema, followLast: z.boolean().optional() };

export const getXattr = method(
  19,
  'getXattr',
  z.strictObject({ ...xattrTarget, name: nameSchema }),
  z.strictObject({ value: bytesSchema }),
  true,
);

export const setXattr = method(
  20,
  'setXattr',
  z.strictObject({
    ...xattrTarget,
    name: nameSchema,
    value: bytesSchema,
    /** XATTR_CREATE: fail if it exists; XATTR_REPLACE: fail if it does not; default any. */
    flag: z.enum(['any', 'create', 'replace']).optional(),
  }),
  empty,
  false,
);

export const listXattr = method(
  21,
  'listXattr',
  z.strictObject(xattrTarget),
  z.strictObject({ names: z.array(z.string()) }),
  true,
);

export const removeXattr = method(
  22,
  'removeXattr',
  z.strictObject({ ...xattrTarget, name: nameSchema }),
  empty,
  false,
);

export const setDirLayout = method(
  23,
  'setDirLayout',
  z.strictObject({
    cred,
    at: pathAtSchema,
    chainTableId: chainTableIdSchema.optional(),
    chunkSizeBytes: chunkSizeSchema.optional(),
    stripeSize: stripeSizeSchema.optional(),
  }),
  inodeReply,
  idempotentMutation,
);

export const pruneSessions = method(
  24,
  'pruneSessions',
  z.strictObject({ clientId: clientIdSchema }),
  z.strictObject({ removedSessions: z.number().int().min(0), reclaimedInodes: z.number().int().min(0) }),
  true,
);

/** A removed file whose chunks storage must still delete. */
export const gcEntrySchema = z.strictObject({
  ino: inodeIdSchema,
  layout: fileLayoutSchema,
  /** Bytes the file spanned when removed: chunks 0..ceil(length/chunk) may exist. */
  length: z.bigint().min(0n),
  removedAtNs: timeNsSchema,
});
export type GcEntry = z.infer<typeof gcEntrySchema>;

/** A shrinking truncate whose chunk data storage must still cut. */
export const pendingTruncationSchema = z.strictObject({
  ino: inodeIdSchema,
  layout: fileLayoutSchema,
  /** Bytes from this offset on are gone. */
  fromBytes: z.bigint().min(0n),
  /** Bytes the file may have spanned before: the end of the data to cut. */
  toBytes: z.bigint().min(0n),
  truncateVersion: z.number().int().min(0),
  requestedAtNs: timeNsSchema,
});
export type PendingTruncation = z.infer<typeof pendingTruncationSchema>;

const listRequest = z.strictObject({
  after: inodeIdSchema.optional(),
  limit: z.number().int().min(1).max(limits.metaGcListMax),
});

export const listGcQueue = method(
  25,
  'listGcQueue',
  listRequest,
  z.strictObject({ entries: z.array(gcEntrySchema), more: z.boolean() }),
  true,
);

export const listPendingTruncations = method(
  26,
  'listPendingTruncations',
  listRequest,
  z.strictObject({ entries: z.array(pendingTruncationSchema), more: z.boolean() }),
  true,
);

/** A directory entry naming an inode that does not exist. */
export const danglingEntrySchema = z.strictObject({
  parent: inodeIdSchema,
  name: nameSchema,
  ino: inodeIdSchema,
});
export type DanglingEntry = z.infer<typeof danglingEntrySchema>;

export const checkInvariants = method(
  27,
  'checkInvariants',
  empty,
  z.strictObject({
    problems: z.array(z.string()),
    /** True when more problems exist than were listed. */
    truncated: z.boolean(),
    inodes: z.number().int().min(0),
    entries: z.number().int().min(0),
    /** The entries among the problems that name missing inodes (removeDanglingEntries takes them). */
    danglingEntries: z.array(danglingEntrySchema).max(limits.metaFsckProblemsMax).optional(),
  }),
  true,
);

/**
 * Removes directory entries that name missing inodes (`admin fsck --repair`), each only if it
 * still names that inode and the inode is still missing; root only. Returns those removed.
 */
export const removeDanglingEntries = method(
  39,
  'removeDanglingEntries',
  z.strictObject({
    cred,
    entries: z.array(danglingEntrySchema).min(1).max(limits.metaFsckRepairsPerCallMax),
  }),
  z.strictObject({ removed: z.array(danglingEntrySchema) }),
  false,
);

export const mknod = method(
  28,
  'mknod',
  z.strictObject({
    cred,
    at: pathAtSchema,
    type: specialTypeSchema,
    mode: modeSchema,
    umask: umaskSchema.optional(),
    /** Required for device nodes, refused for FIFOs and sockets. */
    device: deviceNumberSchema.optional(),
  }),
  inodeReply,
  false,
);

/**
 * Makes every metadata change committed before the call durable (fsync and fsyncdir). Each change
 * is acknowledged once it survives the death of any process; on sqlite "interval" it reaches the
 * disk within the commit interval, and this waits for that at once. Other engines answer at once.
 */
export const syncMetadata = method(29, 'syncMetadata', z.strictObject({ cred }), empty, true);

/** One change a meta service committed (change-log.ts); `origin` is the client that made it. */
export const changeItemSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('entry'),
    parent: inodeIdSchema,
    name: nameSchema,
    origin: clientIdSchema.optional(),
  }),
  z.strictObject({ kind: z.literal('inode'), ino: inodeIdSchema, origin: clientIdSchema.optional() }),
  /** More changed in one transaction than an item lists: everything cached may be stale. */
  z.strictObject({ kind: z.literal('all'), origin: clientIdSchema.optional() }),
]);
export type ChangeItem = z.infer<typeof changeItemSchema>;

/**
 * The changes this service committed after position (`epoch`, `after`), for clients that cache
 * metadata. `reset` says the position is not in the service's log (it restarted, or the caller
 * fell behind): the caller drops everything it cached and goes on from (`epoch`, `last`).
 */
export const changes = method(
  30,
  'changes',
  z.strictObject({
    epoch: z.string().max(32).optional(),
    after: z.number().int().min(0),
    limit: z.number().int().min(1).max(limits.metaChangesPerPollMax),
  }),
  z.strictObject({
    epoch: z.string().max(32),
    last: z.number().int().min(0),
    items: z.array(changeItemSchema),
    reset: z.boolean(),
    more: z.boolean(),
  }),
  true,
);

/**
 * Closes write sessions that wrote nothing, several in one transaction (the client defers them, so
 * that closing an unwritten file costs no round trip). Like close without a report; a session or
 * file already gone is skipped.
 */
export const closeSessions = method(
  31,
  'closeSessions',
  z.strictObject({
    cred,
    sessions: z
      .array(z.strictObject({ ino: inodeIdSchema, session: sessionSchema }))
      .min(1)
      .max(limits.metaSessionsClosedPerCallMax),
  }),
  z.strictObject({ closed: z.number().int().min(0) }),
  idempotentMutation,
);

// --- cluster-wide flock and POSIX locks (locks.ts, meta/ops/locks.ts). None of these waits: a
// caller that wants to wait for a conflicting lock asks again. Each is idempotent (asking twice
// leaves what asking once did), so clients retry them after any transport failure.

/**
 * F_GETLK: the first lock of another holder (another client, or another owner of the same client)
 * that conflicts with `range` in `mode`, with its holder; null when none does. Locks whose
 * client's lease lapsed do not count.
 */
export const getLock = method(
  32,
  'getLock',
  z.strictObject({
    ino: inodeIdSchema,
    kind: lockKindSchema,
    holder: lockHolderSchema,
    mode: lockModeSchema,
    range: byteRangeSchema,
  }),
  z.strictObject({ conflict: lockConflictSchema.nullable() }),
  true,
);

/**
 * Sets (`read`, `write`) or clears (`unlock`) `holder`'s lock on `range` (a flock lock covers the
 * whole file whatever the range says). A conflict answers `granted: false` with the lock in the
 * way; a granted lock is tied to the client's lease, created or extended by `leaseMs` when needed,
 * whose `epoch` is returned. `holds` says whether the client still holds any lock on the file.
 */
export const setLock = method(
  33,
  'setLock',
  z.strictObject({
    ino: inodeIdSchema,
    kind: lockKindSchema,
    holder: lockHolderSchema,
    mode: z.enum(['read', 'write', 'unlock']),
    range: byteRangeSchema,
    /** The process setting the lock, reported by F_GETLK to others. */
    pid: lockPidSchema,
    leaseMs: lockLeaseMsSchema,
  }),
  z.strictObject({
    granted: z.boolean(),
    conflict: lockConflictSchema.nullable(),
    holds: z.boolean(),
    epoch: z.number().int().min(0).nullable(),
  }),
  true,
);

/**
 * Releases one owner's locks of one kind on one file (a close: flush for POSIX locks, the last
 * release of an open file for flock), or every lock of the client (unmount; its lease ends too).
 * `holds`: whether the client still holds any lock on that file (false for the whole client).
 */
export const releaseLocks = method(
  34,
  'releaseLocks',
  z.strictObject({ clientId: clientIdSchema, release: lockReleaseScopeSchema }),
  z.strictObject({ released: z.number().int().min(0), holds: z.boolean() }),
  true,
);

/**
 * Extends the client's lock lease by `leaseMs` while this life of it (`instance`) holds it and it
 * has not lapsed: its epoch, or null when the lease was lost (its locks are gone).
 */
export const renewLockLease = method(
  35,
  'renewLockLease',
  z.strictObject({ clientId: clientIdSchema, instance: lockInstanceSchema, leaseMs: lockLeaseMsSchema }),
  z.strictObject({ epoch: z.number().int().min(0).nullable() }),
  true,
);

// --- the trash (trash.ts, meta/trash/). Items belong to the remover's trash; a caller lists,
// restores and purges its own, root everyone's.

/**
 * Removes what `at` names (as unlink, rmdir or rm -r, by `what`, with their permission checks)
 * into the caller's trash for `expireS` seconds; without it, for the nearest directory's setting
 * (setTrashPolicy), else `defaultExpireS` (a mount's), else not at all: then, and for anything
 * already in the trash, the removal is permanent and `item` is null.
 */
export const trashRemove = method(
  40,
  'trashRemove',
  z.strictObject({
    cred,
    at: pathAtSchema,
    what: trashRemoveWhatSchema,
    expireS: trashExpirySchema.optional(),
    defaultExpireS: trashExpirySchema.optional(),
  }),
  z.strictObject({
    ino: inodeIdSchema.optional(),
    changedAtNs: timeNsSchema.optional(),
    /** Inodes released by a permanent removal (0 when moved into the trash). */
    removedInodes: z.number().int().min(0),
    item: trashItemSchema.nullable(),
    /** The trash directory the item went into (a mount that caches names drops what it knew of it). */
    trashDirectory: inodeIdSchema.optional(),
  }),
  false,
);

/**
 * Items of `uid`'s trash (the caller's own by default; root may name anyone, or list every user's
 * without `uid`), in key order after `after`; items whose entry was moved or removed by hand
 * through a mount are left out. `nowNs` is meta's clock, against which items expire.
 */
export const listTrash = method(
  41,
  'listTrash',
  z.strictObject({
    cred,
    uid: uidSchema.optional(),
    after: trashItemKeySchema.optional(),
    limit: z.number().int().min(1).max(limits.metaTrashListPageMax),
  }),
  z.strictObject({
    items: z.array(trashItemSchema),
    nextCursor: trashItemKeySchema.nullable(),
    nowNs: timeNsSchema,
  }),
  true,
);

/**
 * Moves an item back: to `to`, or into its original directory (by inode id while that exists
 * outside the trash, else by its original path) under its original name. An existing target is
 * refused (Exists) unless `overwrite`, which replaces it as rename(2) would.
 */
export const restoreTrash = method(
  42,
  'restoreTrash',
  z.strictObject({
    cred,
    item: trashItemKeySchema,
    to: pathAtSchema.optional(),
    overwrite: z.boolean().optional(),
  }),
  z.strictObject({ inode: inodeSchema, parent: inodeIdSchema, name: z.string() }),
  false,
);

/**
 * Removes an item for good, a bounded number of transactions per call: `done` false means call
 * again. A file's chunks go to the GC queue as with any removal.
 */
export const purgeTrash = method(
  43,
  'purgeTrash',
  z.strictObject({ cred, item: trashItemKeySchema }),
  z.strictObject({ removedInodes: z.number().int().min(0), done: z.boolean() }),
  true,
);

/**
 * A directory's trash setting, which removals below it follow (the nearest setting wins):
 * `expireS` seconds in the trash, 0 for permanent removals; `clear` drops it. Owner or root. With
 * neither, changes nothing. Answers the setting in force and the directory it comes from.
 */
export const setTrashPolicy = method(
  44,
  'setTrashPolicy',
  z.strictObject({
    cred,
    at: pathAtSchema,
    expireS: z.number().int().min(0).max(limits.trashExpireSMax).optional(),
    clear: z.boolean().optional(),
  }),
  z.strictObject({
    expireS: z.number().int().min(0).nullable(),
    from: inodeIdSchema.nullable(),
    fromPath: z.string().nullable(),
  }),
  true,
);

// --- access keys of the S3 gateway (s3-keys.ts, meta/s3-keys.ts). Root only; all idempotent.

/**
 * Stores a new access key (generated by the caller) under meta's clock. The same key again (a
 * retry) answers the stored one; another key with the same id is refused (Exists).
 */
export const s3KeyAdd = method(
  45,
  's3KeyAdd',
  z.strictObject({
    cred,
    accessKeyId: s3AccessKeyIdSchema,
    secretAccessKey: s3SecretAccessKeySchema,
    name: s3KeyNameSchema,
    owner: s3KeyOwnerSchema,
  }),
  z.strictObject({ key: s3KeyInfoSchema }),
  true,
);

/** One key with its secret, or null when there is none (the gateway's lookup). */
export const s3KeyGet = method(
  46,
  's3KeyGet',
  z.strictObject({ cred, accessKeyId: s3AccessKeyIdSchema }),
  z.strictObject({ key: s3KeySchema.nullable() }),
  true,
);

/** Keys in id order after `after`, without their secrets. */
export const s3KeyList = method(
  47,
  's3KeyList',
  z.strictObject({
    cred,
    after: s3AccessKeyIdSchema.optional(),
    limit: z.number().int().min(1).max(limits.metaS3KeyListPageMax),
  }),
  z.strictObject({ keys: z.array(s3KeyInfoSchema), nextCursor: s3AccessKeyIdSchema.nullable() }),
  true,
);

/** Removes a key; `removed` says whether it existed. */
export const s3KeyRemove = method(
  48,
  's3KeyRemove',
  z.strictObject({ cred, accessKeyId: s3AccessKeyIdSchema }),
  z.strictObject({ removed: z.boolean() }),
  true,
);

// --- directory quotas (quota.ts, meta/quota/). Root sets and removes them; anyone reads them.

/**
 * Sets a quota on the directory `at` names, or changes its limits (absent: unchanged, null:
 * dropped); root only. A new quota counts what is already below the directory in bounded steps,
 * up to metaQuotaCountTransactionsPerCall per call: `done` false means call again (with no
 * changes) to go on. Answers the quota.
 */
export const quotaSet = method(
  50,
  'quotaSet',
  z.strictObject({
    cred,
    at: pathAtSchema,
    hardBytes: quotaLimitChangeSchema,
    softBytes: quotaLimitChangeSchema,
    hardInodes: quotaLimitChangeSchema,
    softInodes: quotaLimitChangeSchema,
    graceS: quotaGraceSchema.optional(),
  }),
  z.strictObject({ quota: quotaInfoSchema, done: z.boolean() }),
  true,
);

/**
 * The quota on the directory `at` names (null when it has none), and the quotas that count it
 * (of the directories above it), outermost first.
 */
export const quotaGet = method(
  51,
  'quotaGet',
  z.strictObject({ cred, at: pathAtSchema }),
  z.strictObject({ quota: quotaInfoSchema.nullable(), containing: z.array(quotaInfoSchema) }),
  true,
);

/** Every quota in id order (the order they were set in) after `after`; root only. */
export const quotaList = method(
  52,
  'quotaList',
  z.strictObject({
    cred,
    after: inodeIdSchema.optional(),
    limit: z.number().int().min(1).max(limits.metaQuotaListPageMax),
  }),
  z.strictObject({ quotas: z.array(quotaInfoSchema), nextCursor: inodeIdSchema.nullable() }),
  true,
);

/** Removes the quota on the directory `at` names; root only. `removed` says whether it had one. */
export const quotaRemove = method(
  53,
  'quotaRemove',
  z.strictObject({ cred, at: pathAtSchema }),
  z.strictObject({ removed: z.boolean() }),
  true,
);

/**
 * Grants the writer of file `ino` (through its write session `session`) room to make the file
 * `endBytes` long, and up to metaQuotaGrantBytes more, held against the file's quotas until the
 * file's last write session closes. Answers the length the file may now reach, which is below
 * `endBytes` when the quotas hold less (the writer may write up to it, and past it gets EDQUOT),
 * or null when no quota limits the file's bytes.
 */
export const quotaGrant = method(
  54,
  'quotaGrant',
  z.strictObject({
    cred,
    ino: inodeIdSchema,
    session: sessionSchema,
    endBytes: z
      .bigint()
      .min(0n)
      .max((1n << 63n) - 1n),
  }),
  z.strictObject({ ceilingBytes: z.bigint().min(0n).nullable() }),
  true,
);

/**
 * The quota statfs(2) of inode `ino` reports (df): the directory's own quota, else the quota
 * counting it with the least room left; null when no quota with a limit counts it.
 */
export const quotaStatFs = method(
  55,
  'quotaStatFs',
  z.strictObject({ cred, ino: inodeIdSchema }),
  z.strictObject({ quota: quotaInfoSchema.nullable() }),
  true,
);

/**
 * The destination of a clone (meta/ops/clone.ts): a new file at `target` with the layout and length
 * of the file at `source` (a symlink there is followed), whose chunks the caller then clones in
 * storage. `mode` defaults to the source's permission bits; `umask` applies as for a create.
 * Fails with Exists when `target` exists.
 */
export const cloneFile = method(
  56,
  'cloneFile',
  z.strictObject({
    cred,
    source: pathAtSchema,
    target: pathAtSchema,
    mode: modeSchema.optional(),
    umask: umaskSchema.optional(),
  }),
  z.strictObject({ source: inodeSchema, inode: inodeSchema }),
  false,
);
