/**
 * The wire types of directory quotas (meta/quota/). A quota is set on a directory and counts every
 * inode below it (not the directory itself) and the bytes of every file below it (their lengths,
 * holes included: usage follows what `ls -l` shows). Limits are hard (a change past one fails with
 * EDQUOT) or soft (usage may stay past one for the grace period, after which it refuses like a
 * hard one). Each quota has an id of its own, which the inodes it counts carry (types.ts `quotas`).
 */
import { z } from 'zod';
import { limits } from '../../common/limits.js';
import { inodeIdSchema, timeNsSchema } from './types.js';

const u63Max = (1n << 63n) - 1n;

/** A byte or inode count a limit may name. */
export const quotaAmountSchema = z.bigint().min(0n).max(u63Max);

/** Seconds usage may stay over a soft limit before the soft limit refuses like the hard one. */
export const quotaGraceSchema = z.number().int().min(0).max(limits.quotaGraceSMax);

/** A quota's limits; an absent one does not apply. A soft limit is at most the hard one of its kind. */
export const quotaLimitsSchema = z.strictObject({
  hardBytes: quotaAmountSchema.optional(),
  softBytes: quotaAmountSchema.optional(),
  hardInodes: quotaAmountSchema.optional(),
  softInodes: quotaAmountSchema.optional(),
  graceS: quotaGraceSchema,
});
export type QuotaLimits = z.infer<typeof quotaLimitsSchema>;

/**
 * What a quota counts: inodes below its directory, the bytes of the files among them, and the
 * bytes granted to writers of those files and not written yet (held against the limits like
 * written bytes, and given back when the writers close).
 */
export const quotaUsageSchema = z.strictObject({
  inodes: z.bigint(),
  bytes: z.bigint(),
  reservedBytes: z.bigint(),
});
export type QuotaUsage = z.infer<typeof quotaUsageSchema>;

/** A quota as meta keeps it: its directory, limits and the state of its count. */
export const quotaStateSchema = z.strictObject({
  quotaId: inodeIdSchema,
  directory: inodeIdSchema,
  limits: quotaLimitsSchema,
  setAtNs: timeNsSchema,
  /**
   * True until the tree that was already there when the quota was set has been counted (the
   * count runs in bounded steps); usage is a lower bound meanwhile.
   */
  counting: z.boolean(),
  countedAtNs: timeNsSchema.optional(),
  /** Since when usage has been over the soft limit of bytes (of inodes), as last seen by a change. */
  softBytesSinceNs: timeNsSchema.optional(),
  softInodesSinceNs: timeNsSchema.optional(),
});
export type QuotaState = z.infer<typeof quotaStateSchema>;

/** A quota as callers see it: its state, usage and its directory's path (null when not found). */
export const quotaInfoSchema = quotaStateSchema.extend({
  usage: quotaUsageSchema,
  path: z.string().nullable(),
});
export type QuotaInfo = z.infer<typeof quotaInfoSchema>;

/** A change of one limit: a new value, or null to drop it; absent leaves it as it is. */
export const quotaLimitChangeSchema = quotaAmountSchema.nullable().optional();
