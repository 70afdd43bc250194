// Starts real mgmtd_main processes on one sqlite metadata store, for integration tests.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunningProcess, TestWorld } from './processes.js';

export interface MgmtdTimings {
  leaseMs: number;
  leaseRenewMs: number;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  chainUpdateMs: number;
}

export const fastTimings: MgmtdTimings = {
  leaseMs: 3_000,
  leaseRenewMs: 500,
  heartbeatIntervalMs: 200,
  heartbeatTimeoutMs: 1_500,
  chainUpdateMs: 200,
};

/** Writes a mgmtd config for node `nodeId` into `dir` and returns its path. */
export function writeMgmtdConfig(options: {
  dir: string;
  nodeId: number;
  secretFile: string;
  databasePath: string;
  timings?: MgmtdTimings;
  clusterId?: string;
  /** A whole `[kv]` section replacing the sqlite one at `databasePath` (e.g. postgres). */
  kvToml?: string;
}): string {
  const timings = options.timings ?? fastTimings;
  const path = join(options.dir, `mgmtd-${options.nodeId}.toml`);
  writeFileSync(
    path,
    `[node]
id = ${options.nodeId}
listen = "127.0.0.1:0"

[cluster]
id = "${options.clusterId ?? 'test'}"
secret_file = "${options.secretFile}"

${options.kvToml ?? sqliteKvToml(options.databasePath)}

[mgmtd]
lease_ms = ${timings.leaseMs}
lease_renew_ms = ${timings.leaseRenewMs}
heartbeat_interval_ms = ${timings.heartbeatIntervalMs}
heartbeat_timeout_ms = ${timings.heartbeatTimeoutMs}
chain_update_interval_ms = ${timings.chainUpdateMs}

[log]
level = "info"
`,
  );
  return path;
}

/** Starts mgmtd_main with `configPath` and resolves with the process and its bound address. */
export async function startMgmtd(
  world: TestWorld,
  configPath: string,
  env: NodeJS.ProcessEnv = {},
): Promise<{ process: RunningProcess; address: string }> {
  const running = world.spawnBinary('mgmtd_main', ['--config', configPath], env);
  const line = await running.waitForLog((entry) => entry['msg'] === 'mgmtd listening');
  return { process: running, address: String(line['address']) };
}

/** Runs `admin create-chain-table` against the mgmtd at `mgmtdAddress`; resolves with the run. */
export function createChainTable(
  world: TestWorld,
  options: { mgmtdAddress: string; secretFile: string; replicas: number },
): ReturnType<TestWorld['runBinary']> {
  return world.runBinary('admin', [
    '--mgmtd',
    options.mgmtdAddress,
    '--secret-file',
    options.secretFile,
    'create-chain-table',
    '--replicas',
    String(options.replicas),
  ]);
}

/** The `[kv]` section of a sqlite database at `path`. */
export function sqliteKvToml(path: string, synchronous: 'full' | 'interval' | 'normal' = 'full'): string {
  return `[kv]\nengine = "sqlite"\n[kv.sqlite]\npath = "${path}"\nsynchronous = "${synchronous}"`;
}

/** The \`[kv]\` section of a PostgreSQL server reached without a password (tests). */
export function postgresKvToml(
  server: { host: string; port: number; user: string; database: string },
  table: string,
): string {
  return [
    '[kv]',
    'engine = "postgres"',
    '[kv.postgres]',
    `host = "${server.host}"`,
    `port = ${server.port}`,
    `user = "${server.user}"`,
    `database = "${server.database}"`,
    `table = "${table}"`,
  ].join('\n');
}

/** The `[kv]` section of the FoundationDB cluster `clusterFile` names, with every key under `keyPrefix`. */
export function foundationDbKvToml(clusterFile: string, keyPrefix: string): string {
  return [
    '[kv]',
    'engine = "foundationdb"',
    '[kv.foundationdb]',
    `cluster_file = "${clusterFile}"`,
    `key_prefix = "${keyPrefix}"`,
  ].join('\n');
}
