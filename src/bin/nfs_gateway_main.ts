// nfs_gateway_main: the NFS gateway (DESIGN §14). Usage: nfs_gateway_main --config nfs.toml
import { hostname } from 'node:os';
import { Command } from 'commander';
import { systemClock } from '../common/clock.js';
import { createLogger } from '../common/logger.js';
import { watchSecretFile } from '../common/secret-file-watcher.js';
import { loadConfigOrExit, runService } from '../common/service-runtime.js';
import { version } from '../common/version.js';
import { createServiceMetrics } from '../monitor/index.js';
import { nfsConfigSchema, startNfsGateway } from '../nfs/index.js';
import { RpcClient } from '../rpc/index.js';

const program = new Command('nfs_gateway_main')
  .description('3fs-ts NFS gateway: serves the namespace over NFSv3 (with MOUNT) and NFSv4.0')
  .version(version)
  .requiredOption('--config <file>', 'TOML configuration file')
  .parse();

const options = program.opts<{ config: string }>();
const config = loadConfigOrExit(nfsConfigSchema, options.config);
const logger = createLogger({ component: 'nfs', level: config.log.level });

await runService({
  name: 'nfs gateway',
  logger,
  start: async () => {
    // Followed on SIGHUP and every few seconds: a secret rotation needs no restart (README).
    const secretFile = watchSecretFile({ path: config.cluster.secret_file, clock: systemClock, logger });
    const metrics = createServiceMetrics({
      section: config.monitor,
      clusterId: config.cluster.id,
      node: { nodeId: config.node.id, type: 'nfs', hostname: config.node.hostname ?? hostname() },
      clock: systemClock,
      logger,
    });
    const gateway = await startNfsGateway({
      config,
      logger,
      clock: systemClock,
      rpcObserver: metrics.rpcClientObserver,
      metrics: metrics.registry,
      clusterSecrets: secretFile.secrets,
    });
    const metricsRpc = new RpcClient({ clusterSecret: secretFile.secrets, logger });
    await metrics.start(metricsRpc);
    return {
      stop: async () => {
        secretFile.stop();
        await gateway.stop();
        await metrics.stop();
        await metricsRpc.close();
      },
    };
  },
});
