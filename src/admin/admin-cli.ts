/**
 * The operator CLI (`admin`, also installed as `3fs-admin`): cluster bootstrap, and views and
 * changes of nodes, targets and chains through the mgmtd primary.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { z } from 'zod';
import { FsClient, readTokenFile } from '../client/index.js';
import { MgmtdClient } from '../cluster/index.js';
import { systemClock } from '../common/clock.js';
import { parseConfig, readSecretFile } from '../common/config.js';
import { FsError, describeError } from '../common/errors.js';
import { createLogger } from '../common/logger.js';
import { CommonCode, statusName } from '../common/status-code.js';
import { version } from '../common/version.js';
import { limits } from '../common/limits.js';
import { copyKvStores, kvSectionSchema, openKvEngine, type KvSection } from '../kv/index.js';
import { PublicState, initCluster, mgmtdMethods, type RoutingInfo } from '../mgmtd/index.js';
import { RpcClient, parseToken } from '../rpc/index.js';
import { fsckCommand } from './commands/fsck.js';
import { recoveryProgressCommand } from './commands/recovery-progress.js';
import { addS3KeyCommands } from './commands/s3-keys.js';
import { addUserCommands } from './commands/users.js';
import {
  candidatesFrom,
  collectSecretStatus,
  generateSecret,
  handshakeProbe,
  printSecretStatus,
} from './commands/secret-rotate.js';
import { adminConfigSchema, serviceConfigForAdminSchema, type AdminConfig } from './admin-config.js';
import { commandCat, commandLs, commandSetLayout, commandStat } from './commands/fs-commands.js';
import { addTrashCommands } from './commands/trash.js';
import { addQuotaCommands } from './commands/quota.js';
import { addCloneCommand } from './commands/clone.js';
import { formatBytes, printMessage, printTable, type Output } from './output.js';

interface GlobalOptions {
  config?: string;
  mgmtd?: string[];
  secretFile?: string;
  tokenFile?: string;
  json?: boolean;
  timeoutMs: number;
}

/** Everything a command may need, resolved lazily from flags and the config file. */
interface Context {
  options: GlobalOptions;
  output: Output;
  config(): AdminConfig | undefined;
  withMgmtd<T>(use: (mgmtd: MgmtdClient, rpc: RpcClient) => Promise<T>): Promise<T>;
  /** The cluster secret file in use (--secret-file, or the config's [cluster] secret_file). */
  secretFile(): string;
  /** A client of the file system (routing info, meta, storage) as the calling user. */
  withClient<T>(use: (client: FsClient) => Promise<T>): Promise<T>;
}

const uploadFileSchema = z.strictObject({
  chain_table_id: z.number().int().min(1).max(0xffff_ffff),
  chains: z
    .array(
      z.strictObject({
        id: z.number().int().min(1).max(0xffff_ffff),
        targets: z.array(z.number().int().min(1)).min(1).max(16),
      }),
    )
    .min(1),
});

function parsePositive(name: string) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isSafeInteger(parsed) || parsed < 1)
      throw new InvalidArgumentError(`${name} must be a positive integer`);
    return parsed;
  };
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function loadAdminConfig(path: string): AdminConfig {
  const text = readFileSync(path, 'utf8');
  try {
    return parseConfig(adminConfigSchema, text, path);
  } catch (adminError) {
    // A service's own config (mgmtd.toml, …) carries [cluster] and [kv] too.
    let service;
    try {
      service = parseConfig(serviceConfigForAdminSchema, text, path);
    } catch {
      throw adminError;
    }
    const address = service.node?.advertise ?? service.node?.listen;
    return {
      cluster: service.cluster,
      kv: service.kv,
      mgmtd: address !== undefined && !address.endsWith(':0') ? { addresses: [address] } : undefined,
      log: { level: 'warn' },
    };
  }
}

function makeContext(options: GlobalOptions, write: (text: string) => void): Context {
  let config: AdminConfig | undefined;
  let loaded = false;
  /** How this command authenticates: a user token (--token-file) or the cluster secret. */
  const authentication = (): { clusterSecret: string } | { token: string } => {
    const tokenFile = options.tokenFile ?? process.env['THREEFS_TOKEN_FILE'];
    if (tokenFile !== undefined && tokenFile !== '') return { token: readTokenFile(tokenFile) };
    return { clusterSecret: readSecretFile(reachable().secretFile) };
  };
  const addressesOf = (): string[] => {
    const addresses = options.mgmtd ?? context.config()?.mgmtd?.addresses;
    if (addresses === undefined || addresses.length === 0) {
      throw new FsError(
        CommonCode.InvalidArgument,
        'no mgmtd address: pass --mgmtd HOST:PORT or a --config with [mgmtd] addresses',
      );
    }
    return addresses;
  };
  const reachable = (): { addresses: string[]; secretFile: string } => {
    const addresses = options.mgmtd ?? context.config()?.mgmtd?.addresses;
    if (addresses === undefined || addresses.length === 0) {
      throw new FsError(
        CommonCode.InvalidArgument,
        'no mgmtd address: pass --mgmtd HOST:PORT or a --config with [mgmtd] addresses',
      );
    }
    const secretFile = options.secretFile ?? context.config()?.cluster.secret_file;
    if (secretFile === undefined) {
      throw new FsError(
        CommonCode.InvalidArgument,
        'no cluster secret: pass --secret-file FILE or a --config with [cluster] secret_file',
      );
    }
    return { addresses, secretFile };
  };
  const context: Context = {
    options,
    output: { json: options.json === true, write },
    config() {
      if (!loaded && options.config !== undefined) config = loadAdminConfig(options.config);
      loaded = true;
      return config;
    },
    async withClient(use) {
      const addresses = addressesOf();
      const logger = createLogger({ component: 'admin', level: context.config()?.log.level ?? 'warn' });
      const client = await FsClient.connect({
        mgmtdAddresses: addresses,
        ...authentication(),
        logger,
        mgmtdTimeoutMs: options.timeoutMs,
        tuning: { routingRefreshMs: undefined },
      });
      try {
        return await use(client);
      } finally {
        await client.close();
      }
    },
    secretFile() {
      return reachable().secretFile;
    },
    async withMgmtd(use) {
      const addresses = addressesOf();
      const logger = createLogger({ component: 'admin', level: context.config()?.log.level ?? 'warn' });
      const auth = authentication();
      const rpc = new RpcClient(
        'token' in auth
          ? { clusterSecret: '', token: parseToken(auth.token, 'the token file'), logger }
          : { clusterSecret: auth.clusterSecret, logger },
      );
      try {
        const mgmtd = new MgmtdClient({
          addresses,
          rpc,
          clock: systemClock,
          logger,
          timeoutMs: options.timeoutMs,
        });
        return await use(mgmtd, rpc);
      } finally {
        await rpc.close();
      }
    },
  };
  return context;
}

async function fetchRouting(context: Context): Promise<RoutingInfo> {
  return context.withMgmtd((mgmtd) => mgmtd.refreshRoutingInfo());
}

async function commandInitCluster(
  context: Context,
  flags: { chunkSize: number; stripe: number },
): Promise<void> {
  const config = context.config();
  if (config?.kv === undefined) {
    throw new FsError(
      CommonCode.InvalidArgument,
      'init-cluster needs --config with [cluster] and [kv] sections',
    );
  }
  const logger = createLogger({ component: 'admin', level: config.log.level });
  const kv = await openKvEngine(config.kv, { logger });
  try {
    const record = {
      format: 1 as const,
      clusterId: config.cluster.id,
      createdAtMs: Date.now(),
      defaultChunkSizeBytes: flags.chunkSize,
      defaultStripeSize: flags.stripe,
    };
    await initCluster(kv, record);
    printMessage(context.output, record, `initialized cluster "${record.clusterId}" (engine ${kv.name})`);
  } finally {
    await kv.close();
  }
}

async function commandListNodes(context: Context): Promise<void> {
  const routing = await fetchRouting(context);
  const now = Date.now();
  printTable(
    context.output,
    routing.nodes,
    ['ID', 'TYPE', 'STATUS', 'ADDRESS', 'HOSTNAME', 'LAST HEARTBEAT', 'TAGS'],
    routing.nodes.map((node) => [
      node.nodeId,
      node.type,
      node.status,
      node.address,
      node.hostname,
      node.lastHeartbeatMs === 0 ? '-' : `${((now - node.lastHeartbeatMs) / 1000).toFixed(1)}s ago`,
      node.tags.join(','),
    ]),
  );
}

async function commandListTargets(context: Context): Promise<void> {
  const routing = await fetchRouting(context);
  printTable(
    context.output,
    routing.targets,
    ['TARGET', 'NODE', 'CHAIN', 'LOCAL', 'PUBLIC', 'USED', 'CAPACITY'],
    routing.targets.map((target) => [
      target.targetId,
      target.nodeId,
      target.chainId === 0 ? '-' : target.chainId,
      target.localState,
      target.publicState,
      formatBytes(target.usedBytes),
      formatBytes(target.capacityBytes),
    ]),
  );
}

async function commandListChains(context: Context): Promise<void> {
  const routing = await fetchRouting(context);
  const tableOf = new Map<number, number>();
  for (const table of routing.chainTables)
    for (const chainId of table.chains) tableOf.set(chainId, table.chainTableId);
  printTable(
    context.output,
    { chainTables: routing.chainTables, chains: routing.chains },
    ['CHAIN', 'TABLE', 'VERSION', 'TARGETS (head first)'],
    routing.chains.map((chain) => [
      chain.chainId,
      tableOf.get(chain.chainId) ?? '-',
      chain.chainVersion,
      chain.targets
        .map((target) =>
          // A down target shows the chain version it last served under: the highest holds the newest writes.
          target.servedUntilChainVersion === undefined
            ? `${target.targetId}(${target.publicState})`
            : `${target.targetId}(${target.publicState}, served to v${target.servedUntilChainVersion})`,
        )
        .join(' -> '),
    ]),
  );
}

async function commandCreateChainTable(
  context: Context,
  flags: { replicas: number; tableId: number; targets?: string },
): Promise<void> {
  const targetIds = flags.targets?.split(',').map((text) => parsePositive('--targets')(text.trim()));
  const result = await context.withMgmtd((mgmtd) =>
    mgmtd.call(mgmtdMethods.createChainTable, {
      chainTableId: flags.tableId,
      replicas: flags.replicas,
      ...(targetIds === undefined ? {} : { targetIds }),
    }),
  );
  printMessage(
    context.output,
    result,
    `created chain table ${result.chainTable.chainTableId} with ${result.chains.length} chain(s) of ${flags.replicas} replica(s)`,
  );
}

async function commandUploadChainTable(context: Context, file: string): Promise<void> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new FsError(CommonCode.InvalidArgument, `cannot read ${file}: ${describeError(error)}`);
  }
  const parsed = parseConfig(uploadFileSchema, text, file);
  const result = await context.withMgmtd((mgmtd) =>
    mgmtd.call(mgmtdMethods.uploadChainTable, {
      chainTableId: parsed.chain_table_id,
      chains: parsed.chains.map((chain) => ({ chainId: chain.id, targetIds: chain.targets })),
    }),
  );
  printMessage(
    context.output,
    result,
    `uploaded chain table ${result.chainTable.chainTableId} version ${result.chainTable.chainTableVersion} with ${result.chains.length} chain(s)`,
  );
}

/**
 * Makes the next replica the last serving target of a chain stuck behind one that cannot come
 * back. The chain version read first goes with the request, so a retried call cannot rotate twice.
 */
async function commandRotateLastServing(context: Context, chainId: number): Promise<void> {
  const result = await context.withMgmtd(async (mgmtd) => {
    const routing = await mgmtd.refreshRoutingInfo();
    const chainVersion = routing.chains.find((chain) => chain.chainId === chainId)?.chainVersion;
    return mgmtd.call(mgmtdMethods.rotateLastServing, {
      chainId,
      ...(chainVersion === undefined ? {} : { chainVersion }),
    });
  });
  const { chain, previousLastServing, nextLastServing } = result;
  const nextState = chain.targets.find((target) => target.targetId === nextLastServing)?.publicState;
  const warning =
    `writes acknowledged only by target ${previousLastServing} after the other replicas of chain ` +
    `${chain.chainId} failed are lost`;
  const lines = [
    `chain ${chain.chainId}: target ${previousLastServing} (the last serving target) moved to the end as offline`,
    nextState === PublicState.LastServing
      ? `target ${nextLastServing} is the new last serving target; the chain serves again once its storage service reports it online`
      : `target ${nextLastServing} is the new last serving target and serves now`,
    `chain version ${chain.chainVersion}: ${chain.targets.map((target) => `${target.targetId}(${target.publicState})`).join(' -> ')}`,
    `target ${previousLastServing} comes back through recovery, refilled from its predecessor, as soon as its storage service sees this (no restart needed)`,
    `warning: ${warning}`,
  ];
  printMessage(context.output, { ...result, warning }, lines.join('\n'));
}

async function commandDumpRoutingInfo(context: Context): Promise<void> {
  const routing = await fetchRouting(context);
  context.output.write(`${JSON.stringify(routing, null, 2)}\n`);
}

// --- copy-metadata: moves a stopped cluster's metadata from one KV engine to another (kv/copy.ts).

/** Any TOML file with a `[kv]` section: an admin config or a service's own config. */
const kvFileSchema = z.looseObject({ kv: kvSectionSchema });

function loadKvSection(path: string): KvSection {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new FsError(CommonCode.InvalidArgument, `cannot read ${path}: ${describeError(error)}`);
  }
  return parseConfig(kvFileSchema, text, path).kv;
}

async function commandCopyMetadata(
  context: Context,
  flags: { fromConfig: string; toConfig: string; force?: boolean; batchBytes: number },
): Promise<void> {
  const source = loadKvSection(flags.fromConfig);
  const destination = loadKvSection(flags.toConfig);
  const logger = createLogger({ component: 'admin', level: 'warn' });
  let reportedMs = Date.now();
  const report = await copyKvStores(source, destination, {
    logger,
    force: flags.force === true,
    batchBytesMax: flags.batchBytes,
    onProgress: (progress) => {
      if (Date.now() - reportedMs < 2_000) return;
      reportedMs = Date.now();
      process.stderr.write(`admin: copied ${progress.pairs} pairs (${formatBytes(progress.bytes)}) so far\n`);
    },
  });
  printMessage(
    context.output,
    report,
    `copied ${report.pairs} pairs (${formatBytes(report.bytes)}) from ${report.source} to ${report.destination}` +
      `${report.clearedDestination ? ' (destination cleared first)' : ''}; verified: sha256 ${report.checksum}`,
  );
}

/** Writes bytes to stdout, waiting when the pipe is full. */
function writeStdout(bytes: Buffer): Promise<void> {
  return new Promise((resolve, reject) =>
    process.stdout.write(bytes, (error) =>
      error === null || error === undefined ? resolve() : reject(error),
    ),
  );
}

/** Builds the CLI. `write` receives stdout text and `writeBytes` file bytes (tests capture them). */
export function buildAdminProgram(
  write: (text: string) => void = (text) => process.stdout.write(text),
  writeBytes: (bytes: Buffer) => Promise<void> = writeStdout,
): Command {
  const program = new Command('admin')
    .description('3fs-ts operator CLI')
    .version(version)
    .option(
      '--config <file>',
      'TOML file with [cluster], [kv] and [mgmtd] addresses (a service config works too)',
    )
    .option('--mgmtd <host:port>', 'a mgmtd address (repeatable)', collect)
    .option('--secret-file <file>', 'file holding the cluster secret')
    .option(
      '--token-file <file>',
      'file holding a user token to act with instead of the cluster secret (admin commands need an admin token); default $THREEFS_TOKEN_FILE',
    )
    .option('--json', 'print JSON for scripts instead of tables')
    .option('--timeout-ms <ms>', 'deadline of each call to mgmtd', parsePositive('--timeout-ms'), 5_000)
    .showHelpAfterError()
    .exitOverride();
  const context = (): Context => makeContext(program.opts<GlobalOptions>(), write);

  program
    .command('init-cluster')
    .description('write the cluster record into an empty metadata store (needs [kv])')
    .option('--chunk-size <bytes>', 'default chunk size of files', parsePositive('--chunk-size'), 1024 * 1024)
    .option('--stripe <n>', 'default number of chains a file is striped over', parsePositive('--stripe'), 4)
    .action((flags: { chunkSize: number; stripe: number }) => commandInitCluster(context(), flags));
  program
    .command('list-nodes')
    .description('nodes and their status')
    .action(() => commandListNodes(context()));
  program
    .command('list-targets')
    .description('storage targets and their states')
    .action(() => commandListTargets(context()));
  program
    .command('list-chains')
    .description('chains, versions and targets')
    .action(() => commandListChains(context()));
  program
    .command('create-chain-table')
    .description('build a chain table from storage targets that are in no chain yet')
    .requiredOption('--replicas <n>', 'targets per chain', parsePositive('--replicas'))
    .option('--table-id <id>', 'chain table id', parsePositive('--table-id'), 1)
    .option('--targets <ids>', 'comma-separated target ids to use (default: all free targets)')
    .action((flags: { replicas: number; tableId: number; targets?: string }) =>
      commandCreateChainTable(context(), flags),
    );
  program
    .command('upload-chain-table <file>')
    .description('create or extend a chain table from a TOML file (chain_table_id, [[chains]] id, targets)')
    .action((file: string) => commandUploadChainTable(context(), file));
  program
    .command('rotate-lastsrv')
    .description(
      "when a chain's last serving target cannot come back (e.g. its disk was replaced), move it to the end and make the next replica the last serving target; writes only it held are lost",
    )
    .argument('<chainId>', 'the stuck chain', parsePositive('chainId'))
    .action((chainId: number) => commandRotateLastServing(context(), chainId));
  program
    .command('dump-routing-info')
    .description('the full routing info as JSON')
    .action(() => commandDumpRoutingInfo(context()));
  program
    .command('copy-metadata')
    .description(
      'copy all metadata from one [kv] engine to another while every service is stopped (e.g. sqlite to postgres), then verify it',
    )
    .requiredOption(
      '--from-config <file>',
      'TOML file whose [kv] section names the source (a service config works)',
    )
    .requiredOption('--to-config <file>', 'TOML file whose [kv] section names the destination')
    .option('--force', 'clear a destination that already holds data')
    .option(
      '--batch-bytes <bytes>',
      'bytes of keys and values per copied batch',
      parsePositive('--batch-bytes'),
      limits.kvCopyBatchBytesMax,
    )
    .action((flags: { fromConfig: string; toConfig: string; force?: boolean; batchBytes: number }) =>
      commandCopyMetadata(context(), flags),
    );
  addFileSystemCommands(program, context, writeBytes);
  addS3KeyCommands(program, (use) => {
    const current = context();
    return current.withClient((client) => use(client, current.output));
  });
  addSecretCommands(program, context);
  addUserCommands(program, (use) => {
    const current = context();
    return current.withMgmtd((mgmtd) => use(mgmtd, current.output));
  });
  return program;
}

/** `secret-rotate status` and `secret-rotate generate` (commands/secret-rotate.ts). */
function addSecretCommands(program: Command, context: () => Context): void {
  const rotate = program
    .command('secret-rotate')
    .description('change the cluster secret without a restart (see the README for the three steps)');
  rotate
    .command('status')
    .description(
      'which of the secrets in the secret file (and --also files) every server node accepts, and which it connects with',
    )
    .option('--also <file>', 'another secret file whose secrets to try (repeatable)', collect)
    .action((flags: { also?: string[] }) => {
      const current = context();
      const candidates = candidatesFrom([current.secretFile(), ...(flags.also ?? [])]);
      return current.withMgmtd(async (mgmtd) => {
        const routing = await mgmtd.refreshRoutingInfo();
        const timeoutMs = program.opts<GlobalOptions>().timeoutMs;
        const report = await collectSecretStatus({ routing, candidates, probe: handshakeProbe(timeoutMs) });
        printSecretStatus(current.output, report);
      });
    });
  rotate
    .command('generate')
    .description('print a fresh random secret (32 bytes, base64) for a new secret file line')
    .action(() => context().output.write(`${generateSecret()}\n`));
}

/** Commands on files and directories, through the client library (no mount needed). */
function addFileSystemCommands(
  program: Command,
  context: () => Context,
  writeBytes: (bytes: Buffer) => Promise<void>,
): void {
  program
    .command('recovery-progress')
    .description('targets being recovered: chunks and bytes to go, rate (--watch: progress bars until done)')
    .option('--watch', 'refresh until every target serves')
    .action((flags: { watch?: boolean }) =>
      context().withMgmtd(async (mgmtd, rpc) => {
        await recoveryProgressCommand({
          mgmtd,
          rpc,
          output: context().output,
          timeoutMs: program.opts<GlobalOptions>().timeoutMs,
          ...(flags.watch === true ? { watch: true } : {}),
        });
      }),
    );
  program
    .command('fsck')
    .description(
      'check the namespace and every replica of every chunk (read-only; safe on a live cluster); --repair fixes what it can',
    )
    .option('--repair', 'remove dangling entries and orphan chunks, rewrite chunks whose replicas differ')
    .option('--no-scrub', "compare the replicas' chunk metadata only, without reading their bytes")
    .action((flags: { repair?: boolean; scrub: boolean }) =>
      context().withMgmtd(async (mgmtd, rpc) => {
        const global = program.opts<GlobalOptions>();
        const report = await fsckCommand({
          mgmtd,
          rpc,
          logger: createLogger({ component: 'admin', level: 'warn' }),
          output: context().output,
          timeoutMs: global.timeoutMs,
          repair: flags.repair === true,
          scrub: flags.scrub,
        });
        if (!report.clean) {
          const left = report.findings.filter((finding) => finding.repaired !== true).length;
          throw new FsError(CommonCode.CorruptRecord, `fsck: ${left} problem(s) left`);
        }
      }),
    );
  program
    .command('stat <path>')
    .description("a file's or directory's inode, layout and the chains holding its chunks")
    .action((path: string) => context().withClient((client) => commandStat(client, context().output, path)));
  program
    .command('set-layout <dir>')
    .description('the layout of files created in a directory from now on (root only)')
    .option('--chunk-size <bytes>', 'chunk size in bytes (4096 to 64 MiB)', parsePositive('--chunk-size'))
    .option('--stripe <n>', 'number of chains a file is striped over', parsePositive('--stripe'))
    .option('--chain-table <id>', 'chain table new files are placed on', parsePositive('--chain-table'))
    .action((path: string, flags: { chunkSize?: number; stripe?: number; chainTable?: number }) =>
      context().withClient((client) => commandSetLayout(client, context().output, path, flags)),
    );
  program
    .command('ls [path]')
    .description('the entries of a directory with their inodes and attributes')
    .action((path: string | undefined) =>
      context().withClient((client) => commandLs(client, context().output, path ?? '/')),
    );
  program
    .command('cat <path>')
    .description("a file's content on stdout")
    .action((path: string) => context().withClient((client) => commandCat(client, path, writeBytes)));
  addTrashCommands(program, {
    withClient: (use) => context().withClient(use),
    output: () => context().output,
  });
  addQuotaCommands(program, {
    withClient: (use) => context().withClient(use),
    output: () => context().output,
  });
  addCloneCommand(program, {
    withClient: (use) => context().withClient(use),
    output: () => context().output,
  });
}

/** Runs the CLI and returns the process exit code (0 ok, 1 operating error, 2 usage error). */
export async function runAdmin(argv: string[]): Promise<number> {
  const program = buildAdminProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    if (error instanceof FsError) {
      process.stderr.write(`admin: ${error.message} [${statusName(error.code)}]\n`);
      return 1;
    }
    process.stderr.write(`admin: ${describeError(error)}\n`);
    return 1;
  }
}
