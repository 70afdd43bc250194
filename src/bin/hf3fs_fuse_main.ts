// hf3fs_fuse_main: the FUSE client daemon (DESIGN §10). Usage: hf3fs_fuse_main --config fuse.toml [--mount-point DIR]
import { hostname } from 'node:os';
import { Command } from 'commander';
import { systemClock } from '../common/clock.js';
import { loadConfig } from '../common/config.js';
import { describeError } from '../common/errors.js';
import { createLogger } from '../common/logger.js';
import { watchSecretFile } from '../common/secret-file-watcher.js';
import { runService } from '../common/service-runtime.js';
import { version } from '../common/version.js';
import { fuseConfigSchema, startFuseDaemon, type FuseConfig } from '../fuse/index.js';
import { createServiceMetrics } from '../monitor/index.js';
import { RpcClient } from '../rpc/index.js';
import { rpcAuthentication } from '../client/index.js';

const program = new Command('hf3fs_fuse_main')
  .description('3fs-ts FUSE daemon: mounts the file system for every local user')
  .version(version)
  .requiredOption('--config <file>', 'TOML configuration file')
  .option('--mount-point <dir>', 'where to mount (overrides [fuse] mount_point)')
  .parse();

const options = program.opts<{ config: string; mountPoint?: string }>();
let config: FuseConfig;
try {
  config = loadConfig(fuseConfigSchema, options.config);
} catch (error) {
  console.error(describeError(error));
  process.exit(2);
}
const logger = createLogger({ component: 'fuse', level: config.log.level });

await runService({
  name: 'fuse',
  // It flushes its buffered writes and unmounts at once; the services it writes to wait for it.
  supervisorGoneGraceMs: 0,
  logger,
  start: async () => {
    // Followed on SIGHUP and every few seconds: a secret rotation needs no restart (README). A
    // daemon with a token and no secret file holds no secret of the cluster's at all.
    const secretPath = config.cluster.secret_file;
    const secretFile =
      secretPath === undefined
        ? undefined
        : watchSecretFile({ path: secretPath, clock: systemClock, logger });
    const metrics = createServiceMetrics({
      section: config.monitor,
      clusterId: config.cluster.id,
      node: { nodeId: config.node.id, type: 'fuse', hostname: config.node.hostname ?? hostname() },
      clock: systemClock,
      logger,
    });
    const daemon = await startFuseDaemon({
      config,
      ...(options.mountPoint === undefined ? {} : { mountPoint: options.mountPoint }),
      logger,
      clock: systemClock,
      rpcObserver: metrics.rpcClientObserver,
      metrics: metrics.registry,
      ...(secretFile === undefined ? {} : { clusterSecrets: secretFile.secrets }),
    });
    const metricsRpc = new RpcClient({ ...rpcAuthentication(config.cluster, secretFile?.secrets), logger });
    await metrics.start(metricsRpc);
    let stopped = false;
    const stop = async (): Promise<void> => {
      if (stopped) return;
      stopped = true;
      secretFile?.stop();
      await daemon.stop();
      await metrics.stop();
      await metricsRpc.close();
    };
    // Unmounted from outside (fusermount3 -u): nothing left to serve.
    void daemon.ended.then(async () => {
      if (stopped) return;
      logger.warn({ mountPoint: daemon.mountPoint }, 'the mount went away; exiting');
      await stop().catch((error: unknown) => logger.error({ err: error }, 'stopping after unmount failed'));
      process.exit(0);
    });
    return { stop };
  },
});
