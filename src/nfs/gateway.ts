/**
 * The running NFS gateway (DESIGN §14): a client of the cluster (routing info fed by its own
 * heartbeats as a node of type "nfs"), the export table, the RPC server answering MOUNT and NFS on
 * one port, and the orderly stop: no new connections, calls in flight drain, then every open file
 * is closed (its buffered writes sent and its length reported), then heartbeats and connections
 * stop. Nothing else is kept between requests, so several gateways may serve one cluster and a
 * restarted one carries on with the handles clients hold.
 */
import { hostname } from 'node:os';
import { FsClient, HeartbeatLoop, clientAuthentication, readReplyPool } from '../client/index.js';
import type { Clock } from '../common/clock.js';
import type { ClusterSecrets } from '../common/cluster-secrets.js';
import { readSecretFile, splitAddress } from '../common/config.js';
import { describeError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { Logger } from '../common/logger.js';
import type { MetricsRegistry } from '../common/metrics/index.js';
import type { RpcClientOptions } from '../rpc/index.js';
import { exportSpecsOf, type NfsConfig } from './config.js';
import { ExportFs } from './export-fs.js';
import { ExportTable } from './exports.js';
import { WriteVerifier, type GatewayContext } from './gateway-context.js';
import { HandleCodec } from './handles.js';
import { MountProgram, mountProgram, mountVersion } from './mount.js';
import { Nfs3Program } from './nfs3/nfs3-program.js';
import { Nfs4Program } from './nfs4/nfs4-program.js';
import { nfsProgram } from './nfs3/nfs3-types.js';
import { NfsMetrics } from './nfs-metrics.js';
import { OpenFiles } from './open-files.js';
import { ReaddirCursors } from './readdir-cursors.js';
import type { RpcCall } from './rpc-message.js';
import { RpcServer, type Peer, type ProgramReply, type RpcProgram } from './rpc-server.js';
import { registerWithRpcbind, unregisterFromRpcbind, type Registration } from './rpcbind.js';
import type { XdrWriter } from './xdr.js';

export interface NfsGatewayOptions {
  readonly config: NfsConfig;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly rpcObserver?: RpcClientOptions['observer'];
  /**
   * The secrets the gateway's cluster connections prove, kept in step with `[cluster] secret_file`
   * by the caller (nfs_gateway_main); without them the file is read once. File handles and NFSv4
   * ids stay keyed by the secret read at start either way.
   */
  readonly clusterSecrets?: ClusterSecrets;
  /** Where NFS operation and client library metrics go; none are recorded without them. */
  readonly metrics?: MetricsRegistry;
}

export interface NfsGateway {
  /** The address NFS and MOUNT answer on ("host:port", the bound port when 0 was asked for). */
  readonly address: string;
  readonly port: number;
  /** The write verifier now (tests). */
  readonly verifier: WriteVerifier;
  stop(): Promise<void>;
}

/** The client id of a gateway's write sessions: one per node id, the same across restarts. */
export function nfsClientId(nodeId: number): string {
  return `nfs-${nodeId}`;
}

/** NFSv3 and NFSv4 on one program number: calls go to the version they name. */
function nfsVersions(programs: ReadonlyMap<number, RpcProgram>): RpcProgram {
  const versions = [...programs.keys()];
  return {
    program: nfsProgram,
    versionLow: Math.min(...versions),
    versionHigh: Math.max(...versions),
    call(call: RpcCall, peer: Peer, writer: XdrWriter): Promise<ProgramReply> {
      const program = programs.get(call.version);
      if (program === undefined) return Promise.resolve({ kind: 'procedure-unavailable' });
      return program.call(call, peer, writer);
    },
  };
}

/** Connects, listens and starts heartbeats; see the file comment. */
export async function startNfsGateway(options: NfsGatewayOptions): Promise<NfsGateway> {
  const { config, logger, clock } = options;
  const nfs = config.nfs;
  const secret = readSecretFile(config.cluster.secret_file);
  const client = await FsClient.connect({
    mgmtdAddresses: config.mgmtd.addresses,
    ...clientAuthentication(config.cluster, options.clusterSecrets ?? secret),
    logger,
    clock,
    clientId: nfsClientId(config.node.id),
    mgmtdTimeoutMs: config.mgmtd.timeout_ms,
    // A READ's bytes go back to the pool once its reply is written (rpc-server.ts).
    replyPayloadPool: readReplyPool(),
    ...(options.rpcObserver === undefined ? {} : { rpcObserver: options.rpcObserver }),
    ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
    tuning: {
      metaTimeoutMs: nfs.meta_timeout_ms,
      ioDeadlineMs: nfs.io_deadline_ms,
      ioConcurrency: nfs.io_concurrency,
      requestIoConcurrency: nfs.request_io_concurrency,
      writeBufferBytesPerFile: nfs.write_buffer_bytes,
      writeBufferBytesTotal: nfs.write_buffer_total_bytes,
      readAheadBytes: nfs.read_ahead_bytes,
      lengthReportIntervalMs: nfs.length_report_interval_ms,
      // Heartbeats bring newer routing info; no polling.
      routingRefreshMs: undefined,
    },
  });
  try {
    return await serve(client, secret, options);
  } catch (error) {
    await client.close();
    throw error;
  }
}

async function serve(client: FsClient, secret: string, options: NfsGatewayOptions): Promise<NfsGateway> {
  const { config, logger, clock } = options;
  const nfs = config.nfs;
  // Sessions a previous life of this gateway left open (it crashed) keep unlinked files alive.
  try {
    const pruned = await client.pruneOwnSessions();
    if (pruned.removedSessions > 0) logger.info(pruned, 'closed write sessions left by an earlier run');
  } catch (error) {
    logger.warn({ err: error }, `could not close sessions of an earlier run: ${describeError(error)}`);
  }
  const verifier = new WriteVerifier();
  const files = new OpenFiles({
    client,
    clock,
    logger,
    idleMs: nfs.open_file_idle_ms,
    openFilesMax: nfs.open_files_max,
    onLostWrites: (ino, error) => {
      logger.error(
        { ino: String(ino), err: error },
        'buffered writes of a file may be lost: changing the write verifier so clients send them again',
      );
      verifier.rotate();
    },
  });
  const exports = new ExportTable(exportSpecsOf(config));
  // The key of handles and NFSv4 ids: its own file when set, so a rotation of the cluster secret
  // leaves clients' handles valid.
  const handleSecret = nfs.handle_secret_file === undefined ? secret : readSecretFile(nfs.handle_secret_file);
  const context: GatewayContext = {
    exports,
    handles: new HandleCodec(handleSecret),
    fs: new ExportFs({ client, files, cursors: new ReaddirCursors(limits.nfsReaddirCursorsMax), logger }),
    verifier,
    metrics: new NfsMetrics(options.metrics),
    logger,
    clusterId: config.cluster.id,
  };
  for (const entry of exports.exports) {
    await context.fs
      .resolveRoot(entry)
      .catch((error: unknown) =>
        logger.warn({ export: entry.path }, `export not served until it exists: ${describeError(error)}`),
      );
  }
  const versions = new Map<number, RpcProgram>();
  if (nfs.versions.includes(3)) versions.set(3, new Nfs3Program(context));
  if (nfs.versions.includes(4)) versions.set(4, new Nfs4Program(context, handleSecret, clock.nowMs() / 1000));
  const server = new RpcServer({
    programs: [new MountProgram(context), nfsVersions(versions)],
    logger,
    allowPeer: (address) => exports.allowsAny(address),
    recordBytesMax: limits.nfsRecordBytesMax,
    fragmentsMax: limits.nfsRecordFragmentsMax,
    replyBytesMax: limits.nfsReplyBytesMax,
    callsPerConnectionMax: limits.nfsCallsPerConnectionMax,
    unsentBytesMax: limits.nfsConnectionUnsentBytesMax,
    connectionsMax: nfs.connections_max,
    idleMs: nfs.connection_idle_ms,
    drainMs: limits.nfsStopDrainMs,
    onConnection: (event) => context.metrics.connection(event),
  });
  const { host, port } = splitAddress(nfs.listen);
  const bound = await server.listen(host, port);
  const address = `${bound.address.includes(':') ? `[${bound.address}]` : bound.address}:${bound.port}`;
  const registrations: Registration[] = [
    { program: mountProgram, version: mountVersion, port: bound.port },
    ...[...versions.keys()].map((version) => ({ program: nfsProgram, version, port: bound.port })),
  ];
  if (nfs.register_rpcbind) await registerWithRpcbind(registrations, logger);
  const heartbeat = new HeartbeatLoop({
    mgmtd: client.mgmtd,
    clock,
    logger,
    clusterId: config.cluster.id,
    node: {
      nodeId: config.node.id,
      type: 'nfs',
      address,
      hostname: config.node.hostname ?? hostname(),
      tags: config.node.tags,
    },
    intervalMs: config.mgmtd.heartbeat_interval_ms,
    onRoutingInfo: (routing) => client.routing.update(routing),
  });
  heartbeat.start();
  logger.info(
    {
      address,
      versions: nfs.versions,
      exports: exports.exports.map((entry) => entry.path),
      nodeId: config.node.id,
    },
    'nfs gateway listening',
  );
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await server.close();
      await files.closeAll();
      if (nfs.register_rpcbind) await unregisterFromRpcbind(registrations, logger);
      await heartbeat.stop();
      await client.close();
    })();
    return stopping;
  };
  return { address, port: bound.port, verifier, stop };
}
