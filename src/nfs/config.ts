/**
 * The TOML configuration of nfs_gateway_main, validated at start-up:
 *
 *   [node]     id (registers as a node of type "nfs"; the id also names its write sessions), hostname, tags
 *   [cluster]  id, secret_file (the secret also keys the file handles unless [nfs]
 *              handle_secret_file is set: every gateway of a cluster reads the others' handles)
 *   [mgmtd]    addresses, heartbeat_interval_ms, timeout_ms
 *   [nfs]      listen (NFS and MOUNT on one port), versions, exports, open-file cache, connections,
 *              client-library tuning, rpcbind registration
 *   [monitor]  where to push metrics (optional)
 *   [log]      level
 *
 *   [[nfs.exports]]
 *   path = "/data"                 # a directory of the namespace
 *   clients = ["10.0.0.0/24"]      # networks (CIDR), addresses, or "*"
 *   read_only = false
 *   root_squash = true             # uid 0 and gid 0 become anonuid and anongid
 *   all_squash = false             # everyone becomes anonuid and anongid
 *   anonuid = 65534
 *   anongid = 65534
 */
import { z } from 'zod';
import {
  addressSchema,
  gatewayClusterSectionSchema,
  logSectionSchema,
  mgmtdClientSectionSchema,
} from '../common/config.js';
import { limits } from '../common/limits.js';
import { monitorSectionSchema } from '../common/metrics/index.js';
import { parseNetwork, type ExportSpec } from './exports.js';

const ms = (max: number) => z.number().int().min(0).max(max);
const bytes = (min: number, max: number) => z.number().int().min(min).max(max);
const mib = 1024 * 1024;
const id = z.number().int().min(0).max(0xffff_ffff);

/** An absolute, normalized path: "/" or "/a/b" without ".", "..", empty components or a trailing "/". */
const exportPathSchema = z
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
    'an absolute path such as "/" or "/data/shared", without ".", ".." or a trailing "/"',
  );

const networkSchema = z
  .string()
  .max(64)
  .refine((text) => parseNetwork(text) !== undefined, 'an address, a network such as "10.0.0.0/24", or "*"');

export const exportSchema = z.strictObject({
  path: exportPathSchema,
  /** Clients allowed; a client in none of the exports' networks cannot even connect. */
  clients: z.array(networkSchema).min(1).max(256),
  read_only: z.boolean().default(false),
  root_squash: z.boolean().default(true),
  all_squash: z.boolean().default(false),
  anonuid: id.default(65_534),
  anongid: id.default(65_534),
});

export const nfsSectionSchema = z.strictObject({
  /** Where NFS and MOUNT both answer (clients without a portmapper need one known port). */
  listen: addressSchema.default('0.0.0.0:2049'),
  /** NFS versions served. */
  versions: z
    .array(z.union([z.literal(3), z.literal(4)]))
    .min(1)
    .max(2)
    .default([3, 4]),
  exports: z.array(exportSchema).min(1).max(64),
  /**
   * File holding the key of file handles and NFSv4 client and state ids (at least 16 characters,
   * the same on every gateway of the cluster). Default: the cluster secret as read at start; a
   * file of its own keeps clients' handles valid when the cluster secret is rotated.
   */
  handle_secret_file: z.string().min(1).optional(),
  /** Register NFS and MOUNT with the local rpcbind (portmapper) when one runs. */
  register_rpcbind: z.boolean().default(false),
  connections_max: z.number().int().min(1).max(65_536).default(limits.nfsConnectionsMaxDefault),
  connection_idle_ms: ms(24 * 3_600_000)
    .min(1_000)
    .default(limits.nfsConnectionIdleMsDefault),
  /** How long a file stays open after its last READ or WRITE; see open-files.ts. */
  open_file_idle_ms: ms(600_000).min(10).default(limits.nfsOpenFileIdleMsDefault),
  open_files_max: z.number().int().min(1).max(65_536).default(limits.nfsOpenFilesMaxDefault),
  /** The client library's read-ahead window per open file (0: none). */
  read_ahead_bytes: bytes(0, 1024 * mib).default(limits.clientReadAheadBytesDefault),
  /** UNSTABLE writes buffered per file and in all before they go to storage. */
  write_buffer_bytes: bytes(mib, 1024 * mib).default(limits.clientWriteBufferBytesPerFileDefault),
  write_buffer_total_bytes: bytes(mib, 16 * 1024 * mib).default(limits.clientWriteBufferBytesTotalDefault),
  length_report_interval_ms: ms(3_600_000).min(10).default(limits.clientLengthReportIntervalMsDefault),
  io_concurrency: z.number().int().min(1).max(4096).default(limits.clientIoConcurrencyDefault),
  request_io_concurrency: z.number().int().min(1).max(256).default(limits.clientRequestIoConcurrencyDefault),
  io_deadline_ms: ms(3_600_000).min(100).default(limits.clientIoDeadlineMsDefault),
  meta_timeout_ms: ms(600_000).min(10).default(limits.clientMetaTimeoutMsDefault),
});

export const nfsConfigSchema = z
  .strictObject({
    node: z.strictObject({
      id: z.number().int().min(1).max(0xffff_ffff),
      hostname: z.string().max(256).optional(),
      tags: z.array(z.string().max(128)).max(32).default([]),
    }),
    cluster: gatewayClusterSectionSchema,
    mgmtd: mgmtdClientSectionSchema,
    nfs: nfsSectionSchema,
    monitor: monitorSectionSchema.prefault({}),
    log: logSectionSchema.prefault({}),
  })
  .superRefine((config, context) => {
    const seen = new Set<string>();
    for (const [index, entry] of config.nfs.exports.entries()) {
      if (seen.has(entry.path)) {
        context.addIssue({
          code: 'custom',
          path: ['nfs', 'exports', index, 'path'],
          message: 'exported twice',
        });
      }
      seen.add(entry.path);
    }
    if (config.nfs.write_buffer_total_bytes < config.nfs.write_buffer_bytes) {
      context.addIssue({
        code: 'custom',
        path: ['nfs', 'write_buffer_total_bytes'],
        message: 'must be at least write_buffer_bytes',
      });
    }
    if (config.nfs.request_io_concurrency > config.nfs.io_concurrency) {
      context.addIssue({
        code: 'custom',
        path: ['nfs', 'request_io_concurrency'],
        message: 'must be at most io_concurrency',
      });
    }
    if (new Set(config.nfs.versions).size !== config.nfs.versions.length) {
      context.addIssue({ code: 'custom', path: ['nfs', 'versions'], message: 'a version is listed twice' });
    }
  });
export type NfsConfig = z.output<typeof nfsConfigSchema>;

/** The exports of a parsed config, as the export table takes them. */
export function exportSpecsOf(config: NfsConfig): ExportSpec[] {
  return config.nfs.exports.map((entry) => ({
    path: entry.path,
    clients: entry.clients,
    readOnly: entry.read_only,
    rootSquash: entry.root_squash,
    allSquash: entry.all_squash,
    anonUid: entry.anonuid,
    anonGid: entry.anongid,
  }));
}
