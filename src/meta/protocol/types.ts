/**
 * The meta service's data types as they cross the wire: inode ids, callers' credentials, inodes
 * with their file layouts, directory entries. Shared by the meta service and every caller.
 *
 * Inode ids are u64 bigints; times are u64 nanoseconds since the epoch (bigints), so utimensat's
 * precision survives. `mode` holds the permission bits with setuid, setgid and sticky (0o7777);
 * the file type is the separate `type` field, and the FUSE edge composes st_mode from both.
 */
import { z } from 'zod';
import { limits } from '../../common/limits.js';
import { chainIdSchema, chainTableIdSchema } from '../../mgmtd/protocol/index.js';

const u64Max = (1n << 64n) - 1n;

/** An inode id. */
export const inodeIdSchema = z.bigint().min(0n).max(u64Max);
export type InodeId = bigint;

/** The root directory's inode id. */
export const rootInodeId: InodeId = 1n;

/**
 * Kinds of inode. FIFOs, sockets and device nodes are special files: meta keeps their inode and
 * names like any other's, while their I/O belongs to the kernel (pipes, sockets) or a driver
 * (devices) on the machine that opens them.
 */
export const InodeType = {
  File: 'file',
  Directory: 'directory',
  Symlink: 'symlink',
  Fifo: 'fifo',
  Socket: 'socket',
  CharDevice: 'charDevice',
  BlockDevice: 'blockDevice',
} as const;
export type InodeType = (typeof InodeType)[keyof typeof InodeType];
export const inodeTypeSchema = z.enum([
  'file',
  'directory',
  'symlink',
  'fifo',
  'socket',
  'charDevice',
  'blockDevice',
]);

/** Special files without a device number. */
export const pipeTypeSchema = z.enum(['fifo', 'socket']);
/** Device nodes, which carry a device number. */
export const deviceTypeSchema = z.enum(['charDevice', 'blockDevice']);
/** The types mknod makes (regular files come from create). */
export const specialTypeSchema = z.enum(['fifo', 'socket', 'charDevice', 'blockDevice']);
export type SpecialType = z.infer<typeof specialTypeSchema>;

/** The largest major and minor device numbers: Linux's dev_t holds 12 bits of major, 20 of minor. */
export const deviceMajorMax = 0xfff;
export const deviceMinorMax = 0xf_ffff;

/** A device node's device number (st_rdev), as major and minor. */
export const deviceNumberSchema = z.strictObject({
  major: z.number().int().min(0).max(deviceMajorMax),
  minor: z.number().int().min(0).max(deviceMinorMax),
});
export type DeviceNumber = z.infer<typeof deviceNumberSchema>;

/** Permission bits with setuid (0o4000), setgid (0o2000) and sticky (0o1000). */
export const modeSchema = z.number().int().min(0).max(0o7777);
const u32 = z.number().int().min(0).max(0xffff_ffff);
export const uidSchema = u32;
export const gidSchema = u32;
/** Nanoseconds since the epoch. */
export const timeNsSchema = z.bigint().min(0n).max(u64Max);

/** Who is calling: the uid, gid and supplementary groups every permission check is made for. */
export const credentialsSchema = z.strictObject({
  uid: uidSchema,
  gid: gidSchema,
  groups: z.array(gidSchema).max(limits.metaGroupsMax),
});
export type Credentials = z.infer<typeof credentialsSchema>;

/** Chunk size bounds: 4 KiB (a page) to 64 MiB (the largest chunk storage and frames carry). */
export const chunkSizeSchema = z
  .number()
  .int()
  .min(4096)
  .max(64 * 1024 * 1024);
/** Chains one file is striped over. */
export const stripeSizeSchema = z.number().int().min(1).max(256);

/** A directory's default layout, copied into every file created in it and inherited by subdirectories. */
export const directoryLayoutSchema = z.strictObject({
  chainTableId: chainTableIdSchema,
  chunkSizeBytes: chunkSizeSchema,
  stripeSize: stripeSizeSchema,
});
export type DirectoryLayout = z.infer<typeof directoryLayoutSchema>;

/**
 * A file's layout, fixed at create: chunk i lives on `chains[shuffle(seed)[i mod stripeSize]]`
 * (see layout.ts), so any client computes placement without asking the meta service.
 */
export const fileLayoutSchema = z
  .strictObject({
    chainTableId: chainTableIdSchema,
    chainTableVersion: z.number().int().min(1),
    chunkSizeBytes: chunkSizeSchema,
    stripeSize: stripeSizeSchema,
    chains: z.array(chainIdSchema).min(1).max(256),
    /** Seeds the permutation of `chains` (u32). */
    seed: u32,
  })
  .refine((layout) => layout.chains.length === layout.stripeSize, 'a layout names stripeSize chains');
export type FileLayout = z.infer<typeof fileLayoutSchema>;

/** The two extended attribute names POSIX ACLs are read and written through (meta/acl.ts). */
export const AclXattr = {
  Access: 'system.posix_acl_access',
  Default: 'system.posix_acl_default',
} as const;
export type AclXattr = (typeof AclXattr)[keyof typeof AclXattr];

/** True for the names of ACL attributes. */
export function isAclXattr(name: string): name is AclXattr {
  return name === AclXattr.Access || name === AclXattr.Default;
}

/** Permission bits of one ACL entry: read 4, write 2, execute 1. */
export const aclPermSchema = z.number().int().min(0).max(7);

/** A named user's or named group's entry of an ACL. */
export const aclNamedEntrySchema = z.strictObject({ id: u32, perm: aclPermSchema });
export type AclNamedEntry = z.infer<typeof aclNamedEntrySchema>;

/** Named entries of one ACL, sorted by id without repeats (meta/acl.ts checks the order). */
const aclNamedEntriesSchema = z.array(aclNamedEntrySchema).max(limits.metaAclEntriesMax);

/**
 * An access ACL beyond what the mode says (acl(5)), kept only when it is not equivalent to a
 * mode. The mode holds the rest: its owner bits are USER_OBJ, its other bits OTHER, and its group
 * bits the MASK, which every such ACL has. So chmod changes the ACL as POSIX wants with no
 * second copy to keep in step.
 */
export const accessAclSchema = z.strictObject({
  /** GROUP_OBJ: the owning group's own permissions (limited by the mask when checked). */
  groupObj: aclPermSchema,
  users: aclNamedEntriesSchema,
  groups: aclNamedEntriesSchema,
});
export type AccessAcl = z.infer<typeof accessAclSchema>;

/** A directory's default ACL, whole: what new inodes in it inherit (meta/acl.ts). */
export const defaultAclSchema = z.strictObject({
  userObj: aclPermSchema,
  groupObj: aclPermSchema,
  other: aclPermSchema,
  /** Required when named entries exist. */
  mask: aclPermSchema.optional(),
  users: aclNamedEntriesSchema,
  groups: aclNamedEntriesSchema,
});
export type DefaultAcl = z.infer<typeof defaultAclSchema>;

const inodeCommon = {
  ino: inodeIdSchema,
  mode: modeSchema,
  uid: uidSchema,
  gid: gidSchema,
  /**
   * Files and symlinks: directory entries naming the inode (0 while an unlinked file is still
   * open for writing). Directories: 2 + subdirectories (its entry or the root's own "..", its
   * ".", and each subdirectory's "..").
   */
  nlink: z.number().int().min(0).max(0xffff_ffff),
  atimeNs: timeNsSchema,
  mtimeNs: timeNsSchema,
  ctimeNs: timeNsSchema,
  /** POSIX ACL entries beyond the mode; absent for most inodes (and in records older than ACLs). */
  accessAcl: accessAclSchema.optional(),
  /**
   * Ids of the directory quotas this inode counts against (meta/quota/): those of the directories
   * above it that have one. Absent when none does (and in records older than quotas); an id whose
   * quota was removed since is ignored. A writer of a file with quotas asks meta for room first.
   */
  quotas: z.array(inodeIdSchema).max(limits.metaQuotaNestingMax).optional(),
};

export const fileInodeSchema = z.strictObject({
  type: z.literal('file'),
  ...inodeCommon,
  /** Bytes: the highest offset any writer reported, or the last truncate. */
  length: z
    .bigint()
    .min(0n)
    .max((1n << 63n) - 1n),
  /** Grows with every truncate; a length report made under an older value is ignored. */
  truncateVersion: z.number().int().min(0),
  layout: fileLayoutSchema,
});
export const directoryInodeSchema = z.strictObject({
  type: z.literal('directory'),
  ...inodeCommon,
  /** The directory holding this one's entry; the root is its own parent. */
  parent: inodeIdSchema,
  layout: directoryLayoutSchema,
  /** What inodes made in this directory inherit; absent: they get the mode less the umask. */
  defaultAcl: defaultAclSchema.optional(),
});
export const symlinkInodeSchema = z.strictObject({
  type: z.literal('symlink'),
  ...inodeCommon,
  target: z.string().min(1).max(4096),
});
/** A FIFO or a socket: nothing but the inode (the kernel of the machine using it does the I/O). */
export const pipeInodeSchema = z.strictObject({
  type: pipeTypeSchema,
  ...inodeCommon,
});
/** A character or block device node and the device it stands for. */
export const deviceInodeSchema = z.strictObject({
  type: deviceTypeSchema,
  ...inodeCommon,
  device: deviceNumberSchema,
});
// Records written before special files existed decode unchanged: the union only grew.
export const inodeSchema = z.discriminatedUnion('type', [
  fileInodeSchema,
  directoryInodeSchema,
  symlinkInodeSchema,
  pipeInodeSchema,
  deviceInodeSchema,
]);
export type FileInode = z.infer<typeof fileInodeSchema>;
export type DirectoryInode = z.infer<typeof directoryInodeSchema>;
export type SymlinkInode = z.infer<typeof symlinkInodeSchema>;
export type PipeInode = z.infer<typeof pipeInodeSchema>;
export type DeviceInode = z.infer<typeof deviceInodeSchema>;
/** An inode of a special file (FIFO, socket, device node). */
export type SpecialInode = PipeInode | DeviceInode;
export type Inode = z.infer<typeof inodeSchema>;

/** One directory entry as readdir returns it. */
export const directoryEntrySchema = z.strictObject({
  name: z.string(),
  ino: inodeIdSchema,
  type: inodeTypeSchema,
});
export type DirectoryEntry = z.infer<typeof directoryEntrySchema>;

/**
 * Where an operation applies: `path` resolved from directory `parent` (the root when absent), as
 * openat(2) resolves a relative path; an absolute path starts at the root whatever `parent` is.
 * An empty path names `parent` itself, which is how inode-based callers (FUSE) reach an inode.
 * Strings are bounded loosely here and exactly (in bytes) by the service, which answers
 * NameTooLong rather than a schema error, as a POSIX file system does.
 */
export const pathAtSchema = z.strictObject({
  parent: inodeIdSchema.optional(),
  path: z.string().max(65_536),
});
export type PathAt = z.infer<typeof pathAtSchema>;

/** One write session: the client process and its own id for one file descriptor open for writing. */
const sessionPartSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_.:-]+$/, 'letters, digits, "_", ".", ":" and "-"');
export const sessionSchema = z.strictObject({ clientId: sessionPartSchema, sessionId: sessionPartSchema });
export type Session = z.infer<typeof sessionSchema>;
export const clientIdSchema = sessionPartSchema;

/**
 * The id a client gives one mutation, kept across its retries, so a retry on another meta service
 * returns what the first attempt did instead of applying it twice: the client's clock at the first
 * attempt (13 decimal digits of milliseconds, so ids sort by time and old ones are swept by range),
 * its client id and a sequence number.
 */
export const requestIdSchema = z
  .string()
  .max(100)
  .regex(/^[0-9]{13}-[A-Za-z0-9_.:-]{1,64}-[0-9]{1,16}$/, 'time-clientId-sequence');

/** Formats a request id (see requestIdSchema). */
export function formatRequestId(timeMs: number, clientId: string, sequence: number): string {
  return `${Math.max(0, Math.floor(timeMs)).toString().padStart(13, '0')}-${clientId}-${sequence}`;
}

/** The client's clock at the first attempt of a request id. */
export function requestIdTimeMs(requestId: string): number {
  return Number(requestId.slice(0, 13));
}

/** Raw bytes (extended-attribute values); msgpack carries them as binary. */
export const bytesSchema = z.custom<Uint8Array>((value) => value instanceof Uint8Array, 'expected bytes');
