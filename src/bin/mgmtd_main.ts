// mgmtd_main: the cluster manager (DESIGN §8). Usage: mgmtd_main --config mgmtd.toml
import { hostname } from 'node:os';
import { Command } from 'commander';
import { systemClock } from '../common/clock.js';
import { createLogger } from '../common/logger.js';
import { watchSecretFile } from '../common/secret-file-watcher.js';
import { crashOnBrokenInvariant, loadConfigOrExit, runService } from '../common/service-runtime.js';
import { version } from '../common/version.js';
import { observeKvEngine, openKvEngine } from '../kv/index.js';
import { MgmtdServer, NodeType, failoverHazard, mgmtdConfigSchema, readTokenTable } from '../mgmtd/index.js';
import { createServiceMetrics } from '../monitor/index.js';
import { RpcClient, RpcServer, TokenDirectory } from '../rpc/index.js';

const program = new Command('mgmtd_main')
  .description('3fs-ts cluster manager: membership, chain tables, target states, routing info')
  .version(version)
  .requiredOption('--config <file>', 'TOML configuration file')
  .parse();

const options = program.opts<{ config: string }>();
const config = loadConfigOrExit(mgmtdConfigSchema, options.config);
const logger = createLogger({ component: 'mgmtd', level: config.log.level });
const hazard = failoverHazard(config.mgmtd);
if (hazard !== undefined) logger.warn({ mgmtd: config.mgmtd }, `[mgmtd] timings: ${hazard}`);

await runService({
  name: 'mgmtd',
  logger,
  start: async () => {
    // Followed on SIGHUP and every few seconds: a secret rotation needs no restart (README).
    const secretFile = watchSecretFile({ path: config.cluster.secret_file, clock: systemClock, logger });
    const clusterSecret = secretFile.secrets;
    const metrics = createServiceMetrics({
      section: config.monitor,
      clusterId: config.cluster.id,
      node: { nodeId: config.node.id, type: NodeType.Mgmtd, hostname: config.node.hostname ?? hostname() },
      clock: systemClock,
      logger,
    });
    const kv = observeKvEngine(
      await openKvEngine(config.kv, { logger, syncObserver: metrics.kvObserver }),
      metrics.kvObserver,
    );
    // Callers' tokens are verified against the users table in this mgmtd's own KV.
    const tokens = new TokenDirectory({
      fetch: (knownVersion) => readTokenTable(kv, knownVersion),
      clock: systemClock,
      logger,
    });
    tokens.start();
    const rpcServer = new RpcServer({
      clusterSecret,
      tokens,
      logger,
      observer: metrics.rpcServerObserver,
      onBrokenInvariant: crashOnBrokenInvariant(logger),
    });
    const rpcClient = new RpcClient({ clusterSecret, logger, observer: metrics.rpcClientObserver });
    const bound = await rpcServer.listen(config.node.listen);
    const address = config.node.advertise ?? bound;
    const server = new MgmtdServer({
      config,
      kv,
      rpcServer,
      rpcClient,
      clock: systemClock,
      logger,
      address,
      metrics: metrics.registry,
    });
    server.start();
    await metrics.start(rpcClient);
    logger.info(
      { listen: bound, address, nodeId: config.node.id, metrics: metrics.endpointAddress },
      'mgmtd listening',
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
