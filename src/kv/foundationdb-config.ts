/**
 * `[kv.foundationdb]`: which FoundationDB cluster holds the metadata and where in its key space.
 * Every key has a default, so `[kv] engine = "foundationdb"` alone uses the host's cluster file.
 *
 *   [kv]
 *   engine = "foundationdb"
 *   [kv.foundationdb]
 *   cluster_file = "/etc/foundationdb/fdb.cluster"
 *   key_prefix = "3fs/"
 */
import { z } from 'zod';
import { limits } from '../common/limits.js';

/** `[kv.foundationdb]`. */
export const foundationDbSectionSchema = z.strictObject({
  /** The cluster file that names the coordinators (FoundationDB's usual place by default). */
  cluster_file: z.string().min(1).default('/etc/foundationdb/fdb.cluster'),
  /**
   * Every key of this cluster lives under this prefix, so several clusters (and other users) can
   * share one FoundationDB, and no key reaches FoundationDB's system keys (those starting 0xff).
   */
  key_prefix: z
    .string()
    .regex(
      new RegExp(`^[\\x21-\\x7e]{1,${limits.kvFoundationDbPrefixBytesMax}}$`),
      `printable ASCII without spaces, 1 to ${limits.kvFoundationDbPrefixBytesMax} characters`,
    )
    .default('3fs/'),
  /** The FoundationDB API version to select (at most 720, the binding's newest). */
  api_version: z.number().int().min(620).max(720).default(limits.kvFoundationDbApiVersionDefault),
  /**
   * A transaction, its retries included, fails after this long (for example while the cluster is
   * unreachable), where FoundationDB alone would wait forever.
   */
  transaction_timeout_ms: z
    .number()
    .int()
    .min(1_000)
    .max(600_000)
    .default(limits.kvFoundationDbTransactionTimeoutMsDefault),
});

/** A parsed `[kv.foundationdb]` section. */
export type FoundationDbSection = z.output<typeof foundationDbSectionSchema>;
