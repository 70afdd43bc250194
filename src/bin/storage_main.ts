// storage_main: the storage service (DESIGN §7). Usage: storage_main --config storage.toml
//
// The native chunk engine, node:fs and sqlite share libuv's thread pool (4 threads unless
// UV_THREADPOOL_SIZE says otherwise), and a sync holds a thread for as long as the disk takes.
// The size cannot be raised from here: Node's ES module loader reads this very file through the
// pool, which starts with the size it finds then, before any line of it runs. Set
// UV_THREADPOOL_SIZE in the service's environment instead (e.g. 16 for a few NVMe targets); the
// start-up log names the size in effect.
import { hostname } from 'node:os';
import { Command } from 'commander';
import { systemClock } from '../common/clock.js';
import { limits } from '../common/limits.js';
import { createLogger } from '../common/logger.js';
import { watchSecretFile } from '../common/secret-file-watcher.js';
import { crashOnBrokenInvariant, loadConfigOrExit, runService } from '../common/service-runtime.js';
import { version } from '../common/version.js';
import { NodeType } from '../mgmtd/protocol/index.js';
import { createServiceMetrics } from '../monitor/index.js';
import { PayloadPool, RpcClient, RpcServer } from '../rpc/index.js';
import { tokenDirectoryFromMgmtd } from '../cluster/index.js';
import { StorageNode, registerStorageMetrics, storageConfigSchema } from '../storage/index.js';
import { pageAlignedAllocator } from '../storage/store/native-chunk-engine.js';

/** Exit status of a fenced process: it stopped on purpose and must rejoin through recovery. */
const fencedExitCode = 3;
/** libuv's thread pool size when UV_THREADPOOL_SIZE is not set. */
const uvThreadpoolSizeDefault = 4;

const program = new Command('storage_main')
  .description('3fs-ts storage service: chunk stores on local targets, replicated with CRAQ')
  .version(version)
  .requiredOption('--config <file>', 'TOML configuration file')
  .parse();

const options = program.opts<{ config: string }>();
const config = loadConfigOrExit(storageConfigSchema, options.config);
const logger = createLogger({ component: 'storage', level: config.log.level });

await runService({
  name: 'storage',
  logger,
  start: async () => {
    // Followed on SIGHUP and every few seconds: a secret rotation needs no restart (README).
    const secretFile = watchSecretFile({ path: config.cluster.secret_file, clock: systemClock, logger });
    const clusterSecret = secretFile.secrets;
    // A frame carries at most one chunk plus its header and body.
    const frameBytesMax = Math.max(
      limits.rpcFrameBytesMaxDefault,
      config.storage.chunk_size_max_bytes + 1024 * 1024,
    );
    const metrics = createServiceMetrics({
      section: config.monitor,
      clusterId: config.cluster.id,
      node: { nodeId: config.node.id, type: NodeType.Storage, hostname: config.node.hostname ?? hostname() },
      clock: systemClock,
      logger,
    });
    const rpcClient = new RpcClient({
      clusterSecret,
      logger,
      frameBytesMax,
      observer: metrics.rpcClientObserver,
    });
    const tokens = tokenDirectoryFromMgmtd({ config, rpcClient, logger });
    const alignedAllocator = pageAlignedAllocator();
    const rpcServer = new RpcServer({
      clusterSecret,
      tokens,
      logger,
      frameBytesMax,
      observer: metrics.rpcServerObserver,
      onBrokenInvariant: crashOnBrokenInvariant(logger),
      // Write and forward handlers are done with their payload when they settle (the chunk
      // engine's write and the forward to the successor are awaited), and reads fill a reply
      // buffer the connection lends them, so payload buffers are reused. They start on a page,
      // so that large reads can go around the page cache (`[storage] direct_reads`).
      payloadPool: new PayloadPool({
        minBytes: limits.rpcDirectPayloadMinBytes,
        maxBytes: limits.storagePayloadPoolBytesMax,
        keptBytesMax: limits.storagePayloadPoolKeptBytesMax,
        ...(alignedAllocator === undefined ? {} : { allocate: alignedAllocator }),
      }),
    });
    const node = await StorageNode.open({
      config,
      rpcServer,
      rpcClient,
      clock: systemClock,
      logger,
      onFenced: () => process.exit(fencedExitCode),
      metrics: metrics.registry,
    });
    registerStorageMetrics(metrics.registry, () => node.stats());
    const bound = await rpcServer.listen(config.node.listen);
    const address = config.node.advertise ?? bound;
    logger.info(
      {
        listen: bound,
        address,
        nodeId: config.node.id,
        chunkEngine: config.storage.chunk_engine,
        syncWrites: config.storage.sync_writes,
        uvThreadpoolSize: Number(process.env['UV_THREADPOOL_SIZE'] ?? uvThreadpoolSizeDefault),
      },
      'storage listening',
    );
    node.start(address);
    await metrics.start(rpcClient);
    return {
      stop: async () => {
        secretFile.stop();
        tokens.stop();
        await metrics.stop();
        await rpcServer.close({ drainMs: 5_000 });
        await node.stop();
        await rpcClient.close();
      },
    };
  },
});
