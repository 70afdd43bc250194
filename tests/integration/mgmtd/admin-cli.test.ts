// Proves the admin CLI against a real mgmtd: init-cluster refuses a second run, list commands
// print tables and JSON, chain tables can be uploaded from a file and bad ones are refused, and
// an unreachable mgmtd or a bad config gives a clear error and a non-zero exit.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MgmtdClient } from '../../../src/client/index.js';
import { systemClock } from '../../../src/common/clock.js';
import { silentLogger } from '../../../src/common/logger.js';
import { mgmtdMethods } from '../../../src/mgmtd/index.js';
import { RpcClient } from '../../../src/rpc/index.js';
import { fastTimings, startMgmtd, writeMgmtdConfig } from '../helpers/mgmtd-cluster.js';
import { TestWorld } from '../helpers/processes.js';

const secret = 'test-cluster-secret-0123456789';

describe('the admin CLI', () => {
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

  it('initializes a cluster once, lists nodes, targets and chains, and uploads a chain table', async () => {
    const dir = world.tempDir();
    const secretFile = world.secretFile(dir, secret);
    // The stand-in storage nodes heartbeat once; a long timeout keeps them online for the whole
    // test, however slowly a loaded machine runs the admin processes.
    const timings = { ...fastTimings, heartbeatTimeoutMs: 120_000 };
    const config = writeMgmtdConfig({
      dir,
      nodeId: 1,
      secretFile,
      databasePath: join(dir, 'meta.db'),
      timings,
    });
    expect((await world.runBinary('admin', ['--config', config, 'init-cluster'])).code).toBe(0);
    const again = await world.runBinary('admin', ['--config', config, 'init-cluster']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already holds cluster "test"');
    expect(again.stderr).toContain('Mgmtd.ClusterAlreadyInitialized');

    const mgmtd = await startMgmtd(world, config);
    await mgmtd.process.waitForLog((line) => line['msg'] === 'became primary');
    const client = new MgmtdClient({
      addresses: [mgmtd.address],
      rpc,
      clock: systemClock,
      logger: silentLogger(),
      timeoutMs: 2_000,
    });
    for (const nodeId of [10, 11, 12, 13]) {
      await client.call(mgmtdMethods.heartbeat, {
        clusterId: 'test',
        node: {
          nodeId,
          type: 'storage',
          address: `127.0.0.1:${30_000 + nodeId}`,
          hostname: 'host',
          tags: [],
        },
        targets: [
          { targetId: nodeId * 100 + 1, localState: 'up-to-date', usedBytes: 0, capacityBytes: 1 << 30 },
        ],
      });
    }
    const connect = ['--mgmtd', mgmtd.address, '--secret-file', secretFile];

    const nodes = await world.runBinary('admin', [...connect, 'list-nodes']);
    expect(nodes.code).toBe(0);
    expect(nodes.stdout).toMatch(/ID\s+TYPE\s+STATUS\s+ADDRESS/);
    expect(nodes.stdout).toMatch(/1\s+mgmtd\s+online/);
    expect(nodes.stdout).toMatch(/13\s+storage\s+online\s+127\.0\.0\.1:30013/);

    const targetsJson = await world.runBinary('admin', [...connect, '--json', 'list-targets']);
    const targets = JSON.parse(targetsJson.stdout) as { targetId: number; chainId: number }[];
    expect(targets.map((target) => target.targetId)).toEqual([1001, 1101, 1201, 1301]);

    const file = join(dir, 'chains.toml');
    writeFileSync(
      file,
      'chain_table_id = 2\n[[chains]]\nid = 50\ntargets = [1001, 1101]\n[[chains]]\nid = 51\ntargets = [1201, 1301]\n',
    );
    const uploaded = await world.runBinary('admin', [...connect, 'upload-chain-table', file]);
    expect(uploaded.stderr).toBe('');
    expect(uploaded.stdout).toContain('uploaded chain table 2 version 1 with 2 chain(s)');

    const chains = await world.runBinary('admin', [...connect, 'list-chains']);
    expect(chains.stdout).toMatch(/50\s+2\s+1\s+1001\(serving\) -> 1101\(serving\)/);
    expect(chains.stdout).toMatch(/51\s+2\s+1\s+1201\(serving\) -> 1301\(serving\)/);

    const clash = join(dir, 'clash.toml');
    writeFileSync(clash, 'chain_table_id = 3\n[[chains]]\nid = 60\ntargets = [1001, 1201]\n');
    const refused = await world.runBinary('admin', [...connect, 'upload-chain-table', clash]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('target 1001 is already in chain 50');

    const badFile = join(dir, 'bad.toml');
    writeFileSync(badFile, 'chain_table_id = 3\n[[chains]]\nid = 60\ntargetz = [1]\n');
    const invalid = await world.runBinary('admin', [...connect, 'upload-chain-table', badFile]);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain('chains.0.targetz: unknown key');

    const dump = await world.runBinary('admin', [...connect, 'dump-routing-info']);
    expect(JSON.parse(dump.stdout)).toMatchObject({ clusterId: 'test', chainTables: [{ chainTableId: 2 }] });
  });

  it('says clearly that mgmtd is unreachable', async () => {
    const dir = world.tempDir();
    const secretFile = world.secretFile(dir, secret);
    const result = await world.runBinary('admin', [
      '--mgmtd',
      '127.0.0.1:1',
      '--secret-file',
      secretFile,
      'list-nodes',
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('cannot find the mgmtd primary');
    expect(result.stderr).toContain('127.0.0.1:1');
  });

  it('refuses a bad command line with a usage error', async () => {
    const result = await world.runBinary('admin', ['create-chain-table', '--replicas', 'three']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--replicas must be a positive integer');
  });
});

describe('service configuration', () => {
  let world: TestWorld;
  beforeEach(() => {
    world = new TestWorld();
  });
  afterEach(async () => {
    await world.cleanup();
  });

  it('stops mgmtd_main at start-up on an unknown key, naming its full path', async () => {
    const dir = world.tempDir();
    const secretFile = world.secretFile(dir);
    const config = writeMgmtdConfig({ dir, nodeId: 1, secretFile, databasePath: join(dir, 'meta.db') });
    writeFileSync(
      config,
      `${await import('node:fs').then((fs) => fs.readFileSync(config, 'utf8'))}\n[kv.sqlite2]\npath = "x"\n`,
    );
    const result = await world.runBinary('mgmtd_main', ['--config', config]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('invalid configuration');
    expect(result.stderr).toContain('kv.sqlite2: unknown key');
  });

  it('stops mgmtd_main at start-up on a bad value, naming the key and the reason', async () => {
    const dir = world.tempDir();
    const config = join(dir, 'bad.toml');
    writeFileSync(
      config,
      '[node]\nid = -1\nlisten = "nowhere"\n[cluster]\nid = "x"\nsecret_file = "/nonexistent"\n[kv]\nengine = "sqlite"\n[kv.sqlite]\npath = "/tmp/x.db"\n[mgmtd]\nlease_ms = 1000\nlease_renew_ms = 900\n',
    );
    const result = await world.runBinary('mgmtd_main', ['--config', config]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('node.id:');
    expect(result.stderr).toContain('node.listen: expected "host:port"');
    expect(result.stderr).toContain('mgmtd.lease_renew_ms: must be at most half of lease_ms');
  });
});
