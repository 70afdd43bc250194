/**
 * The wire types of cluster-wide file locks (meta/locks/): flock locks and POSIX byte-range locks,
 * held by a client's lock owner and kept alive by the client's lease.
 *
 * Byte ranges carry both ends, inclusive, as the kernel keeps them: [start, end], with
 * `lockOffsetMax` (OFFSET_MAX) as the end of a lock "to the end of the file". A flock lock covers
 * the whole file, [0, lockOffsetMax].
 */
import { z } from 'zod';
import { limits } from '../../common/limits.js';
import { clientIdSchema, inodeIdSchema } from './types.js';

/** The largest byte offset (the kernel's OFFSET_MAX): locks "to the end of the file" end here. */
export const lockOffsetMax = (1n << 63n) - 1n;

/** flock(2) locks (whole file, owned by an open file) or fcntl(2) POSIX byte-range locks. */
export const lockKindSchema = z.enum(['flock', 'posix']);
export type LockKind = z.infer<typeof lockKindSchema>;

/** Shared (read) or exclusive (write). */
export const lockModeSchema = z.enum(['read', 'write']);
export type LockMode = z.infer<typeof lockModeSchema>;

const offsetSchema = z.bigint().min(0n).max(lockOffsetMax);

/** The kernel's lock owner: a process's file table for POSIX locks, an open file for flock. */
export const lockOwnerSchema = z
  .bigint()
  .min(0n)
  .max((1n << 64n) - 1n);

/** A process id as the kernel reports it in F_GETLK (0 when unknown). */
export const lockPidSchema = z.number().int().min(0).max(0x7fff_ffff);

/**
 * One life of a client process: a client id is stable across restarts of a FUSE daemon, so a
 * lease names the life that holds it, and a new life's first lock ends the old life's locks.
 */
export const lockInstanceSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_.:-]+$/, 'letters, digits, "_", ".", ":" and "-"');

/** How long a lease lasts after each renewal. */
export const lockLeaseMsSchema = z
  .number()
  .int()
  .min(limits.metaLockLeaseMsMin)
  .max(limits.metaLockLeaseMsMax);

/** A range of bytes, both ends included. */
export const byteRangeSchema = z
  .strictObject({ start: offsetSchema, end: offsetSchema })
  .refine((range) => range.start <= range.end, 'a range starts at or before its end');
export type ByteRange = z.infer<typeof byteRangeSchema>;

/** One held range of one owner: its mode, bytes and the process that set it. */
export const heldRangeSchema = z.strictObject({
  mode: lockModeSchema,
  start: offsetSchema,
  end: offsetSchema,
  pid: lockPidSchema,
});
export type HeldRange = z.infer<typeof heldRangeSchema>;

/** The lock that stands in a request's way, and who holds it (F_GETLK's answer). */
export const lockConflictSchema = z.strictObject({
  mode: lockModeSchema,
  start: offsetSchema,
  end: offsetSchema,
  pid: lockPidSchema,
  clientId: clientIdSchema,
});
export type LockConflict = z.infer<typeof lockConflictSchema>;

/** Who asks: a client (one life of it) and one of its lock owners. */
export const lockHolderSchema = z.strictObject({
  clientId: clientIdSchema,
  instance: lockInstanceSchema,
  owner: lockOwnerSchema,
});
export type LockHolder = z.infer<typeof lockHolderSchema>;

/** What releaseLocks releases: one owner's locks of one kind on one file, or all of a client's. */
export const lockReleaseScopeSchema = z.discriminatedUnion('scope', [
  z.strictObject({
    scope: z.literal('owner'),
    ino: inodeIdSchema,
    kind: lockKindSchema,
    owner: lockOwnerSchema,
  }),
  z.strictObject({ scope: z.literal('client') }),
]);
export type LockReleaseScope = z.infer<typeof lockReleaseScopeSchema>;
