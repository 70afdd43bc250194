/**
 * The running S3 gateway (DESIGN §14): a client of the cluster (routing info fed by its own
 * heartbeats as a node of type "s3"), the access keys it looks up in meta, the staging and upload
 * directories in the export root, the HTTP endpoint, and the orderly stop: no new connections,
 * requests in flight drain, then heartbeats and the client stop. Nothing that matters lives in the
 * gateway between requests (keys and uploads are in the cluster), so several gateways may serve
 * one cluster behind a load balancer and a restarted one carries on where it left off.
 */
import { hostname } from 'node:os';
import { FsClient, HeartbeatLoop, clientAuthentication, readReplyPool } from '../client/index.js';
import type { Clock, TimerHandle } from '../common/clock.js';
import { splitAddress } from '../common/config.js';
import { describeError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { Logger } from '../common/logger.js';
import type { MetricsRegistry } from '../common/metrics/index.js';
import type { RpcClientOptions } from '../rpc/index.js';
import { AccessKeys } from './access-keys.js';
import type { S3Config } from './config.js';
import { Uploads } from './multipart.js';
import { ObjectFs } from './object-fs.js';
import { ObjectWriter } from './object-writer.js';
import type { GatewayServices } from './s3-request.js';
import { S3Metrics } from './s3-metrics.js';
import { S3Server } from './server.js';
import { Staging } from './staging.js';

export interface S3GatewayOptions {
  readonly config: S3Config;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly rpcObserver?: RpcClientOptions['observer'];
  /** Where request and client library metrics go; none are recorded without them. */
  readonly metrics?: MetricsRegistry;
}

export interface S3Gateway {
  /** "host:port" the endpoint answers on (the bound port when 0 was asked for). */
  readonly address: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** The client id of a gateway's write sessions: one per node id, the same across restarts. */
export function s3ClientId(nodeId: number): string {
  return `s3-${nodeId}`;
}

/** Connects, listens and starts heartbeats; see the file comment. */
export async function startS3Gateway(options: S3GatewayOptions): Promise<S3Gateway> {
  const { config, logger, clock } = options;
  const s3 = config.s3;
  const client = await FsClient.connect({
    mgmtdAddresses: config.mgmtd.addresses,
    ...clientAuthentication(config.cluster),
    logger,
    clock,
    clientId: s3ClientId(config.node.id),
    mgmtdTimeoutMs: config.mgmtd.timeout_ms,
    // An object's bytes go back to the pool once the response has written them (sendRange).
    replyPayloadPool: readReplyPool(),
    ...(options.rpcObserver === undefined ? {} : { rpcObserver: options.rpcObserver }),
    ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
    tuning: {
      metaTimeoutMs: s3.meta_timeout_ms,
      ioDeadlineMs: s3.io_deadline_ms,
      ioConcurrency: s3.io_concurrency,
      requestIoConcurrency: s3.request_io_concurrency,
      writeBufferBytesPerFile: s3.write_buffer_bytes,
      writeBufferBytesTotal: s3.write_buffer_total_bytes,
      readAheadBytes: s3.read_ahead_bytes,
      // Every file the gateway writes reports its length when it closes, before it is published;
      // a periodic report racing that close would change the file's mtime after the gateway
      // recorded it with the ETag (object-meta.ts). So periodic reports are all but off.
      lengthReportIntervalMs: limits.s3LengthReportIntervalMs,
      // Heartbeats bring newer routing info; no polling.
      routingRefreshMs: undefined,
    },
  });
  try {
    return await serve(client, options);
  } catch (error) {
    await client.close();
    throw error;
  }
}

async function serve(client: FsClient, options: S3GatewayOptions): Promise<S3Gateway> {
  const { config, logger, clock } = options;
  const s3 = config.s3;
  // Sessions a previous life of this gateway left open (it crashed mid-upload) are closed.
  try {
    const pruned = await client.pruneOwnSessions();
    if (pruned.removedSessions > 0) logger.info(pruned, 'closed write sessions left by an earlier run');
  } catch (error) {
    logger.warn({ err: error }, `could not close sessions of an earlier run: ${describeError(error)}`);
  }
  const fs = new ObjectFs(client);
  const staging = new Staging({ fs, exportRoot: s3.export_root, nodeId: config.node.id, clock, logger });
  await staging
    .ensure()
    .catch((error: unknown) =>
      logger.warn({ exportRoot: s3.export_root }, `no staging directory yet: ${describeError(error)}`),
    );
  const services: GatewayServices = {
    fs,
    writer: new ObjectWriter({ fs, staging, fileMode: s3.file_mode, directoryMode: s3.directory_mode }),
    staging,
    uploads: new Uploads(fs, staging),
    exportRoot: s3.export_root,
    region: s3.region,
    fileMode: s3.file_mode,
    directoryMode: s3.directory_mode,
    logger,
    clock,
    metrics: new S3Metrics(options.metrics),
  };
  const server = new S3Server({ services, keys: AccessKeys.fromClient(client, clock), config: s3 });
  const { host, port } = splitAddress(s3.listen);
  const bound = await server.listen(host, port);
  const address = `${bound.address.includes(':') ? `[${bound.address}]` : bound.address}:${bound.port}`;
  const heartbeat = new HeartbeatLoop({
    mgmtd: client.mgmtd,
    clock,
    logger,
    clusterId: config.cluster.id,
    node: {
      nodeId: config.node.id,
      type: 's3',
      address,
      hostname: config.node.hostname ?? hostname(),
      tags: config.node.tags,
    },
    intervalMs: config.mgmtd.heartbeat_interval_ms,
    onRoutingInfo: (routing) => client.routing.update(routing),
  });
  heartbeat.start();
  let sweepTimer: TimerHandle | undefined;
  const sweep = (): void => {
    sweepTimer = clock.setTimer(limits.s3StagingSweepMs, () => {
      staging.sweep().then(
        (removed) => {
          if (removed > 0)
            logger.info({ removed }, 'removed staging files of uploads a stopped gateway left');
          sweep();
        },
        (error: unknown) => {
          logger.warn({ err: error }, `staging sweep failed: ${describeError(error)}`);
          sweep();
        },
      );
    });
  };
  sweep();
  logger.info(
    {
      address,
      tls: s3.tls_cert_file !== undefined,
      exportRoot: s3.export_root,
      region: s3.region,
      nodeId: config.node.id,
    },
    's3 gateway listening',
  );
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      sweepTimer?.cancel();
      await server.close();
      await heartbeat.stop();
      await client.close();
    })();
    return stopping;
  };
  return { address, port: bound.port, stop };
}
