// mgmtd_main: the cluster manager (DESIGN §8). Usage: mgmtd_main --config mgmtd.toml
import { Command } from 'commander';
import { systemClock } from '../common/clock.js';
import { loadConfig, readSecretFile } from '../common/config.js';
import { describeError } from '../common/errors.js';
import { createLogger } from '../common/logger.js';
import { runService } from '../common/service-runtime.js';
import { version } from '../common/version.js';
import { openKvEngine } from '../kv/index.js';
import { MgmtdServer, mgmtdConfigSchema } from '../mgmtd/index.js';
import { RpcClient, RpcServer } from '../rpc/index.js';

const program = new Command('mgmtd_main')
  .description('3fs-ts cluster manager: membership, chain tables, target states, routing info')
  .version(version)
  .requiredOption('--config <file>', 'TOML configuration file')
  .parse();

const options = program.opts<{ config: string }>();
let config;
try {
  config = loadConfig(mgmtdConfigSchema, options.config);
} catch (error) {
  console.error(describeError(error));
  process.exit(2);
}
const logger = createLogger({ component: 'mgmtd', level: config.log.level });

await runService({
  name: 'mgmtd',
  logger,
  start: async () => {
    const clusterSecret = readSecretFile(config.cluster.secret_file);
    const kv = await openKvEngine(config.kv, { logger });
    const rpcServer = new RpcServer({ clusterSecret, logger });
    const rpcClient = new RpcClient({ clusterSecret, logger });
    const bound = await rpcServer.listen(config.node.listen);
    const address = config.node.advertise ?? bound;
    const server = new MgmtdServer({ config, kv, rpcServer, rpcClient, clock: systemClock, logger, address });
    server.start();
    logger.info({ listen: bound, address, nodeId: config.node.id }, 'mgmtd listening');
    return {
      stop: async () => {
        await server.stop();
        await rpcServer.close({ drainMs: 5_000 });
        await rpcClient.close();
        await kv.close();
      },
    };
  },
});
