// Proves `3fs local` starts the monitor collector beside the other services and prints its
// address, and that I/O against the cluster moves the matching counters in the collector's
// Prometheus text and JSON API: files written and read through the client library (metadata
// operations on meta, chunk writes and their bytes on storage), routing-info reads from mgmtd, and
// the heartbeats and KV transactions they cause.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { FsClient, MgmtdClient } from '../../../src/client/index.js';
import { systemClock } from '../../../src/common/clock.js';
import { readSecretFile } from '../../../src/common/config.js';
import { silentLogger } from '../../../src/common/logger.js';
import { mgmtdMethods } from '../../../src/mgmtd/index.js';
import { RpcClient } from '../../../src/rpc/index.js';
import { getJson, getText, sampleValue } from '../helpers/monitor-cluster.js';
import { TestWorld, eventually, type RunningProcess } from '../helpers/processes.js';
import { freeBasePort } from '../local/local-run.js';

interface SeriesReply {
  series: { labels: Record<string, string>; points: [number, number][] }[];
}

/** Routing-info reads per round of I/O. */
const ioCalls = 25;
/** Bytes of the file each round of I/O writes and reads back. */
const fileBytes = 256 * 1024;
const routingReadsQuery =
  '/api/series?name=threefs_rpc_server_calls_total&label.method=Mgmtd.getRoutingInfo&label.node=1&window_ms=60000';

/** Counters that the I/O below must move, as (metric, labels) on the mgmtd node. */
const expectedCounters = [
  {
    name: 'threefs_rpc_server_calls_total',
    labels: { method: 'Mgmtd.getRoutingInfo', node: '1' },
    atLeast: ioCalls,
  },
  { name: 'threefs_rpc_server_calls_total', labels: { method: 'Mgmtd.heartbeat', node: '1' }, atLeast: 1 },
  { name: 'threefs_kv_transactions_total', labels: { kind: 'write', node: '1' }, atLeast: 1 },
  { name: 'threefs_meta_operations_total', labels: { operation: 'create' }, atLeast: 1 },
  // Only the chain's head serves Storage.write (the others get forwards), so one series matches.
  { name: 'threefs_rpc_server_calls_total', labels: { method: 'Storage.write' }, atLeast: 1 },
  {
    name: 'threefs_rpc_server_payload_bytes_total',
    labels: { method: 'Storage.write', direction: 'in' },
    atLeast: fileBytes,
  },
  // Every replica writes every byte: the first storage service's target (node 11) too.
  { name: 'threefs_storage_written_bytes_total', labels: { target: '1101' }, atLeast: fileBytes },
  {
    name: 'threefs_storage_chunk_operations_total',
    labels: { target: '1101', operation: 'write' },
    atLeast: 1,
  },
];

describe('3fs local with the monitor collector', () => {
  let world: TestWorld;
  let rpc: RpcClient | undefined;
  let local: RunningProcess | undefined;
  const childPids: number[] = [];

  beforeEach(() => {
    world = new TestWorld();
    rpc = undefined;
  });
  afterEach(async () => {
    await rpc?.close();
    if (local !== undefined && local.child.exitCode === null) {
      local.child.kill('SIGINT');
      const timer = setTimeout(() => local?.child.kill('SIGKILL'), 10_000);
      await local.exited;
      clearTimeout(timer);
    }
    // The services are children of `3fs local`; none may outlive the test.
    for (const pid of childPids.splice(0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone, as it should be.
      }
    }
    await world.cleanup();
  });

  it('prints the collector address, and I/O moves counters in /metrics and the JSON API', async () => {
    const dataDir = world.tempDir('3fs-local-monitor-');
    const base = await freeBasePort();
    local = world.spawnBinary('3fs', ['local', '--data-dir', dataDir, '--mgmtd-port', String(base)]);
    const mgmtdLine = await local.waitForLog((line) => line['msg'] === 'mgmtd listening', 20_000);
    const collectorLine = await local.waitForLog((line) =>
      String(line['msg']).startsWith('monitor collector listening'),
    );
    childPids.push(Number(mgmtdLine['pid']), Number(collectorLine['pid']));
    await eventually(
      async () => (local?.stdout().includes('is up') ? true : undefined),
      60_000,
      'the whole local cluster',
    );
    for (const line of local.stderr().split('\n')) {
      const match = /"pid":(\d+)/.exec(line);
      if (match !== null) childPids.push(Number(match[1]));
    }
    await eventually(
      async () => (local?.stdout().includes('monitor: http://') ? true : undefined),
      5_000,
      'address',
    );
    const dashboard = `http://127.0.0.1:${base + 90}`;
    expect(local.stdout()).toContain(`monitor: ${dashboard}/`);
    expect(await getText(`${dashboard}/`)).toContain('<title>3fs cluster</title>');

    // Both processes report; the collector knows mgmtd's routing info.
    await eventually(
      async () => {
        const { nodes } = await getJson<{ nodes: { nodeId: number; type: string; reporting: unknown }[] }>(
          `${dashboard}/api/nodes`,
        );
        const reporting = nodes.filter((node) => node.reporting !== null).map((node) => node.type);
        return reporting.includes('mgmtd') && reporting.includes('monitor') ? true : undefined;
      },
      15_000,
      'mgmtd and the collector reporting',
    );

    // I/O in two rounds: the first makes every counter exist in the collector, the second must
    // move it by its own amount, both in the Prometheus text and in the JSON API's history.
    await doIo(dataDir, base);
    const latestRoutingReads = async (): Promise<{ points: number; value: number } | undefined> => {
      const { series } = await getJson<SeriesReply>(`${dashboard}${routingReadsQuery}`);
      const points = series[0]?.points ?? [];
      const last = points[points.length - 1];
      return last === undefined ? undefined : { points: points.length, value: last[1] };
    };
    const firstRound = await eventually(
      async () => {
        const latest = await latestRoutingReads();
        return latest !== undefined && latest.value >= ioCalls ? latest : undefined;
      },
      15_000,
      'the first round of reads in the JSON API',
    );
    // Every service pushes on its own period: wait until each counter has arrived.
    const startValues = await eventually(
      async () => {
        const before = await getText(`${dashboard}/metrics`);
        const values = expectedCounters.map((counter) => sampleValue(before, counter.name, counter.labels));
        return values.every((value) => value !== undefined && value > 0) ? values : undefined;
      },
      15_000,
      'every counter of the first round in /metrics',
    );

    await doIo(dataDir, base);

    const after = await eventually(
      async () => {
        const text = await getText(`${dashboard}/metrics`);
        const moved = expectedCounters.every(
          (counter, index) =>
            (sampleValue(text, counter.name, counter.labels) ?? 0) >=
            (startValues[index] ?? 0) + counter.atLeast,
        );
        return moved ? text : undefined;
      },
      15_000,
      'counters moving in /metrics',
    );
    expect(sampleValue(after, 'process_resident_memory_bytes', { node: '1' })).toBeGreaterThan(0);
    expect(sampleValue(after, 'threefs_monitor_push_drops_total', { node: '1', reason: 'unreachable' })).toBe(
      0,
    );

    // The JSON API's history of the same counter rises by the second round's reads.
    const secondRound = await eventually(
      async () => {
        const latest = await latestRoutingReads();
        return latest !== undefined && latest.value >= firstRound.value + ioCalls ? latest : undefined;
      },
      15_000,
      'the second round of reads in the JSON API',
    );
    expect(secondRound.points).toBeGreaterThan(firstRound.points);
    const overview = await getJson<{
      charts: { id: string; lines: { label: string; values: (number | null)[] }[] }[];
    }>(`${dashboard}/api/overview?window_ms=60000&step_ms=1000`);
    const rpcLine = overview.charts
      .find((chart) => chart.id === 'operations')
      ?.lines.find((line) => line.label === 'RPC requests');
    expect(rpcLine?.values.some((value) => value !== null && value > 0)).toBe(true);
    // A bad query is refused with the reason, not answered with an empty result.
    const refused = await fetch(`${dashboard}/api/series?name=not%20a%20metric`);
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain('name: a metric name');
  });

  /** The I/O: a file written and read back, routing-info reads, and an admin command. */
  async function doIo(dataDir: string, base: number): Promise<void> {
    const secret = readSecretFile(`${dataDir}/etc/cluster-secret`);
    const files = await FsClient.connect({
      mgmtdAddresses: [`127.0.0.1:${base}`],
      clusterSecret: secret,
      logger: silentLogger(),
    });
    try {
      const path = `/io-${randomBytes(4).toString('hex')}`;
      const data = randomBytes(fileBytes);
      await files.writeFile(path, data);
      expect((await files.readFile(path)).equals(data)).toBe(true);
    } finally {
      await files.close();
    }
    rpc ??= new RpcClient({ clusterSecret: secret, logger: silentLogger() });
    const client = new MgmtdClient({
      addresses: [`127.0.0.1:${base}`],
      rpc,
      clock: systemClock,
      logger: silentLogger(),
      timeoutMs: 2_000,
    });
    for (let call = 0; call < ioCalls; call++)
      await client.call(mgmtdMethods.getRoutingInfo, { knownVersion: 0 });
    const listed = await world.runBinary('admin', ['--config', `${dataDir}/etc/mgmtd.toml`, 'list-nodes']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain('monitor');
  }
});
