// Proves that two mgmtd processes on one KV elect one primary, and that after the primary is
// killed with SIGKILL the standby becomes primary within the lease time and routing info keeps
// being served with a higher version.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { MgmtdClient } from '../../../src/client/index.js';
import { systemClock } from '../../../src/common/clock.js';
import { silentLogger } from '../../../src/common/logger.js';
import { RpcClient } from '../../../src/rpc/index.js';
import { fastTimings, startMgmtd, writeMgmtdConfig } from '../helpers/mgmtd-cluster.js';
import { TestWorld } from '../helpers/processes.js';

const secret = 'test-cluster-secret-0123456789';

describe('mgmtd failover', () => {
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

  it('makes the standby primary within the lease time after the primary is killed', async () => {
    const dir = world.tempDir();
    const secretFile = world.secretFile(dir, secret);
    const databasePath = join(dir, 'meta.db');
    const first = writeMgmtdConfig({ dir, nodeId: 1, secretFile, databasePath });
    const second = writeMgmtdConfig({ dir, nodeId: 2, secretFile, databasePath });
    const init = await world.runBinary('admin', ['--config', first, 'init-cluster']);
    expect(init.stderr).toBe('');
    expect(init.code).toBe(0);

    const primary = await startMgmtd(world, first);
    await primary.process.waitForLog((line) => line['msg'] === 'became primary');
    const standby = await startMgmtd(world, second);

    const client = new MgmtdClient({
      addresses: [primary.address, standby.address],
      rpc,
      clock: systemClock,
      logger: silentLogger(),
      timeoutMs: 2_000,
    });
    const before = await client.refreshRoutingInfo();
    expect(before.nodes.find((node) => node.nodeId === 1)?.tags).toContain('primary');

    primary.process.child.kill('SIGKILL');
    const killedAt = Date.now();
    await standby.process.waitForLog((line) => line['msg'] === 'became primary', fastTimings.leaseMs + 5_000);
    const takeoverMs = Date.now() - killedAt;
    // The lease may have just been renewed when the primary died; one renew period of slack.
    expect(takeoverMs).toBeLessThanOrEqual(fastTimings.leaseMs + fastTimings.leaseRenewMs + 1_000);

    const after = await client.refreshRoutingInfo();
    expect(after.routingVersion).toBeGreaterThan(before.routingVersion);
    expect(after.nodes.find((node) => node.nodeId === 2)?.tags).toContain('primary');
    expect(after.nodes.find((node) => node.nodeId === 1)?.tags ?? []).not.toContain('primary');
  });

  it('lets a standby take over at once when the primary stops cleanly', async () => {
    const dir = world.tempDir();
    const secretFile = world.secretFile(dir, secret);
    const databasePath = join(dir, 'meta.db');
    const slow = { ...fastTimings, leaseMs: 20_000, leaseRenewMs: 500 };
    const first = writeMgmtdConfig({ dir, nodeId: 1, secretFile, databasePath, timings: slow });
    const second = writeMgmtdConfig({ dir, nodeId: 2, secretFile, databasePath, timings: slow });
    expect((await world.runBinary('admin', ['--config', first, 'init-cluster'])).code).toBe(0);
    const primary = await startMgmtd(world, first);
    await primary.process.waitForLog((line) => line['msg'] === 'became primary');
    const standby = await startMgmtd(world, second);

    primary.process.child.kill('SIGTERM');
    expect(await primary.process.exited).toEqual({ code: 0, signal: null });
    // Far sooner than the 20 s lease: the stopping primary released it.
    await standby.process.waitForLog((line) => line['msg'] === 'became primary', 5_000);
  });
});
