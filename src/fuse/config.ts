/**
 * The TOML configuration of hf3fs_fuse_main, validated at start-up:
 *
 *   [node]     id (registers as a node of type "fuse"), hostname, tags
 *   [cluster]  id, secret_file, token_file
 *   [mgmtd]    addresses, heartbeat_interval_ms, timeout_ms
 *   [fuse]     mount_point, allow_other, cache timeouts, request sizes, buffers, report interval,
 *              lock lease and wait bound, trash expiry
 *   [monitor]  where to push metrics (optional)
 *   [log]      level
 */
import { z } from 'zod';
import { clientClusterSectionSchema, logSectionSchema, mgmtdClientSectionSchema } from '../common/config.js';
import { limits } from '../common/limits.js';
import { fuseDefaults } from './lowlevel/defaults.js';
import { monitorSectionSchema } from '../common/metrics/index.js';

const ms = (max: number) => z.number().int().min(0).max(max);
const bytes = (min: number, max: number) => z.number().int().min(min).max(max);
const mib = 1024 * 1024;

export const fuseSectionSchema = z.strictObject({
  /** An existing directory to mount on (`--mount-point` overrides it). */
  mount_point: z.string().min(1).max(4096).optional(),
  /** Let every local user use the mount; permissions are checked for each caller. */
  allow_other: z.boolean().default(true),
  /** Shown as the source in /proc/mounts. */
  fs_name: z.string().min(1).max(64).default('3fs'),
  attr_timeout_ms: ms(3_600_000).default(limits.fuseAttrTimeoutMsDefault),
  entry_timeout_ms: ms(3_600_000).default(limits.fuseEntryTimeoutMsDefault),
  negative_timeout_ms: ms(3_600_000).default(limits.fuseNegativeTimeoutMsDefault),
  max_write_bytes: bytes(4096, mib).default(limits.fuseMaxWriteBytesDefault),
  max_read_bytes: bytes(4096, mib).default(limits.fuseMaxReadBytesDefault),
  /** Kernel read-ahead of a sequential reader. */
  max_readahead_bytes: bytes(0, 64 * mib).default(limits.fuseMaxReadaheadBytesDefault),
  /** The client's own read-ahead window per open file (0: none). */
  read_ahead_bytes: bytes(0, 1024 * mib).default(limits.clientReadAheadBytesDefault),
  /** Buffered, not yet stored bytes of one file, and of all files. */
  write_buffer_bytes: bytes(mib, 1024 * mib).default(limits.clientWriteBufferBytesPerFileDefault),
  write_buffer_total_bytes: bytes(mib, 16 * 1024 * mib).default(limits.clientWriteBufferBytesTotalDefault),
  /** How often the length of files open for writing is reported to meta. */
  length_report_interval_ms: ms(3_600_000).min(10).default(limits.clientLengthReportIntervalMsDefault),
  /** Chunk I/Os at once: for the whole daemon, and for one request. */
  io_concurrency: z.number().int().min(1).max(4096).default(limits.clientIoConcurrencyDefault),
  request_io_concurrency: z.number().int().min(1).max(256).default(limits.clientRequestIoConcurrencyDefault),
  /** How long one chunk operation keeps retrying, and one meta call attempt may take. */
  io_deadline_ms: ms(3_600_000).min(100).default(limits.clientIoDeadlineMsDefault),
  meta_timeout_ms: ms(600_000).min(10).default(limits.clientMetaTimeoutMsDefault),
  /**
   * Names and attributes kept in the daemon and given to the kernel for `cached_timeout_ms`, made
   * fresh by polling meta's change log every `metadata_poll_ms`: another client's change shows
   * within that interval (plus a round trip). Off: the kernel caches for the timeouts above only.
   */
  metadata_cache: z.boolean().default(true),
  metadata_poll_ms: ms(60_000).min(10).default(limits.fuseMetadataPollMsDefault),
  metadata_cache_entries: z
    .number()
    .int()
    .min(1_000)
    .max(100_000_000)
    .default(limits.fuseMetadataCacheEntriesMax),
  cached_timeout_ms: ms(3_600_000).default(limits.fuseCachedTimeoutMsDefault),
  /**
   * Threads reading /dev/fuse (they only copy; handlers run on the event loop), or 0 (the default):
   * the event loop reads the device itself, which saves a thread hand-off per request.
   */
  threads: z.number().int().min(0).max(64).default(fuseDefaults.threads),
  /**
   * Reads of at most this many bytes of a file nothing was written to through this mount are
   * answered by the FUSE binding itself, from storage over connections of its own, without the
   * event loop's JavaScript (fast-reads.ts); larger ones take the client's read-ahead. 0: off.
   * Only with `threads = 0`.
   */
  fast_read_max_bytes: bytes(0, 16 * mib).default(limits.fuseFastReadBytesMaxDefault),
  /**
   * flock and fcntl locks are held in meta for the whole cluster, tied to this daemon's lease: a
   * daemon that dies without unmounting (SIGKILL, a lost host) keeps its locks until the lease
   * runs out. Renewed every lock_lease_ms / 3 while any lock is held.
   */
  lock_lease_ms: z
    .number()
    .int()
    .min(limits.metaLockLeaseMsMin)
    .max(limits.metaLockLeaseMsMax)
    .default(limits.fuseLockLeaseMsDefault),
  /** How long a blocking lock request (F_SETLKW, flock without LOCK_NB) waits before it fails. */
  lock_wait_max_ms: ms(24 * 3_600_000).default(limits.fuseLockWaitMsMaxDefault),
  /**
   * Seconds an unlink or rmdir through this mount keeps what it removes in the remover's trash
   * (`/.trash/<uid>`, listed and restored with `admin trash-list` and `trash-restore`) before the
   * cleaner purges it; 0: removals are permanent unless a directory's trash setting says otherwise
   * (`admin trash-set`), which wins over this.
   */
  trash_expire_s: z.number().int().min(0).max(limits.trashExpireSMax).default(0),
});

export const fuseConfigSchema = z
  .strictObject({
    node: z.strictObject({
      id: z.number().int().min(1).max(0xffff_ffff),
      hostname: z.string().max(256).optional(),
      tags: z.array(z.string().max(128)).max(32).default([]),
    }),
    cluster: clientClusterSectionSchema,
    mgmtd: mgmtdClientSectionSchema,
    fuse: fuseSectionSchema.prefault({}),
    monitor: monitorSectionSchema.prefault({}),
    log: logSectionSchema.prefault({}),
  })
  .superRefine((config, context) => {
    if (config.fuse.write_buffer_total_bytes < config.fuse.write_buffer_bytes) {
      context.addIssue({
        code: 'custom',
        path: ['fuse', 'write_buffer_total_bytes'],
        message: 'must be at least write_buffer_bytes',
      });
    }
    if (config.fuse.request_io_concurrency > config.fuse.io_concurrency) {
      context.addIssue({
        code: 'custom',
        path: ['fuse', 'request_io_concurrency'],
        message: 'must be at most io_concurrency',
      });
    }
  });
export type FuseConfig = z.output<typeof fuseConfigSchema>;
