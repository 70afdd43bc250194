/**
 * The running FUSE daemon (DESIGN §10): a client of the cluster (routing info fed by its own
 * heartbeats as a node of type "fuse"), the FUSE file system mounted on it, and the orderly stop:
 * unmount first (requests in flight drain), then close what the kernel left open (flushing
 * buffered writes and reporting lengths), then stop heartbeats and connections.
 */
import { metricDefs, type MetricsRegistry } from '../common/metrics/index.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import {
  FsClient,
  HeartbeatLoop,
  clientAuthentication,
  fuseClientId,
  readReplyPool,
} from '../client/index.js';
import type { Clock } from '../common/clock.js';
import type { ClusterSecrets } from '../common/cluster-secrets.js';
import { FsError, describeError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { Logger } from '../common/logger.js';
import { CommonCode } from '../common/status-code.js';
import type { RpcClientOptions } from '../rpc/index.js';
import type { InodeId } from '../meta/protocol/index.js';
import type { FuseConfig } from './config.js';
import { toErrno } from './errno-map.js';
import { ChangePoller } from './change-poller.js';
import { FastReadPath, fastReadOptions } from './fast-reads.js';
import { FuseFileSystem } from './fuse-file-system.js';
import { startFuseLocks } from './locks.js';
import { MetadataCache } from './metadata-cache.js';
import { observeFuseOperations } from './fuse-metrics.js';
import { FuseSession } from './lowlevel/index.js';

export interface FuseDaemonOptions {
  readonly config: FuseConfig;
  /** Overrides `[fuse] mount_point`. */
  readonly mountPoint?: string;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly rpcObserver?: RpcClientOptions['observer'];
  /**
   * The secrets the daemon's connections prove, kept in step with `[cluster] secret_file` by the
   * caller (hf3fs_fuse_main); without them the file is read once.
   */
  readonly clusterSecrets?: ClusterSecrets;
  /** Where FUSE operation and client library metrics go; none are recorded without them. */
  readonly metrics?: MetricsRegistry;
}

export interface FuseDaemon {
  readonly mountPoint: string;
  /** Resolves when the file system is no longer mounted (stopped, or unmounted from outside). */
  readonly ended: Promise<void>;
  stop(): Promise<void>;
}

/** True when this process may mount with allow_other (root, or user_allow_other in /etc/fuse.conf). */
export function mayAllowOther(): boolean {
  if (process.geteuid?.() === 0) return true;
  try {
    return /^\s*user_allow_other\s*$/m.test(readFileSync('/etc/fuse.conf', 'utf8'));
  } catch {
    return false;
  }
}

/** Connects, mounts, and starts heartbeats; see the file comment. */
export async function startFuseDaemon(options: FuseDaemonOptions): Promise<FuseDaemon> {
  const { config } = options;
  const mountPoint = resolve(options.mountPoint ?? config.fuse.mount_point ?? '');
  if (options.mountPoint === undefined && config.fuse.mount_point === undefined) {
    throw new FsError(
      CommonCode.ConfigInvalid,
      'no mount point: set [fuse] mount_point or pass --mount-point',
    );
  }
  if (config.fuse.allow_other && !mayAllowOther()) {
    throw new FsError(
      CommonCode.ConfigInvalid,
      '[fuse] allow_other needs root or "user_allow_other" in /etc/fuse.conf; add it there or set allow_other = false',
    );
  }
  // Changes of open files reach the binding's reads, once there are any (fast-reads.ts).
  const fileChanges: FileChanges = {};
  const client = await connectClient(options, fileChanges);
  try {
    return await mountWith(client, mountPoint, options, fileChanges);
  } catch (error) {
    await client.close();
    throw error;
  }
}

/** Where the client reports changes of open files, bound once the fast reads exist. */
interface FileChanges {
  listener?: (ino: InodeId) => void;
}

async function connectClient(options: FuseDaemonOptions, fileChanges: FileChanges): Promise<FsClient> {
  const { config, logger, clock } = options;
  const fuse = config.fuse;
  const client = await FsClient.connect({
    onOpenFileChange: (ino) => fileChanges.listener?.(ino),
    mgmtdAddresses: config.mgmtd.addresses,
    ...clientAuthentication(config.cluster, options.clusterSecrets),
    logger,
    clock,
    clientId: fuseClientId(config.node.id),
    mgmtdTimeoutMs: config.mgmtd.timeout_ms,
    // Reads are answered from these buffers and let go of once the reply is written
    // (FuseFileSystem.readReplied), so the mount's reads reuse them.
    replyPayloadPool: readReplyPool(),
    ...(options.rpcObserver === undefined ? {} : { rpcObserver: options.rpcObserver }),
    ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
    tuning: {
      metaTimeoutMs: fuse.meta_timeout_ms,
      ioDeadlineMs: fuse.io_deadline_ms,
      ioConcurrency: fuse.io_concurrency,
      requestIoConcurrency: fuse.request_io_concurrency,
      writeBufferBytesPerFile: fuse.write_buffer_bytes,
      writeBufferBytesTotal: fuse.write_buffer_total_bytes,
      readAheadBytes: fuse.read_ahead_bytes,
      lengthReportIntervalMs: fuse.length_report_interval_ms,
      // Heartbeats bring newer routing info; no polling.
      routingRefreshMs: undefined,
    },
  });
  // Sessions a previous life of this node left open (it crashed) keep unlinked files alive.
  try {
    const pruned = await client.pruneOwnSessions();
    if (pruned.removedSessions > 0) logger.info(pruned, 'closed write sessions left by an earlier run');
  } catch (error) {
    logger.warn({ err: error }, `could not close sessions of an earlier run: ${describeError(error)}`);
  }
  return client;
}

async function mountWith(
  client: FsClient,
  mountPoint: string,
  options: FuseDaemonOptions,
  fileChanges: FileChanges,
): Promise<FuseDaemon> {
  const { config, logger, clock } = options;
  const fuse = config.fuse;
  // The kernel is told to forget cached entries through the session, once there is one.
  const attached: { session?: FuseSession } = {};
  const notifyFailed = (error: unknown) =>
    logger.debug({ err: error }, `kernel cache invalidation failed: ${describeError(error)}`);
  const cache = fuse.metadata_cache
    ? new MetadataCache({
        entriesMax: fuse.metadata_cache_entries,
        notifier: {
          entry: (parent, name) => {
            const session = attached.session;
            if (session?.mounted === true) session.invalidateEntry(parent, name).catch(notifyFailed);
          },
          inode: (ino) => {
            const session = attached.session;
            if (session?.mounted === true) session.invalidateInode(ino, 'attributes').catch(notifyFailed);
          },
        },
      })
    : undefined;
  const poller =
    cache === undefined
      ? undefined
      : new ChangePoller({
          cache,
          source: {
            addresses: () => client.routing.metaAddresses(),
            poll: (address, request, timeoutMs) => client.metaChanges(address, request, timeoutMs),
          },
          clientId: client.clientId,
          clock,
          logger,
          intervalMs: fuse.metadata_poll_ms,
          staleMs: Math.max(limits.fuseMetadataPollStaleMs, 4 * fuse.metadata_poll_ms),
        });
  const locks = await startFuseLocks(client, {
    leaseMs: fuse.lock_lease_ms,
    waitMsMax: fuse.lock_wait_max_ms,
    clock,
    logger,
  });
  const fileSystem = new FuseFileSystem({
    client,
    logger,
    locks: locks.fuse,
    attrTimeoutMs: fuse.attr_timeout_ms,
    entryTimeoutMs: fuse.entry_timeout_ms,
    negativeTimeoutMs: fuse.negative_timeout_ms,
    ...(cache === undefined ? {} : { cache, cachedTimeoutMs: fuse.cached_timeout_ms }),
    now: () => clock.monotonicMs(),
    trashExpireS: fuse.trash_expire_s,
  });
  const operations =
    options.metrics === undefined ? fileSystem : observeFuseOperations(fileSystem, options.metrics, toErrno);
  const mounted = await FuseSession.mount(operations, {
    mountpoint: mountPoint,
    fsName: fuse.fs_name,
    subtype: '3fs',
    allowOther: fuse.allow_other,
    defaultPermissions: true,
    // The kernel caches and checks POSIX ACLs; meta keeps them and applies default ACLs and umasks.
    posixAcl: true,
    // A flush pushes the inode's buffered writes and length and drops the closer's POSIX locks:
    // with nothing written, allocated, truncated or locked on the inode since it was opened here,
    // there is nothing to push or drop, and the binding answers close(2) without a trip here.
    flushOnlyTouched: true,
    autoUnmount: true,
    maxWriteBytes: fuse.max_write_bytes,
    maxReadBytes: fuse.max_read_bytes,
    maxReadaheadBytes: fuse.max_readahead_bytes,
    attrTimeoutMs: fuse.attr_timeout_ms,
    entryTimeoutMs: fuse.entry_timeout_ms,
    threads: fuse.threads,
    handleSignals: false,
    logger,
    clock,
    toErrno,
  });
  attached.session = mounted;
  // The FLUSHes the binding answers itself (flushOnlyTouched) never reach the operation metrics.
  options.metrics?.counter(metricDefs.fuseFlushesAnswered, (set) => set({}, mounted.flushesAnswered));
  // Likewise the READDIRs it answers from listings the file system handed it.
  options.metrics?.counter(metricDefs.fuseReaddirsAnswered, (set) => set({}, mounted.readdirsAnswered));
  const fastReads = startFastReads(mounted, client, options);
  if (fastReads !== undefined) fileChanges.listener = (ino) => fastReads.fileChanged(ino);
  fileSystem.attach(mounted, fastReads);
  poller?.start();
  raiseKernelReadAhead(mountPoint, fuse.max_readahead_bytes, logger);
  const heartbeat = new HeartbeatLoop({
    mgmtd: client.mgmtd,
    clock,
    logger,
    clusterId: config.cluster.id,
    node: {
      nodeId: config.node.id,
      type: 'fuse',
      address: mountPoint,
      hostname: config.node.hostname ?? hostname(),
      tags: config.node.tags,
    },
    intervalMs: config.mgmtd.heartbeat_interval_ms,
    onRoutingInfo: (routing) => client.routing.update(routing),
  });
  heartbeat.start();
  logger.info(
    {
      mountPoint,
      allowOther: fuse.allow_other,
      maxWriteBytes: mounted.connection.maxWriteBytes,
      maxReadaheadBytes: mounted.connection.maxReadaheadBytes,
      nodeId: config.node.id,
    },
    'fuse mounted',
  );
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      fastReads?.close();
      await poller?.stop();
      await mounted.unmount({ drainTimeoutMs: limits.fuseUnmountDrainMs });
      await fileSystem.closeAll();
      // What the kernel did not release on its way out: every lock of this client goes at once.
      await locks.client.close();
      await heartbeat.stop();
      await client.close();
    })();
    return stopping;
  };
  return { mountPoint, ended: mounted.ended, stop };
}

/** The binding's own reads (fast-reads.ts), with their counters among the metrics; undefined when off. */
function startFastReads(
  session: FuseSession,
  client: FsClient,
  options: FuseDaemonOptions,
): FastReadPath | undefined {
  const bytesMax = options.config.fuse.fast_read_max_bytes;
  if (bytesMax === 0) return undefined;
  const native = session.enableFastReads(fastReadOptions(bytesMax));
  if (native === undefined) {
    options.logger.info('fast reads are off: they need [fuse] threads = 0');
    return undefined;
  }
  const path = new FastReadPath({
    native,
    routing: client.routing,
    handOver: (address, takeOver) => client.handOverStorageConnection(address, takeOver),
    clock: options.clock,
    logger: options.logger,
  });
  options.metrics?.counter(metricDefs.fuseFastReads, (set) => {
    const stats = path.stats();
    set({ outcome: 'answered' }, stats.answered);
    set({ outcome: 'handed_over' }, stats.handedOver);
  });
  return path;
}

/**
 * The kernel reads ahead at most its block-device default (128 KiB) on a FUSE mount unless told
 * otherwise through sysfs, whatever the mount negotiated. Raising it (root only) lets a sequential
 * reader keep several 1 MiB reads in flight. Best effort: without it reads are just smaller.
 */
function raiseKernelReadAhead(mountPoint: string, bytes: number, logger: Logger): void {
  if (bytes === 0 || process.geteuid?.() !== 0) return;
  try {
    const line = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .find((candidate) => candidate.split(' ')[4] === mountPoint.replace(/ /g, '\\040'));
    const device = line?.split(' ')[2];
    if (device === undefined) return;
    writeFileSync(`/sys/class/bdi/${device}/read_ahead_kb`, `${Math.ceil(bytes / 1024)}\n`);
  } catch (error) {
    logger.debug({ err: error }, `kernel read-ahead left as it is: ${describeError(error)}`);
  }
}
