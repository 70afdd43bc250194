/** The TOML configuration of storage_main, validated at start-up. */
import { z } from 'zod';
import {
  clusterSectionSchema,
  logSectionSchema,
  mgmtdClientSectionSchema,
  nodeSectionSchema,
} from '../common/config.js';
import { limits } from '../common/limits.js';
import { monitorSectionSchema } from '../common/metrics/index.js';
import { targetIdSchema } from '../mgmtd/protocol/index.js';

const positiveMs = z.number().int().min(1).max(3_600_000);

export const storageConfigSchema = z.strictObject({
  node: nodeSectionSchema,
  cluster: clusterSectionSchema,
  mgmtd: mgmtdClientSectionSchema
    .extend({
      /** mgmtd's heartbeat timeout: the process fences itself after half of it without mgmtd. */
      heartbeat_timeout_ms: positiveMs.default(limits.heartbeatTimeoutMsDefault),
    })
    .superRefine((section, context) => {
      if (section.heartbeat_interval_ms * 3 > section.heartbeat_timeout_ms) {
        context.addIssue({
          code: 'custom',
          path: ['heartbeat_timeout_ms'],
          message: 'must be at least three times heartbeat_interval_ms',
        });
      }
    }),
  storage: z
    .strictObject({
      /** The targets of this process: a target id (unique in the cluster) and its directory. */
      targets: z
        .array(z.strictObject({ id: targetIdSchema, path: z.string().min(1).max(4096) }))
        .min(1)
        .max(limits.storageTargetsPerNodeMax),
      /** Largest chunk size a write may name. */
      chunk_size_max_bytes: z
        .number()
        .int()
        .min(4096)
        .max(limits.storageChunkBytesMax)
        .default(limits.storageChunkBytesMax),
      /** Free space each target keeps back; a write that would use it fails with NoSpace. */
      free_space_reserve_bytes: z
        .number()
        .int()
        .min(0)
        .max(Number.MAX_SAFE_INTEGER)
        .default(limits.storageFreeSpaceReserveBytesDefault),
      /**
       * True: every prepare and commit reaches stable storage before the write is acknowledged (an
       * acknowledged write survives power loss; one fsync per write and replica). False (default,
       * what POSIX and local file systems promise): an acknowledged write is in every replica's
       * page cache, so it survives the death of any process, and a client's fsync makes the file's
       * data durable on every serving replica (`Storage.syncTargets`).
       */
      sync_writes: z.boolean().optional(),
      /**
       * The older spelling of `sync_writes`, still read: `power-loss` is `sync_writes = true`,
       * `process-crash` is `sync_writes = false`.
       */
      durability: z.enum(['power-loss', 'process-crash']).optional(),
      /**
       * True (default): the native engine writes whole page-aligned blocks around the page cache
       * (O_DIRECT), which spares a copy into fresh cache pages and their later writeback; reads
       * still use the cache. False: every write goes through the page cache. A file system that
       * refuses O_DIRECT gets buffered writes either way. Durability is the same both ways.
       */
      direct_writes: z.boolean().default(true),
      /**
       * True (default): the native engine reads large ranges (256 KiB or more, into the service's
       * page-aligned reply buffers) around the page cache (O_DIRECT), which spares copying a
       * streamed read out of fresh cache pages and reclaiming them later; smaller reads use the
       * cache. False: every read goes through the page cache. A file system that refuses O_DIRECT
       * gets buffered reads either way. What a read returns is the same both ways.
       */
      direct_reads: z.boolean().default(true),
      /**
       * True (default): the native engine's small reads (up to 128 KiB) are submitted by the
       * service's own thread through io_uring and completed by the kernel, without a hand-off to
       * the engine's worker threads and back. Where the kernel has no io_uring or refuses it
       * (`kernel.io_uring_disabled`, a container's seccomp filter), the worker threads read, as
       * with false; the service logs at start which path each target's reads take. What a read
       * returns is the same both ways.
       */
      io_uring: z.boolean().default(true),
      /**
       * The chunk store of each target: `native`, the C++ chunk engine (native/chunk-engine: size-class
       * slots in preallocated files, block copy-on-write, hardware CRC32C); `files`, the TypeScript
       * store (one data file per chunk generation, metadata in sqlite). A target directory keeps the
       * engine it was created with: opening it with the other one fails. When absent, a target that
       * already holds a `files` store keeps it and any other target uses `native`
       * (chunkEngineOf in storage-node.ts).
       */
      chunk_engine: z.enum(['native', 'files']).optional(),
      /** Writes that may wait for one chunk's lock. */
      chunk_lock_waiters_max: z.number().int().min(0).max(65_536).default(limits.storageChunkLockWaitersMax),
      /** Bytes per second this process copies to syncing targets (recovery), so client I/O keeps the rest. */
      recovery_bandwidth_bytes_per_s: z
        .number()
        .int()
        .min(64 * 1024)
        .max(Number.MAX_SAFE_INTEGER)
        .default(limits.storageRecoveryBandwidthBytesPerSDefault),
      /** Chunks one recovery copies at once. */
      recovery_concurrency: z
        .number()
        .int()
        .min(1)
        .max(256)
        .default(limits.storageRecoveryConcurrencyDefault),
      /** How often each target's disk is probed; a failed probe reports the target offline. */
      disk_check_interval_ms: positiveMs.default(limits.storageDiskCheckIntervalMsDefault),
    })
    .superRefine((section, context) => {
      const ids = new Set<number>();
      const paths = new Set<string>();
      section.targets.forEach((target, index) => {
        if (ids.has(target.id)) {
          context.addIssue({
            code: 'custom',
            path: ['targets', index, 'id'],
            message: `target id ${target.id} is listed twice`,
          });
        }
        if (paths.has(target.path)) {
          context.addIssue({
            code: 'custom',
            path: ['targets', index, 'path'],
            message: `path ${target.path} is listed twice`,
          });
        }
        ids.add(target.id);
        paths.add(target.path);
      });
      if (
        section.sync_writes !== undefined &&
        section.durability !== undefined &&
        section.sync_writes !== (section.durability === 'power-loss')
      ) {
        context.addIssue({
          code: 'custom',
          path: ['durability'],
          message: `contradicts sync_writes = ${section.sync_writes}; keep only sync_writes`,
        });
      }
    })
    .transform(({ sync_writes, durability, ...section }) => ({
      ...section,
      sync_writes: sync_writes ?? durability === 'power-loss',
    })),
  monitor: monitorSectionSchema.prefault({}),
  log: logSectionSchema.prefault({}),
});
export type StorageConfig = z.output<typeof storageConfigSchema>;
