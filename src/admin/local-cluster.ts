/**
 * `3fs local`: a whole cluster on one machine with the embedded metadata engine, for trying the
 * system and for development. It writes configs and a cluster secret into a data directory,
 * initializes the cluster on first use, starts the services as child processes from the same
 * build, and stops them cleanly on Ctrl-C.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeError } from '../common/errors.js';

export interface LocalClusterOptions {
  dataDir: string;
  mgmtdPort: number;
  clusterId: string;
  /** The collector's dashboard and /metrics port; default mgmtdPort + 90. Its RPC port is the next one. */
  monitorPort?: number;
}

interface ChildService {
  name: string;
  child: ChildProcess;
}

const binDir = dirname(fileURLToPath(import.meta.url));

function writeIfMissing(path: string, content: string, mode = 0o644): void {
  if (!existsSync(path)) writeFileSync(path, content, { mode });
}

/** The monitor collector's node id in a local cluster. */
const localMonitorNodeId = 900;

/** The collector's HTTP (dashboard, /metrics) and RPC (pushes) ports. */
function monitorPorts(options: LocalClusterOptions): { http: number; rpc: number } {
  const http = options.monitorPort ?? options.mgmtdPort + 90;
  return { http, rpc: http + 1 };
}

/** The `[monitor]` section every service of a local cluster has: push to the local collector each second. */
export function localMonitorSection(options: LocalClusterOptions): string {
  return `
[monitor]
collector = "127.0.0.1:${monitorPorts(options).rpc}"
push_interval_ms = 1000
`;
}

/** Writes the collector's config into the data directory unless it exists; returns its path. */
function prepareLocalMonitor(options: LocalClusterOptions, dataDir: string, secretFile: string): string {
  const ports = monitorPorts(options);
  const monitorConfig = join(dataDir, 'etc', 'monitor.toml');
  writeIfMissing(
    monitorConfig,
    `[node]
id = ${localMonitorNodeId}
listen = "127.0.0.1:${ports.rpc}"

[cluster]
id = "${options.clusterId}"
secret_file = "${secretFile}"

[mgmtd]
addresses = ["127.0.0.1:${options.mgmtdPort}"]

[collector]
http_listen = "127.0.0.1:${ports.http}"
self_interval_ms = 1000
`,
  );
  return monitorConfig;
}

/** Writes the cluster secret and service configs into the data directory (kept across runs). */
export function prepareLocalCluster(options: LocalClusterOptions): {
  mgmtdConfig: string;
  monitorConfig: string;
  secretFile: string;
} {
  const dataDir = resolve(options.dataDir);
  mkdirSync(join(dataDir, 'etc'), { recursive: true });
  const secretFile = join(dataDir, 'etc', 'cluster-secret');
  writeIfMissing(secretFile, `${randomBytes(32).toString('base64')}\n`, 0o600);
  const mgmtdConfig = join(dataDir, 'etc', 'mgmtd.toml');
  writeIfMissing(
    mgmtdConfig,
    `[node]
id = 1
listen = "127.0.0.1:${options.mgmtdPort}"

[cluster]
id = "${options.clusterId}"
secret_file = "${secretFile}"

[kv]
engine = "sqlite"
[kv.sqlite]
path = "${join(dataDir, 'meta.db')}"
${localMonitorSection(options)}`,
  );
  const monitorConfig = prepareLocalMonitor(options, dataDir, secretFile);
  return { mgmtdConfig, monitorConfig, secretFile };
}

function startChild(name: string, args: string[], write: (text: string) => void): ChildService {
  const child = spawn(process.execPath, [join(binDir, `${name}.js`), ...args], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  child.on('exit', (code, signal) =>
    write(`${name} exited (code ${code ?? '-'}, signal ${signal ?? '-'})\n`),
  );
  return { name, child };
}

async function runToEnd(name: string, args: string[]): Promise<number> {
  const child = spawn(process.execPath, [join(binDir, `${name}.js`), ...args], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return new Promise((resolveExit) => child.on('exit', (code) => resolveExit(code ?? 1)));
}

/** Runs the local cluster until SIGINT/SIGTERM; returns the exit code. */
export async function runLocalCluster(
  options: LocalClusterOptions,
  write: (text: string) => void,
): Promise<number> {
  const { mgmtdConfig, monitorConfig } = prepareLocalCluster(options);
  const marker = join(resolve(options.dataDir), 'meta.db');
  if (!existsSync(marker)) {
    const code = await runToEnd('admin', ['--config', mgmtdConfig, 'init-cluster']);
    if (code !== 0) return code;
  }
  const services = [
    startChild('mgmtd_main', ['--config', mgmtdConfig], write),
    startChild('monitor_collector_main', ['--config', monitorConfig], write),
  ];
  write(
    `local cluster "${options.clusterId}" starting in ${resolve(options.dataDir)}\n` +
      `  mgmtd: 127.0.0.1:${options.mgmtdPort}\n` +
      `  monitor: http://127.0.0.1:${monitorPorts(options).http}/ (dashboard; Prometheus text at /metrics)\n` +
      `  try:   node ${join(binDir, 'admin.js')} --config ${mgmtdConfig} list-nodes\n` +
      `  Ctrl-C stops everything\n`,
  );
  return new Promise((resolveRun) => {
    let stopping = false;
    const stop = (): void => {
      if (stopping) return;
      stopping = true;
      write('stopping local cluster\n');
      for (const service of services) service.child.kill('SIGTERM');
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    let remaining = services.length;
    for (const service of services) {
      service.child.on('exit', (code) => {
        if (!stopping) {
          write(`${service.name} stopped unexpectedly (${describeError(code)}); stopping the rest\n`);
          stop();
        }
        remaining -= 1;
        if (remaining === 0) resolveRun(stopping && code === 0 ? 0 : 1);
      });
    }
  });
}
