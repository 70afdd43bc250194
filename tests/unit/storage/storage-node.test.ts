// Proves a storage node's life against an in-process fake mgmtd: a restarted node sends no
// heartbeat until its chain target is shown offline and then reports it online (up-to-date once
// serving); a fresh node heartbeats at once with an up-to-date target and its disk usage; an empty
// target shown as its chain's last serving target stays offline until routing info shows it
// otherwise, across restarts until it has caught up; it syncs a serving target on request and
// answers unknown and non-serving ones with a status; and a node fences itself when routing info
// shows its target offline or mgmtd stops answering.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/common/clock.js';
import { silentLogger } from '../../../src/common/logger.js';
import { RpcCode, StorageCode } from '../../../src/common/status-code.js';
import {
  mgmtdMethods,
  type HeartbeatTarget,
  type PublicState,
  type RoutingInfo,
} from '../../../src/mgmtd/protocol/index.js';
import { RpcClient, RpcServer } from '../../../src/rpc/index.js';
import { eventually } from '../../integration/helpers/processes.js';
import { StorageNode, storageConfigSchema, storageMethods } from '../../../src/storage/index.js';
import { freshMarkerName } from '../../../src/storage/storage-node.js';

const secret = 'unit-test-cluster-secret-42';
const targetId = 701;
// Long enough that a loaded machine does not fence a node the test keeps talking to (it fences after half).
const heartbeatTimeoutMs = 1_500;

/** A mgmtd stand-in: serves routing info set by the test and records heartbeats. */
class FakeMgmtd {
  readonly server = new RpcServer({ clusterSecret: secret, logger: silentLogger() });
  readonly heartbeats: HeartbeatTarget[][] = [];
  routing: RoutingInfo = routingWith(1, undefined);
  address = '';

  async start(): Promise<void> {
    this.server.handle(mgmtdMethods.getPrimary, async () => ({
      primary: { nodeId: 99, address: this.address, leaseExpiresAtMs: Date.now() + 60_000 },
    }));
    this.server.handle(mgmtdMethods.heartbeat, async (request) => {
      this.heartbeats.push(request.targets);
      return { routingVersion: this.routing.routingVersion };
    });
    this.server.handle(mgmtdMethods.getRoutingInfo, async (request) => ({
      routingInfo: request.knownVersion >= this.routing.routingVersion ? null : this.routing,
    }));
    this.address = await this.server.listen('127.0.0.1:0');
  }

  publish(state: PublicState | undefined): void {
    this.routing = routingWith(this.routing.routingVersion + 1, state);
  }
}

/** Routing info where the target is in chain 1 in `state`, or in no chain when undefined. */
function routingWith(routingVersion: number, state: PublicState | undefined): RoutingInfo {
  return {
    clusterId: 'test',
    routingVersion,
    nodes: [],
    chains:
      state === undefined
        ? []
        : [{ chainId: 1, chainVersion: routingVersion, targets: [{ targetId, publicState: state }] }],
    chainTables: [],
    targets:
      state === undefined
        ? []
        : [
            {
              targetId,
              nodeId: 7,
              chainId: 1,
              localState: 'online',
              publicState: state,
              usedBytes: 0,
              capacityBytes: 0,
            },
          ],
  };
}

let dir: string;
let mgmtd: FakeMgmtd;
let rpcClient: RpcClient;
let storageServer: RpcServer;
let node: StorageNode | undefined;
let fenced: string[];

async function startNode(): Promise<StorageNode> {
  const config = storageConfigSchema.parse({
    node: { id: 7, listen: '127.0.0.1:0' },
    cluster: { id: 'test', secret_file: '/unused' },
    mgmtd: {
      addresses: [mgmtd.address],
      heartbeat_interval_ms: 50,
      heartbeat_timeout_ms: heartbeatTimeoutMs,
      timeout_ms: 200,
    },
    storage: {
      targets: [{ id: targetId, path: join(dir, 'target') }],
      free_space_reserve_bytes: 0,
      durability: 'process-crash',
    },
  });
  const started = await StorageNode.open({
    config,
    rpcServer: storageServer,
    rpcClient,
    clock: systemClock,
    logger: silentLogger(),
    onFenced: (reason) => fenced.push(reason),
  });
  started.start('127.0.0.1:1');
  node = started;
  return started;
}

/** Stops the node as its process would stop, ready for `startNode` again. */
async function stopNode(): Promise<void> {
  await node?.stop();
  node = undefined;
  await storageServer.close({ drainMs: 10 });
  storageServer = new RpcServer({ clusterSecret: secret, logger: silentLogger() });
  mgmtd.heartbeats.length = 0;
}

const lastHeartbeat = (): HeartbeatTarget | undefined => mgmtd.heartbeats.at(-1)?.[0];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), '3fs-storage-node-'));
  mgmtd = new FakeMgmtd();
  await mgmtd.start();
  rpcClient = new RpcClient({ clusterSecret: secret, logger: silentLogger() });
  storageServer = new RpcServer({ clusterSecret: secret, logger: silentLogger() });
  fenced = [];
  node = undefined;
});

afterEach(async () => {
  await node?.stop();
  await storageServer.close({ drainMs: 10 });
  await rpcClient.close();
  await mgmtd.server.close({ drainMs: 100 });
  rmSync(dir, { recursive: true, force: true });
});

describe('a storage node in the cluster', () => {
  it('sends no heartbeat after a restart until its target is shown offline, then reports it online', async () => {
    mgmtd.publish('serving');
    await startNode();
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(mgmtd.heartbeats).toHaveLength(0);
    mgmtd.publish('offline');
    await eventually(async () => (mgmtd.heartbeats.length > 0 ? true : undefined), 5_000, 'a heartbeat');
    expect(lastHeartbeat()).toMatchObject({ targetId, localState: 'online' });
    mgmtd.publish('waiting');
    mgmtd.publish('syncing');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(lastHeartbeat()?.localState).toBe('online');
    mgmtd.publish('serving');
    await eventually(
      async () => (lastHeartbeat()?.localState === 'up-to-date' ? true : undefined),
      5_000,
      'up-to-date once serving',
    );
    expect(fenced).toEqual([]);
  });

  it('heartbeats at once with a fresh target up to date, with its disk usage', async () => {
    await startNode();
    await eventually(async () => (mgmtd.heartbeats.length > 0 ? true : undefined), 5_000, 'a heartbeat');
    const beat = lastHeartbeat();
    expect(beat).toMatchObject({ targetId, localState: 'up-to-date' });
    expect(beat?.capacityBytes).toBeGreaterThan(0);
  });

  it("keeps an empty target that is its chain's lastsrv offline, and lets it rejoin once it is not", async () => {
    // The target directory does not exist yet: a replaced disk.
    mgmtd.publish('lastsrv');
    await startNode();
    await eventually(async () => (mgmtd.heartbeats.length > 0 ? true : undefined), 5_000, 'a heartbeat');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(mgmtd.heartbeats.every((beat) => beat[0]?.localState === 'offline')).toBe(true);
    // An operator rotated the chain: the target is offline at its end, and comes back through recovery.
    mgmtd.publish('offline');
    await eventually(
      async () => (lastHeartbeat()?.localState === 'online' ? true : undefined),
      5_000,
      'online once no longer the last serving target',
    );
    mgmtd.publish('waiting');
    mgmtd.publish('syncing');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(lastHeartbeat()?.localState).toBe('online');
    expect(fenced).toEqual([]);
  });

  it('keeps a target that started empty fresh across restarts until it has caught up', async () => {
    mgmtd.publish('lastsrv');
    await startNode();
    await eventually(async () => (mgmtd.heartbeats.length > 0 ? true : undefined), 5_000, 'a heartbeat');
    expect(existsSync(join(dir, 'target', freshMarkerName))).toBe(true);
    // Restarted before catching up, over a directory that is no longer empty: still refused.
    await stopNode();
    await startNode();
    await eventually(async () => (mgmtd.heartbeats.length > 2 ? true : undefined), 5_000, 'heartbeats');
    expect(mgmtd.heartbeats.every((beat) => beat[0]?.localState === 'offline')).toBe(true);
    // Rotated, recovered and serving: the marker goes, and a later restart is an ordinary one.
    mgmtd.publish('offline');
    mgmtd.publish('syncing');
    mgmtd.publish('serving');
    await eventually(
      async () => (existsSync(join(dir, 'target', freshMarkerName)) ? undefined : true),
      5_000,
      'the marker removed once serving',
    );
    await stopNode();
    mgmtd.publish('lastsrv');
    await startNode();
    await eventually(
      async () => (lastHeartbeat()?.localState === 'online' ? true : undefined),
      5_000,
      'an ordinary restart reports online',
    );
    expect(fenced).toEqual([]);
  });

  it('syncs a serving target on request, and answers unknown and non-serving targets with a status', async () => {
    const address = await storageServer.listen('127.0.0.1:0');
    const sync = (targetIds: number[]) =>
      rpcClient.call(address, storageMethods.syncTargets, { targetIds }, { timeoutMs: 5_000 });
    const started = await startNode();
    const synced = () => started.stats().targets[0]?.counters.syncs;
    // Before it has joined, nothing is served.
    expect((await sync([targetId])).targets).toEqual([
      expect.objectContaining({ targetId, code: StorageCode.TargetNotServing }),
    ]);
    await eventually(async () => (mgmtd.heartbeats.length > 0 ? true : undefined), 5_000, 'a heartbeat');
    mgmtd.publish('waiting');
    await eventually(
      async () => ((await sync([targetId])).targets[0]?.message?.includes('waiting') ? true : undefined),
      5_000,
      'the target shown waiting',
    );
    mgmtd.publish('serving');
    await eventually(
      async () => ((await sync([targetId])).targets[0]?.code === 0 ? true : undefined),
      5_000,
      'the target synced once serving',
    );
    const before = synced() ?? 0;
    expect(before).toBeGreaterThan(0);
    // A target this process does not serve fails alone; a repeated id is synced once.
    const reply = await sync([targetId, 999, targetId]);
    expect(reply.targets).toEqual([
      { targetId, code: 0 },
      expect.objectContaining({ targetId: 999, code: StorageCode.TargetNotFound }),
    ]);
    expect(synced()).toBe(before + 1);
    // Bad input is refused by the schema, and the process goes on serving.
    await expect(sync([])).rejects.toMatchObject({ code: RpcCode.BadRequest });
    expect((await sync([targetId])).targets[0]?.code).toBe(0);
  });

  it('fences itself when routing info shows its serving target offline', async () => {
    await startNode();
    await eventually(async () => (mgmtd.heartbeats.length > 0 ? true : undefined), 5_000, 'a heartbeat');
    mgmtd.publish('serving');
    await eventually(
      async () =>
        lastHeartbeat()?.localState === 'up-to-date' && mgmtd.heartbeats.length > 3 ? true : undefined,
      5_000,
      'serving',
    );
    mgmtd.publish('offline');
    await eventually(async () => (fenced.length > 0 ? true : undefined), 5_000, 'fenced');
    expect(fenced).toEqual([expect.stringMatching(/target 701 offline in chain 1/)]);
  });

  it('fences itself when mgmtd stops answering for half the heartbeat timeout', async () => {
    await startNode();
    await eventually(async () => (mgmtd.heartbeats.length > 0 ? true : undefined), 5_000, 'a heartbeat');
    await mgmtd.server.close({ drainMs: 10 });
    const closedAt = Date.now();
    await eventually(async () => (fenced.length > 0 ? true : undefined), 5_000, 'fenced');
    expect(fenced[0]).toMatch(/mgmtd unreachable/);
    expect(Date.now() - closedAt).toBeLessThan(heartbeatTimeoutMs * 2);
  });
});
