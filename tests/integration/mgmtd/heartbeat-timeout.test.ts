// Proves that storage-like nodes register by heartbeat, that a node which stops heartbeating is
// declared offline after the timeout, and that its targets then change public state by the table
// (offline, moved to the chain's end, chain version bumped), and come back through waiting and
// syncing when the node returns.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { MgmtdClient } from '../../../src/client/index.js';
import { systemClock } from '../../../src/common/clock.js';
import { silentLogger } from '../../../src/common/logger.js';
import { mgmtdMethods, type LocalState, type RoutingInfo } from '../../../src/mgmtd/index.js';
import { RpcClient } from '../../../src/rpc/index.js';
import { fastTimings, startMgmtd, writeMgmtdConfig, createChainTable } from '../helpers/mgmtd-cluster.js';
import { TestWorld, eventually } from '../helpers/processes.js';

const secret = 'test-cluster-secret-0123456789';

/** A test stand-in for a storage service: heartbeats with one target until stopped. */
class FakeStorageNode {
  private timer: NodeJS.Timeout | undefined;
  localState: LocalState = 'up-to-date';

  constructor(
    private readonly client: MgmtdClient,
    readonly nodeId: number,
    readonly targetId: number,
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
      targets: [
        { targetId: this.targetId, localState: this.localState, usedBytes: 1024, capacityBytes: 1 << 30 },
      ],
    });
  }

  start(): void {
    this.timer = setInterval(() => void this.beat().catch(() => undefined), fastTimings.heartbeatIntervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

function chainStates(routing: RoutingInfo): string {
  const chain = routing.chains[0];
  return chain === undefined
    ? ''
    : chain.targets.map((target) => `${target.targetId}:${target.publicState}`).join(' ');
}

describe('node liveness and target states', () => {
  let world: TestWorld;
  let rpc: RpcClient;
  const nodes: FakeStorageNode[] = [];

  beforeEach(() => {
    world = new TestWorld();
    rpc = new RpcClient({ clusterSecret: secret, logger: silentLogger() });
  });
  afterEach(async () => {
    for (const node of nodes.splice(0)) node.stop();
    await rpc.close();
    await world.cleanup();
  });

  it('declares a silent node offline and moves its target through the state table', async () => {
    const dir = world.tempDir();
    const secretFile = world.secretFile(dir, secret);
    const config = writeMgmtdConfig({ dir, nodeId: 1, secretFile, databasePath: join(dir, 'meta.db') });
    expect((await world.runBinary('admin', ['--config', config, 'init-cluster'])).code).toBe(0);
    const mgmtd = await startMgmtd(world, config);
    await mgmtd.process.waitForLog((line) => line['msg'] === 'became primary');
    const client = new MgmtdClient({
      addresses: [mgmtd.address],
      rpc,
      clock: systemClock,
      logger: silentLogger(),
      timeoutMs: 2_000,
    });

    for (const nodeId of [10, 11, 12]) nodes.push(new FakeStorageNode(client, nodeId, nodeId * 10 + 1));
    for (const node of nodes) await node.beat();
    for (const node of nodes) node.start();

    const created = await createChainTable(world, { mgmtdAddress: mgmtd.address, secretFile, replicas: 3 });
    expect(created.stderr).toBe('');
    expect(created.stdout).toContain('created chain table 1 with 1 chain(s) of 3 replica(s)');

    const initial = await client.refreshRoutingInfo();
    expect(chainStates(initial)).toBe('101:serving 111:serving 121:serving');
    const initialVersion = initial.chains[0]?.chainVersion ?? 0;

    // Node 10 (the head) falls silent.
    nodes[0]?.stop();
    const afterDeath = await eventually(
      async () => {
        const routing = await client.refreshRoutingInfo();
        return routing.nodes.find((node) => node.nodeId === 10)?.status === 'offline' ? routing : undefined;
      },
      fastTimings.heartbeatTimeoutMs + 5_000,
      'node 10 declared offline',
    );
    expect(chainStates(afterDeath)).toBe('111:serving 121:serving 101:offline');
    expect(afterDeath.chains[0]?.chainVersion).toBeGreaterThan(initialVersion);
    expect(afterDeath.targets.find((target) => target.targetId === 101)).toMatchObject({
      localState: 'offline',
      publicState: 'offline',
    });

    // It returns as a fresh process would: online, not up to date, so it must be recovered.
    const returning = nodes[0];
    if (returning === undefined) throw new Error('node 10 missing');
    returning.localState = 'online';
    returning.start();
    await eventually(
      async () =>
        chainStates(await client.refreshRoutingInfo()) === '111:serving 121:serving 101:syncing'
          ? true
          : undefined,
      5_000,
      'target 101 syncing',
    );
    returning.localState = 'up-to-date';
    await eventually(
      async () =>
        chainStates(await client.refreshRoutingInfo()) === '111:serving 121:serving 101:serving'
          ? true
          : undefined,
      5_000,
      'target 101 serving again',
    );
  });
});
