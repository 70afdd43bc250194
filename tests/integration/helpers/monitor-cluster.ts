// Starts the monitor collector next to mgmtd for integration tests, adds a [monitor] section to
// service configs, stands in for storage nodes by heartbeating targets, and reads the collector's
// Prometheus text and JSON API.
import { appendFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { MgmtdClient } from '../../../src/client/index.js';
import { mgmtdMethods, type LocalState } from '../../../src/mgmtd/index.js';
import type { RunningProcess, TestWorld } from './processes.js';

/** Appends a [monitor] section to a service config. */
export function addMonitorSection(
  configPath: string,
  options: { collector?: string; listen?: string; pushIntervalMs: number },
): void {
  const lines = ['', '[monitor]', `push_interval_ms = ${options.pushIntervalMs}`];
  if (options.collector !== undefined) lines.push(`collector = "${options.collector}"`);
  if (options.listen !== undefined) lines.push(`listen = "${options.listen}"`);
  appendFileSync(configPath, `${lines.join('\n')}\n`);
}

/** Writes a collector config into `dir` and returns its path. */
export function writeCollectorConfig(options: {
  dir: string;
  nodeId: number;
  secretFile: string;
  mgmtdAddress?: string;
  listen?: string;
  clusterId?: string;
  intervalMs?: number;
}): string {
  const intervalMs = options.intervalMs ?? 300;
  const path = join(options.dir, `monitor-${options.nodeId}.toml`);
  const mgmtd =
    options.mgmtdAddress === undefined
      ? ''
      : `[mgmtd]\naddresses = ["${options.mgmtdAddress}"]\nheartbeat_interval_ms = 200\n`;
  writeFileSync(
    path,
    `[node]
id = ${options.nodeId}
listen = "${options.listen ?? '127.0.0.1:0'}"

[cluster]
id = "${options.clusterId ?? 'test'}"
secret_file = "${options.secretFile}"

${mgmtd}
[collector]
http_listen = "127.0.0.1:0"
self_interval_ms = ${intervalMs}
routing_refresh_ms = ${intervalMs}
`,
  );
  return path;
}

/** Starts monitor_collector_main and resolves with its RPC (push) and HTTP addresses. */
export async function startCollector(
  world: TestWorld,
  configPath: string,
): Promise<{ process: RunningProcess; address: string; httpAddress: string }> {
  const running = world.spawnBinary('monitor_collector_main', ['--config', configPath]);
  const line = await running.waitForLog((entry) =>
    String(entry['msg']).startsWith('monitor collector listening'),
  );
  return { process: running, address: String(line['address']), httpAddress: String(line['http']) };
}

/** A loopback port that was free a moment ago (nothing listens on it now). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** GETs a URL with a deadline and returns the body text; throws on a non-2xx status. */
export async function getText(url: string): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.text();
}

export async function getJson<T>(url: string): Promise<T> {
  return JSON.parse(await getText(url)) as T;
}

/**
 * The value of the sample `name{labels…}` in Prometheus text, matching the given labels (others may
 * be present); undefined when there is no such sample.
 */
export function sampleValue(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const matches = Object.entries(labels).every(([label, value]) => line.includes(`${label}="${value}"`));
    if (matches) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

/** A stand-in for a storage service: heartbeats with one target until stopped. */
export class FakeStorageNode {
  private timer: NodeJS.Timeout | undefined;
  localState: LocalState = 'up-to-date';

  constructor(
    private readonly client: MgmtdClient,
    readonly nodeId: number,
    readonly targetId: number,
    private readonly usage: { usedBytes: number; capacityBytes: number },
  ) {}

  async beat(): Promise<void> {
    await this.client.call(mgmtdMethods.heartbeat, {
      clusterId: 'test',
      node: {
        nodeId: this.nodeId,
        type: 'storage',
        address: `127.0.0.1:${20_000 + this.nodeId}`,
        hostname: 'test',
        tags: [],
      },
      targets: [{ targetId: this.targetId, localState: this.localState, ...this.usage }],
    });
  }

  start(intervalMs: number): void {
    this.timer = setInterval(() => void this.beat().catch(() => undefined), intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
