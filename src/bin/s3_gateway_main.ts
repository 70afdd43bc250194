// s3_gateway_main: the S3 gateway (DESIGN §14). Usage: s3_gateway_main --config s3.toml
import { hostname } from 'node:os';
import { Command } from 'commander';
import { systemClock } from '../common/clock.js';
import { rpcAuthentication } from '../client/index.js';
import { createLogger } from '../common/logger.js';
import { loadConfigOrExit, runService } from '../common/service-runtime.js';
import { version } from '../common/version.js';
import { createServiceMetrics } from '../monitor/index.js';
import { RpcClient } from '../rpc/index.js';
import { s3ConfigSchema, startS3Gateway } from '../s3/index.js';

const program = new Command('s3_gateway_main')
  .description('3fs-ts S3 gateway: serves the namespace as S3 buckets and objects')
  .version(version)
  .requiredOption('--config <file>', 'TOML configuration file')
  .parse();

const options = program.opts<{ config: string }>();
const config = loadConfigOrExit(s3ConfigSchema, options.config);
const logger = createLogger({ component: 's3', level: config.log.level });

await runService({
  name: 's3 gateway',
  logger,
  start: async () => {
    const metrics = createServiceMetrics({
      section: config.monitor,
      clusterId: config.cluster.id,
      node: { nodeId: config.node.id, type: 's3', hostname: config.node.hostname ?? hostname() },
      clock: systemClock,
      logger,
    });
    const gateway = await startS3Gateway({
      config,
      logger,
      clock: systemClock,
      rpcObserver: metrics.rpcClientObserver,
      metrics: metrics.registry,
    });
    const metricsRpc = new RpcClient({ ...rpcAuthentication(config.cluster), logger });
    await metrics.start(metricsRpc);
    return {
      stop: async () => {
        await gateway.stop();
        await metrics.stop();
        await metricsRpc.close();
      },
    };
  },
});
