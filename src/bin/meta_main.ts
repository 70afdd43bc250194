// meta_main: the stateless metadata service (DESIGN §6). Usage: meta_main --config meta.toml
import { randomInt } from 'node:crypto';
import { hostname } from 'node:os';
import { Command } from 'commander';
import { MgmtdClient, tokenDirectoryFromMgmtd } from '../cluster/index.js';
import { systemClock } from '../common/clock.js';
import { FsError } from '../common/errors.js';
import { createLogger } from '../common/logger.js';
import { seededRandom } from '../common/random.js';
import { watchSecretFile } from '../common/secret-file-watcher.js';
import { crashOnBrokenInvariant, loadConfigOrExit, runService } from '../common/service-runtime.js';
import { MgmtdCode } from '../common/status-code.js';
import { version } from '../common/version.js';
import { observeKvEngine, openKvEngine, type KvEngine } from '../kv/index.js';
import { MetaServer, metaConfigSchema, type MetaConfig } from '../meta/index.js';
import { NodeType, readCluster } from '../mgmtd/index.js';
import { combineObservers, metaOperationsObserver } from '../common/metrics/index.js';
import { createServiceMetrics } from '../monitor/index.js';
import { RpcClient, RpcServer } from '../rpc/index.js';

/** The chain table new files use until an operator sets another on a directory. */
const defaultChainTableId = 1;

const program = new Command('meta_main')
  .description('3fs-ts metadata service: the POSIX namespace on the transactional KV')
  .version(version)
  .requiredOption('--config <file>', 'TOML configuration file')
  .parse();

const options = program.opts<{ config: string }>();
const config: MetaConfig = loadConfigOrExit(metaConfigSchema, options.config);
const logger = createLogger({ component: 'meta', level: config.log.level });

/** The root layout from the cluster record, refusing a KV of another (or no) cluster. */
async function rootLayoutFrom(kv: KvEngine) {
  const cluster = await kv.read((tx) => readCluster(tx));
  if (cluster === undefined) {
    throw new FsError(
      MgmtdCode.ClusterNotInitialized,
      'the cluster is not initialized: run "admin init-cluster"',
    );
  }
  if (cluster.clusterId !== config.cluster.id) {
    throw new FsError(
      MgmtdCode.ClusterIdMismatch,
      `the metadata store belongs to cluster "${cluster.clusterId}", not "${config.cluster.id}"`,
    );
  }
  return {
    chainTableId: defaultChainTableId,
    chunkSizeBytes: cluster.defaultChunkSizeBytes,
    stripeSize: cluster.defaultStripeSize,
  };
}

await runService({
  name: 'meta',
  logger,
  start: async () => {
    // Followed on SIGHUP and every few seconds: a secret rotation needs no restart (README).
    const secretFile = watchSecretFile({ path: config.cluster.secret_file, clock: systemClock, logger });
    const clusterSecret = secretFile.secrets;
    const metrics = createServiceMetrics({
      section: config.monitor,
      clusterId: config.cluster.id,
      node: { nodeId: config.node.id, type: NodeType.Meta, hostname: config.node.hostname ?? hostname() },
      clock: systemClock,
      logger,
    });
    const kv = observeKvEngine(
      await openKvEngine(config.kv, { logger, syncObserver: metrics.kvObserver }),
      metrics.kvObserver,
    );
    const rootLayout = await rootLayoutFrom(kv);
    const rpcClient = new RpcClient({ clusterSecret, logger, observer: metrics.rpcClientObserver });
    const tokens = tokenDirectoryFromMgmtd({ config, rpcClient, logger });
    const rpcServer = new RpcServer({
      clusterSecret,
      tokens,
      logger,
      observer: combineObservers(metrics.rpcServerObserver, metaOperationsObserver(metrics.registry)),
      onBrokenInvariant: crashOnBrokenInvariant(logger),
    });
    const bound = await rpcServer.listen(config.node.listen);
    const address = config.node.advertise ?? bound;
    const mgmtd = new MgmtdClient({
      addresses: config.mgmtd.addresses,
      rpc: rpcClient,
      clock: systemClock,
      logger,
      timeoutMs: config.mgmtd.timeout_ms,
    });
    const server = new MetaServer({
      config,
      kv,
      rpcServer,
      mgmtd,
      clock: systemClock,
      random: seededRandom(randomInt(0x7fff_ffff)),
      logger,
      address,
      rootLayout,
      rpcClient,
    });
    await server.start();
    await metrics.start(rpcClient);
    logger.info(
      { listen: bound, address, nodeId: config.node.id, metrics: metrics.endpointAddress },
      'meta listening',
    );
    return {
      stop: async () => {
        secretFile.stop();
        tokens.stop();
        await metrics.stop();
        await server.stop();
        await rpcServer.close({ drainMs: 5_000 });
        await rpcClient.close();
        await kv.close();
      },
    };
  },
});
