// Proves the collector's dashboard is a working page in a real browser: headless Chromium loads
// it from a running collector beside mgmtd and storage-like nodes, and it shows the cluster's
// nodes, its chain and targets with their states, the alerts in force (a disk over 90 %, then an
// offline target and the degraded chain it leaves), and charts drawn from pushed samples.
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MgmtdClient } from '../../../src/client/index.js';
import { systemClock } from '../../../src/common/clock.js';
import { silentLogger } from '../../../src/common/logger.js';
import { RpcClient } from '../../../src/rpc/index.js';
import { fastTimings, startMgmtd, writeMgmtdConfig, createChainTable } from '../helpers/mgmtd-cluster.js';
import {
  FakeStorageNode,
  addMonitorSection,
  closedPort,
  getJson,
  startCollector,
  writeCollectorConfig,
} from '../helpers/monitor-cluster.js';
import { skipWithout } from '../../helpers/requirements.js';
import { TestWorld, eventually } from '../helpers/processes.js';

const chromiumPath = '/usr/bin/chromium';
const secret = 'test-cluster-secret-0123456789';
const gib = 1024 ** 3;

interface Overview {
  charts: { id: string; lines: { values: (number | null)[] }[] }[];
}

interface ClusterView {
  chains: { chainId: number; serving: number }[];
}

const browserMissing = skipWithout(
  'Chromium (for the dashboard browser test)',
  existsSync(chromiumPath) ? undefined : `${chromiumPath} is missing (apt-get install chromium)`,
);

describe('cluster dashboard in headless Chromium', () => {
  let world: TestWorld;
  let rpc: RpcClient;
  let browser: BrowserContext | undefined;
  const storageNodes: FakeStorageNode[] = [];

  beforeEach(() => {
    world = new TestWorld();
    rpc = new RpcClient({ clusterSecret: secret, logger: silentLogger() });
  });
  afterEach(async () => {
    for (const node of storageNodes.splice(0)) node.stop();
    await browser?.close();
    await rpc.close();
    await world.cleanup();
  });

  it.skipIf(browserMissing)('renders nodes, chains, alerts and a chart with data', async () => {
    const dir = world.tempDir('3fs-dashboard-');
    const secretFile = world.secretFile(dir, secret);
    const mgmtdConfig = writeMgmtdConfig({ dir, nodeId: 1, secretFile, databasePath: join(dir, 'meta.db') });
    expect((await world.runBinary('admin', ['--config', mgmtdConfig, 'init-cluster'])).code).toBe(0);
    // mgmtd pushes to the collector's port, and the collector reads routing info from mgmtd.
    const collectorListen = `127.0.0.1:${await closedPort()}`;
    addMonitorSection(mgmtdConfig, { collector: collectorListen, pushIntervalMs: 300 });
    const mgmtd = await startMgmtd(world, mgmtdConfig);
    await mgmtd.process.waitForLog((line) => line['msg'] === 'became primary');
    const collector = await startCollector(
      world,
      writeCollectorConfig({
        dir,
        nodeId: 90,
        secretFile,
        mgmtdAddress: mgmtd.address,
        listen: collectorListen,
      }),
    );
    const dashboard = `http://${collector.httpAddress}`;

    const client = new MgmtdClient({
      addresses: [mgmtd.address],
      rpc,
      clock: systemClock,
      logger: silentLogger(),
      timeoutMs: 2_000,
    });
    const usage = [
      { usedBytes: 2 * gib, capacityBytes: 10 * gib },
      { usedBytes: 3 * gib, capacityBytes: 10 * gib },
      { usedBytes: 9.5 * gib, capacityBytes: 10 * gib },
    ];
    for (const [index, nodeId] of [10, 11, 12].entries()) {
      storageNodes.push(new FakeStorageNode(client, nodeId, nodeId * 10 + 1, usage[index] ?? usage[0]!));
    }
    for (const node of storageNodes) await node.beat();
    for (const node of storageNodes) node.start(fastTimings.heartbeatIntervalMs);
    const created = await createChainTable(world, { mgmtdAddress: mgmtd.address, secretFile, replicas: 3 });
    expect(created.code).toBe(0);

    // Wait until the charts have something to draw: rates need two snapshots of each process.
    await eventually(
      async () => {
        const overview = await getJson<Overview>(`${dashboard}/api/overview?window_ms=60000`);
        const operations = overview.charts.find((chart) => chart.id === 'operations');
        const points =
          operations?.lines.flatMap((line) => line.values.filter((value) => value !== null)) ?? [];
        return points.length >= 3 ? true : undefined;
      },
      15_000,
      'chart data in the overview',
    );

    // The chain serves on all three replicas once each target reported in (the collector's view
    // follows mgmtd's routing info): only then does the page have "3/3" to show.
    await eventually(
      async () => {
        const cluster = await getJson<ClusterView>(`${dashboard}/api/cluster`);
        return cluster.chains.find((chain) => chain.chainId === 1)?.serving === 3 ? true : undefined;
      },
      20_000,
      'chain 1 serving on all three replicas in the collector view',
    );

    browser = await chromium.launchPersistentContext(world.tempDir('3fs-chromium-'), {
      executablePath: chromiumPath,
      headless: true,
      viewport: { width: 1400, height: 1100 },
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      timeout: 20_000,
    });
    const page = browser.pages()[0] ?? (await browser.newPage());
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(`${dashboard}/`, { timeout: 10_000 });

    // Nodes: mgmtd, the collector and the three storage nodes, with their states.
    await page.waitForSelector('#nodes tr[data-node-id="12"]', { timeout: 10_000 });
    for (const nodeId of ['1', '10', '11', '12', '90']) {
      expect(await page.locator(`#nodes tr[data-node-id="${nodeId}"]`).count()).toBe(1);
    }
    expect(await page.locator('#nodes tr[data-node-id="1"]').innerText()).toMatch(/mgmtd[\s\S]*online/);
    expect(await page.locator('#chains tr[data-chain-id="1"]').innerText()).toContain('3/3');
    await page.waitForSelector('#alerts li[data-kind="disk-full"]', { timeout: 10_000 });
    expect(await page.locator('#targets tr[data-target-id="121"]').innerText()).toContain('95.0 %');

    // Charts: a uPlot canvas with data points.
    // The page's own script sets data-points; the check runs in the page, hence a string.
    await page.waitForFunction(
      "Number(document.querySelector('#chart-operations')?.getAttribute('data-points') ?? 0) > 2",
      undefined,
      { timeout: 10_000 },
    );
    expect(await page.locator('#chart-operations canvas').count()).toBeGreaterThan(0);
    expect(await page.locator('#chart-latency canvas').count()).toBeGreaterThan(0);

    // A storage node falls silent: its target goes offline and the chain is degraded.
    storageNodes[0]?.stop();
    await page.waitForSelector('#alerts li[data-kind="chain-degraded"]', {
      timeout: fastTimings.heartbeatTimeoutMs + 10_000,
    });
    expect(await page.locator('#alerts li[data-kind="target-offline"]').innerText()).toContain('target 101');
    expect(await page.locator('#chains tr[data-chain-id="1"]').innerText()).toContain('2/3');
    await page.waitForTimeout(2_500);

    const screenshotPath = join(world.tempDir('3fs-screenshot-'), 'dashboard.png');
    await page.screenshot({ path: screenshotPath, fullPage: true });
    const png = readFileSync(screenshotPath);
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect(png.length).toBeGreaterThan(20_000);
    const keepAt = process.env['DASHBOARD_SCREENSHOT'];
    if (keepAt !== undefined && keepAt !== '') copyFileSync(screenshotPath, keepAt);
    expect(pageErrors).toEqual([]);
  });
});
