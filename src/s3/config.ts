/**
 * The TOML configuration of s3_gateway_main, validated at start-up:
 *
 *   [node]     id (registers as a node of type "s3"; the id also names its write sessions), hostname, tags
 *   [cluster]  id, secret_file
 *   [mgmtd]    addresses, heartbeat_interval_ms, timeout_ms
 *   [s3]       listen, export_root (buckets are its directories), region, TLS, virtual-hosted
 *              domains, anonymous reads, modes of what uploads create, connection bounds,
 *              client-library tuning
 *   [monitor]  this process's /metrics (listen) and where to push metrics
 *   [log]      level
 *
 *   [s3]
 *   listen = "0.0.0.0:9000"
 *   export_root = "/s3"
 *   region = "us-east-1"
 *   tls_cert_file = "/run/keys/s3.crt"   # both or neither: HTTPS instead of HTTP
 *   tls_key_file = "/run/keys/s3.key"
 */
import { z } from 'zod';
import {
  addressSchema,
  clientClusterSectionSchema,
  logSectionSchema,
  mgmtdClientSectionSchema,
} from '../common/config.js';
import { limits } from '../common/limits.js';
import { monitorSectionSchema } from '../common/metrics/index.js';

const ms = (max: number) => z.number().int().min(0).max(max);
const bytes = (min: number, max: number) => z.number().int().min(min).max(max);
const mib = 1024 * 1024;
const id = z.number().int().min(0).max(0xffff_ffff);

/** An absolute, normalized path: "/" or "/a/b" without ".", "..", empty components or a trailing "/". */
const exportRootSchema = z
  .string()
  .max(4096)
  .refine(
    (path) =>
      path === '/' ||
      (path.startsWith('/') &&
        path
          .slice(1)
          .split('/')
          .every((part) => part !== '' && part !== '.' && part !== '..')),
    'an absolute path such as "/" or "/s3", without ".", ".." or a trailing "/"',
  );

const domainSchema = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/, 'a lower-case DNS name');

export const s3SectionSchema = z.strictObject({
  listen: addressSchema.default('0.0.0.0:9000'),
  /** The namespace directory whose subdirectories are the buckets. */
  export_root: exportRootSchema.default('/'),
  /** The region clients sign for (and GetBucketLocation answers). */
  region: z
    .string()
    .regex(/^[a-z0-9-]{1,32}$/, 'a region name such as "us-east-1"')
    .default('us-east-1'),
  /** PEM files of a certificate (chain) and its key: HTTPS. Keep the key out of the Nix store. */
  tls_cert_file: z.string().min(1).optional(),
  tls_key_file: z.string().min(1).optional(),
  /** Domains under which "<bucket>.<domain>" names a bucket (virtual-hosted style); path style always works. */
  virtual_host_domains: z.array(domainSchema).max(16).default([]),
  /** Whether unsigned requests may read (GET, HEAD, listings), as anonymous_uid and anonymous_gid. */
  anonymous_read: z.boolean().default(false),
  anonymous_uid: id.default(65_534),
  anonymous_gid: id.default(65_534),
  /** Modes of the files and directories uploads create (no umask applies). */
  file_mode: z.number().int().min(0).max(0o777).default(0o644),
  directory_mode: z.number().int().min(0).max(0o777).default(0o755),
  connections_max: z.number().int().min(1).max(65_536).default(limits.s3ConnectionsMaxDefault),
  /** A connection idle this long (no bytes either way) is closed. */
  socket_idle_ms: ms(3_600_000).min(1_000).default(limits.s3SocketIdleMsDefault),
  /** The client library's read-ahead window per open file (0: none). */
  read_ahead_bytes: bytes(0, 1024 * mib).default(limits.clientReadAheadBytesDefault),
  /** Writes buffered per file and in all before they go to storage. */
  write_buffer_bytes: bytes(mib, 1024 * mib).default(limits.clientWriteBufferBytesPerFileDefault),
  write_buffer_total_bytes: bytes(mib, 16 * 1024 * mib).default(limits.clientWriteBufferBytesTotalDefault),
  io_concurrency: z.number().int().min(1).max(4096).default(limits.clientIoConcurrencyDefault),
  request_io_concurrency: z.number().int().min(1).max(256).default(limits.clientRequestIoConcurrencyDefault),
  io_deadline_ms: ms(3_600_000).min(100).default(limits.clientIoDeadlineMsDefault),
  meta_timeout_ms: ms(600_000).min(10).default(limits.clientMetaTimeoutMsDefault),
});

export const s3ConfigSchema = z
  .strictObject({
    node: z.strictObject({
      id: z.number().int().min(1).max(0xffff_ffff),
      hostname: z.string().max(256).optional(),
      tags: z.array(z.string().max(128)).max(32).default([]),
    }),
    cluster: clientClusterSectionSchema,
    mgmtd: mgmtdClientSectionSchema,
    s3: s3SectionSchema,
    monitor: monitorSectionSchema.prefault({}),
    log: logSectionSchema.prefault({}),
  })
  .superRefine((config, context) => {
    const { s3 } = config;
    if ((s3.tls_cert_file === undefined) !== (s3.tls_key_file === undefined)) {
      context.addIssue({
        code: 'custom',
        path: ['s3', s3.tls_cert_file === undefined ? 'tls_cert_file' : 'tls_key_file'],
        message: 'tls_cert_file and tls_key_file go together',
      });
    }
    if (s3.write_buffer_total_bytes < s3.write_buffer_bytes) {
      context.addIssue({
        code: 'custom',
        path: ['s3', 'write_buffer_total_bytes'],
        message: 'must be at least write_buffer_bytes',
      });
    }
    if (s3.request_io_concurrency > s3.io_concurrency) {
      context.addIssue({
        code: 'custom',
        path: ['s3', 'request_io_concurrency'],
        message: 'must be at most io_concurrency',
      });
    }
  });
export type S3Config = z.output<typeof s3ConfigSchema>;
