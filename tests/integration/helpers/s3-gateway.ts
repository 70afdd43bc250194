// Starts s3_gateway_main processes on a running cluster (from fuse-cluster.ts) on a loopback port
// chosen at run time, makes access keys with the admin CLI, and builds AWS SDK clients for them.
// The world's cleanup kills the gateways.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import type { FuseCluster } from './fuse-cluster.js';
import type { RunningProcess } from './processes.js';
import { storageTimings } from './storage-cluster.js';

export interface RunningS3Gateway {
  process: RunningProcess;
  port: number;
  /** http://127.0.0.1:PORT */
  endpoint: string;
  configPath: string;
}

/** An access key as `admin s3-key-add --json` prints it. */
export interface TestKey {
  accessKeyId: string;
  secretAccessKey: string;
}

export const testRegion = 'us-east-1';

/** Writes a gateway config into the cluster's directory and returns its path. */
export function writeS3GatewayConfig(
  cluster: FuseCluster,
  options: { nodeId: number; port?: number; exportRoot?: string; s3Settings?: string; extraToml?: string },
): string {
  const path = join(cluster.dir, `s3-${options.nodeId}.toml`);
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

[s3]
listen = "127.0.0.1:${options.port ?? 0}"
export_root = "${options.exportRoot ?? '/'}"
region = "${testRegion}"
${options.s3Settings ?? ''}
${options.extraToml ?? ''}
[log]
level = "info"
`,
  );
  return path;
}

/** Starts a gateway on `configPath` and waits until it listens. */
export async function startS3Gateway(cluster: FuseCluster, configPath: string): Promise<RunningS3Gateway> {
  const process = cluster.world.spawnBinary('s3_gateway_main', ['--config', configPath]);
  const line = await process.waitForLog((entry) => entry['msg'] === 's3 gateway listening', 30_000);
  const address = String(line['address']);
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  return { process, port, endpoint: `http://127.0.0.1:${port}`, configPath };
}

/** Runs the admin CLI against the cluster. */
export async function runAdmin(
  cluster: FuseCluster,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return cluster.world.runBinary('admin', [
    '--mgmtd',
    cluster.mgmtdAddress,
    '--secret-file',
    cluster.secretFile,
    ...args,
  ]);
}

/** Makes an access key for uid/gid (and groups) with `admin s3-key-add --json`. */
export async function addS3Key(
  cluster: FuseCluster,
  options: { name: string; uid: number; gid: number; groups?: number[] },
): Promise<TestKey> {
  const args = [
    '--json',
    's3-key-add',
    options.name,
    '--uid',
    String(options.uid),
    '--gid',
    String(options.gid),
  ];
  if (options.groups !== undefined) args.push('--groups', options.groups.join(','));
  const result = await runAdmin(cluster, args);
  if (result.code !== 0) throw new Error(`s3-key-add failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as TestKey;
}

/** An SDK client of the gateway signing with `key` (path-style addressing). */
export function sdkClient(
  gateway: RunningS3Gateway,
  key: TestKey,
  options: { retries?: number } = {},
): S3Client {
  return new S3Client({
    endpoint: gateway.endpoint,
    region: testRegion,
    forcePathStyle: true,
    credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey },
    maxAttempts: (options.retries ?? 0) + 1,
  });
}
