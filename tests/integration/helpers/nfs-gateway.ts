// Starts nfs_gateway_main processes on a running cluster (from fuse-cluster.ts) with the exports a
// test asks for, on a loopback port chosen at run time (or a given one, to restart on the same
// port), and waits for its "nfs gateway listening" line. The world's cleanup kills them.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FuseCluster } from './fuse-cluster.js';
import type { RunningProcess } from './processes.js';
import { storageTimings } from './storage-cluster.js';
import { skipWithout } from '../../helpers/requirements.js';

/** One export as the test writes it into the config. */
export interface TestExport {
  path: string;
  clients?: string[];
  readOnly?: boolean;
  rootSquash?: boolean;
  allSquash?: boolean;
  anonUid?: number;
  anonGid?: number;
}

export interface RunningGateway {
  process: RunningProcess;
  port: number;
  configPath: string;
}

function exportToml(entry: TestExport): string {
  return `[[nfs.exports]]
path = ${JSON.stringify(entry.path)}
clients = ${JSON.stringify(entry.clients ?? ['127.0.0.1/32'])}
read_only = ${entry.readOnly ?? false}
root_squash = ${entry.rootSquash ?? false}
all_squash = ${entry.allSquash ?? false}
anonuid = ${entry.anonUid ?? 65534}
anongid = ${entry.anonGid ?? 65534}
`;
}

/** Writes a gateway config into the cluster's directory and returns its path. */
export function writeGatewayConfig(
  cluster: FuseCluster,
  options: { nodeId: number; port?: number; exports: TestExport[]; nfsSettings?: string; extraToml?: string },
): string {
  const path = join(cluster.dir, `nfs-${options.nodeId}.toml`);
  writeFileSync(
    path,
    `[node]
id = ${options.nodeId}

[cluster]
id = "test"
secret_file = "${cluster.secretFile}"

[mgmtd]
addresses = ["${cluster.mgmtdAddress}"]
heartbeat_interval_ms = ${storageTimings.heartbeatIntervalMs}

[nfs]
listen = "127.0.0.1:${options.port ?? 0}"
${options.nfsSettings ?? ''}

${options.exports.map(exportToml).join('\n')}
${options.extraToml ?? ''}
[log]
level = "debug"
`,
  );
  return path;
}

/** Starts a gateway on `configPath` and waits until it listens. */
export async function startGateway(
  cluster: FuseCluster,
  configPath: string,
  env: NodeJS.ProcessEnv = {},
): Promise<RunningGateway> {
  const process = cluster.world.spawnBinary('nfs_gateway_main', ['--config', configPath], env);
  const line = await process.waitForLog((entry) => entry['msg'] === 'nfs gateway listening', 30_000);
  const address = String(line['address']);
  return { process, port: Number(address.slice(address.lastIndexOf(':') + 1)), configPath };
}

/** Stops a gateway with SIGTERM (SIGKILL after a bound); resolves with its exit. */
export async function stopGateway(
  gateway: RunningGateway,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const { child } = gateway.process;
  if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const exit = await gateway.process.exited;
  clearTimeout(timer);
  return exit;
}

/** Whether Debian's libnfs-utils (nfs-ls, nfs-cp, nfs-cat) is installed; else skip (fail under CI). */
export function libnfsSkipReason(): string | undefined {
  const found = spawnSync('sh', ['-c', 'command -v nfs-cp && command -v nfs-ls && command -v nfs-cat'], {
    encoding: 'utf8',
  });
  const reason =
    found.status === 0 ? undefined : 'nfs-ls, nfs-cp and nfs-cat are missing (apt-get install libnfs-utils)';
  skipWithout('libnfs-utils (for the NFS client tests)', reason);
  return reason;
}

/** Whether 127.0.0.2 can be used as a second client address on loopback (Linux routes 127/8 there). */
export function secondLoopbackWorks(): boolean {
  return process.platform === 'linux';
}
