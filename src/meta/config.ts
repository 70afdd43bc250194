/**
 * The TOML configuration of meta_main, validated at start-up:
 *
 *   [node]     id, listen, advertise, hostname, tags
 *   [cluster]  id, secret_file
 *   [kv]       the metadata engine shared with mgmtd and the other meta services; on sqlite
 *              `synchronous` defaults to "interval" here (README, "Durability")
 *   [mgmtd]    addresses, heartbeat_interval_ms, timeout_ms
 *   [meta]     root_squash, squash_uid, squash_gid, inode_id_batch
 *   [meta.gc]  enabled, interval_ms, concurrency (the worker deleting removed and truncated chunks)
 *   [meta.trash] cleaner, cleaner_interval_ms (the sweep purging expired trash items)
 *   [monitor]  metrics endpoint and collector push
 *   [log]      level
 */
import { z } from 'zod';
import {
  clusterSectionSchema,
  logSectionSchema,
  mgmtdClientSectionSchema,
  nodeSectionSchema,
} from '../common/config.js';
import { limits } from '../common/limits.js';
import { monitorSectionSchema } from '../common/metrics/index.js';
import { kvSectionSchemaFor } from '../kv/index.js';

/** The conventional "nobody" user and group that squashed root becomes. */
const nobodyId = 65_534;
const id32 = z.number().int().min(0).max(0xffff_ffff);

export const metaSectionSchema = z.strictObject({
  /** Treat uid 0 of callers as squash_uid:squash_gid without supplementary groups. */
  root_squash: z.boolean().default(false),
  squash_uid: id32.default(nobodyId),
  squash_gid: id32.default(nobodyId),
  /** Inode ids reserved per transaction on the shared counter. */
  inode_id_batch: z.number().int().min(1).max(1_000_000).default(limits.metaInodeIdBatch),
  /** The GC worker: deletes the chunks of removed files and cuts those of truncated files. */
  gc: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** Time between passes over the GC queue and the pending truncations. */
      interval_ms: z.number().int().min(10).max(3_600_000).default(limits.metaGcIntervalMsDefault),
      /** Queue entries this service works on at once. */
      concurrency: z.number().int().min(1).max(256).default(limits.metaGcConcurrencyDefault),
    })
    .prefault({}),
  /** The trash cleaner: purges items of the trash whose stay ended (meta/trash/trash-cleaner.ts). */
  trash: z
    .strictObject({
      cleaner: z.boolean().default(true),
      /** Time between passes over the expired items. */
      cleaner_interval_ms: z
        .number()
        .int()
        .min(10)
        .max(3_600_000)
        .default(limits.metaTrashCleanerIntervalMsDefault),
    })
    .prefault({}),
});

export const metaConfigSchema = z.strictObject({
  node: nodeSectionSchema,
  cluster: clusterSectionSchema,
  // A namespace change is acknowledged once it survives the death of any process, and reaches the
  // disk within the commit interval or at the caller's fsync, as on a local file system.
  kv: kvSectionSchemaFor({ sqliteSynchronous: 'interval' }),
  mgmtd: mgmtdClientSectionSchema,
  meta: metaSectionSchema.prefault({}),
  monitor: monitorSectionSchema.prefault({}),
  log: logSectionSchema.prefault({}),
});
export type MetaConfig = z.output<typeof metaConfigSchema>;
