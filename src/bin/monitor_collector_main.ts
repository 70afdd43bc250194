// monitor_collector_main: receives metric samples from every process, keeps recent history, and
// serves Prometheus text, a JSON API and the cluster dashboard (DESIGN §11).
// Usage: monitor_collector_main --config monitor.toml
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { Command } from 'commander';
import { HeartbeatLoop, MgmtdClient, tokenDirectoryFromMgmtd } from '../cluster/index.js';
import { systemClock } from '../common/clock.js';
import { FsError, describeError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import { createLogger } from '../common/logger.js';
import { MetricsRegistry, rpcMetricsObserver } from '../common/metrics/index.js';
import { watchSecretFile } from '../common/secret-file-watcher.js';
import { crashOnBrokenInvariant, loadConfigOrExit, runService } from '../common/service-runtime.js';
import { CommonCode } from '../common/status-code.js';
import { version } from '../common/version.js';
import { NodeType } from '../mgmtd/protocol/index.js';
import {
  ClickhouseWriter,
  CollectorServer,
  collectorConfigSchema,
  httpClickhouseInsert,
  type CollectorConfig,
} from '../monitor/index.js';
import { RpcClient, RpcServer } from '../rpc/index.js';
import type { Logger } from '../common/logger.js';

const program = new Command('monitor_collector_main')
  .description('3fs-ts monitor collector: metric history, Prometheus text, JSON API and cluster dashboard')
  .version(version)
  .requiredOption('--config <file>', 'TOML configuration file')
  .parse();

const options = program.opts<{ config: string }>();
const config: CollectorConfig = loadConfigOrExit(collectorConfigSchema, options.config);
const logger = createLogger({ component: 'monitor', level: config.log.level });

function readPasswordFile(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (error) {
    throw new FsError(
      CommonCode.ConfigInvalid,
      `cannot read ClickHouse password file ${path}: ${describeError(error)}`,
      {
        cause: error,
      },
    );
  }
}

function clickhouseWriter(registry: MetricsRegistry, log: Logger): ClickhouseWriter | undefined {
  const section = config.collector.clickhouse;
  if (section === undefined) return undefined;
  return new ClickhouseWriter({
    database: section.database,
    table: section.table,
    batchRows: section.batch_rows,
    bufferedRowsMax: limits.monitorClickhouseBufferedRowsMax,
    flushIntervalMs: section.flush_interval_ms,
    timeoutMs: section.timeout_ms,
    insert: httpClickhouseInsert({
      url: section.url,
      ...(section.user === undefined ? {} : { user: section.user }),
      ...(section.password_file === undefined ? {} : { password: readPasswordFile(section.password_file) }),
    }),
    registry,
    clock: systemClock,
    logger: log,
  });
}

await runService({
  name: 'monitor collector',
  logger,
  start: async () => {
    // Followed on SIGHUP and every few seconds: a secret rotation needs no restart (README).
    const secretFile = watchSecretFile({ path: config.cluster.secret_file, clock: systemClock, logger });
    const clusterSecret = secretFile.secrets;
    const host = config.node.hostname ?? hostname();
    const registry = new MetricsRegistry({ node: String(config.node.id), node_type: NodeType.Monitor });
    registry.collectProcessMetrics();
    const rpcClient = new RpcClient({
      clusterSecret,
      logger,
      observer: rpcMetricsObserver(registry, 'client'),
    });
    // Clients that hold a user token and no secret (a FUSE host) push with their token.
    const tokens =
      config.mgmtd === undefined
        ? undefined
        : tokenDirectoryFromMgmtd({ config: { mgmtd: config.mgmtd }, rpcClient, logger });
    const rpcServer = new RpcServer({
      clusterSecret,
      ...(tokens === undefined ? {} : { tokens }),
      logger,
      observer: rpcMetricsObserver(registry, 'server'),
      onBrokenInvariant: crashOnBrokenInvariant(logger),
    });
    const bound = await rpcServer.listen(config.node.listen);
    const address = config.node.advertise ?? bound;
    const mgmtd =
      config.mgmtd === undefined
        ? undefined
        : new MgmtdClient({
            addresses: config.mgmtd.addresses,
            rpc: rpcClient,
            clock: systemClock,
            logger,
            timeoutMs: config.mgmtd.timeout_ms,
          });
    const clickhouse = clickhouseWriter(registry, logger);
    const collector = new CollectorServer({
      config,
      rpcServer,
      mgmtd,
      registry,
      clickhouse,
      hostname: host,
      clock: systemClock,
      logger,
    });
    const httpAddress = await collector.start();
    clickhouse?.start();
    const heartbeat =
      mgmtd === undefined || config.mgmtd === undefined
        ? undefined
        : new HeartbeatLoop({
            mgmtd,
            clock: systemClock,
            logger,
            clusterId: config.cluster.id,
            node: {
              nodeId: config.node.id,
              type: NodeType.Monitor,
              address,
              hostname: host,
              tags: config.node.tags,
            },
            intervalMs: config.mgmtd.heartbeat_interval_ms,
          });
    heartbeat?.start();
    logger.info(
      { listen: bound, address, http: httpAddress, nodeId: config.node.id },
      `monitor collector listening; dashboard at http://${httpAddress}/`,
    );
    return {
      stop: async () => {
        secretFile.stop();
        tokens?.stop();
        await heartbeat?.stop();
        await collector.stop();
        await rpcServer.close({ drainMs: 2_000 });
        await clickhouse?.stop();
        await rpcClient.close();
      },
    };
  },
});
