// Proves a process that cannot reach the collector keeps working: mgmtd with a collector address
// nobody listens on serves its clients as usual, counts every dropped snapshot by reason on its own
// /metrics, holds no backlog, and delivers fresh snapshots as soon as a collector appears there.
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MgmtdClient } from '../../../src/client/index.js';
import { systemClock } from '../../../src/common/clock.js';
import { silentLogger } from '../../../src/common/logger.js';
import { RpcClient } from '../../../src/rpc/index.js';
import { startMgmtd, writeMgmtdConfig } from '../helpers/mgmtd-cluster.js';
import {
  addMonitorSection,
  closedPort,
  getJson,
  getText,
  sampleValue,
  startCollector,
  writeCollectorConfig,
} from '../helpers/monitor-cluster.js';
import { TestWorld, eventually } from '../helpers/processes.js';

const secret = 'test-cluster-secret-0123456789';
const pushIntervalMs = 200;

describe('a process whose collector is unreachable', () => {
  let world: TestWorld;
  let rpc: RpcClient;

  beforeEach(() => {
    world = new TestWorld();
    rpc = new RpcClient({ clusterSecret: secret, logger: silentLogger() });
  });
  afterEach(async () => {
    await rpc.close();
    await world.cleanup();
  });

  it('keeps serving, counts dropped snapshots, and recovers when the collector comes', async () => {
    const dir = world.tempDir();
    const secretFile = world.secretFile(dir, secret);
    const collectorPort = await closedPort();
    const config = writeMgmtdConfig({ dir, nodeId: 1, secretFile, databasePath: join(dir, 'meta.db') });
    addMonitorSection(config, {
      collector: `127.0.0.1:${collectorPort}`,
      listen: '127.0.0.1:0',
      pushIntervalMs,
    });
    expect((await world.runBinary('admin', ['--config', config, 'init-cluster'])).code).toBe(0);
    const mgmtd = await startMgmtd(world, config);
    const listening = await mgmtd.process.waitForLog((line) => line['msg'] === 'mgmtd listening');
    const metricsUrl = `http://${String(listening['metrics'])}/metrics`;
    await mgmtd.process.waitForLog((line) => line['msg'] === 'became primary');

    // The service works as usual while its snapshots go nowhere.
    const client = new MgmtdClient({
      addresses: [mgmtd.address],
      rpc,
      clock: systemClock,
      logger: silentLogger(),
      timeoutMs: 2_000,
    });
    for (let round = 0; round < 5; round++) {
      const routing = await client.refreshRoutingInfo();
      expect(routing.nodes.map((node) => node.nodeId)).toContain(1);
      await new Promise((resolve) => setTimeout(resolve, pushIntervalMs));
    }
    const dropped = await eventually(
      async () => {
        const value = sampleValue(await getText(metricsUrl), 'threefs_monitor_push_drops_total', {
          reason: 'unreachable',
        });
        return value !== undefined && value >= 5 ? value : undefined;
      },
      10_000,
      'five snapshots dropped as unreachable',
    );
    expect(dropped).toBeGreaterThanOrEqual(5);
    const text = await getText(metricsUrl);
    expect(sampleValue(text, 'threefs_monitor_pushes_total', {})).toBe(0);
    // One warning, not one per dropped snapshot.
    const warnings = mgmtd.process
      .stderr()
      .split('\n')
      .filter((line) => line.includes('metric snapshot dropped'));
    expect(warnings).toHaveLength(1);

    // A collector appears at the configured address: snapshots flow again, fresh ones only.
    const collectorConfig = writeCollectorConfig({
      dir,
      nodeId: 90,
      secretFile,
      mgmtdAddress: mgmtd.address,
      listen: `127.0.0.1:${collectorPort}`,
    });
    const collector = await startCollector(world, collectorConfig);
    await eventually(
      async () => {
        const value = sampleValue(await getText(metricsUrl), 'threefs_monitor_pushes_total', {});
        return value !== undefined && value >= 2 ? value : undefined;
      },
      10_000,
      'pushes accepted by the new collector',
    );
    const nodes = await getJson<{ nodes: { nodeId: number; reporting: { pushes: number } | null }[] }>(
      `http://${collector.httpAddress}/api/nodes`,
    );
    expect(nodes.nodes.find((node) => node.nodeId === 1)?.reporting?.pushes).toBeGreaterThanOrEqual(1);
  });
});
