// Proves CRAQ on a chain of three in-process storage services over loopback RPC, with routing
// info set by the test: a write is acknowledged after every replica committed it, a pending
// version makes reads answer ChunkNotCommitted (a relaxed read returns it), an update left pending
// by a lost acknowledgement is settled by the next write with all replicas identical, a syncing
// successor and one that lacks an update get whole chunks, a zeroed range reaches every replica,
// recovery makes what it copied durable before the syncing replica reports itself up to date, and
// a stale chain version is refused, and a batch of clones travels as one message per hop with a
// result per chunk.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../../src/common/clock.js';
import { crc32c } from '../../../src/common/crc32c.js';
import { FsError, hasCode } from '../../../src/common/errors.js';
import { silentLogger } from '../../../src/common/logger.js';
import { CommonCode, StorageCode } from '../../../src/common/status-code.js';
import type { PublicState, RoutingInfo } from '../../../src/mgmtd/protocol/index.js';
import { RpcClient, RpcServer } from '../../../src/rpc/index.js';
import { ChunkOperationMetrics } from '../../../src/storage/chunk-operation-metrics.js';
import { ChunkLocks } from '../../../src/storage/craq/chunk-locks.js';
import { Forwarder } from '../../../src/storage/craq/forwarder.js';
import { Replicator } from '../../../src/storage/craq/replicator.js';
import { storageMethods, type ChunkId, type UpdateReply } from '../../../src/storage/protocol/index.js';
import { BandwidthLimiter } from '../../../src/storage/recovery/bandwidth-limiter.js';
import { runChainSync } from '../../../src/storage/recovery/chain-sync.js';
import { RecoveryProgressTracker } from '../../../src/storage/recovery/recovery-progress.js';
import { SyncReceiver } from '../../../src/storage/recovery/sync-receiver.js';
import { RoutingCache } from '../../../src/cluster/index.js';
import { StorageService } from '../../../src/storage/storage-service.js';
import { TargetRegistry, newCounters } from '../../../src/storage/storage-target.js';
import { SharedSync } from '../../../src/storage/shared-sync.js';
import type { ChunkStore } from '../../../src/storage/store/chunk-store.js';
import { FileChunkStore } from '../../../src/storage/store/file-chunk-store.js';

const secret = 'unit-test-cluster-secret-42';
const chunkSizeBytes = 1 << 20;
const chunk: ChunkId = { inode: 42n, index: 0 };

/** Hooks run before a store operation; a hook that throws makes the operation fail. */
interface Hooks {
  beforePrepare?: () => Promise<void>;
  beforeCommit?: () => Promise<void>;
  afterCommit?: () => Promise<void>;
}

function hooked(inner: ChunkStore, hooks: Hooks): ChunkStore {
  return {
    stat: (chunkId) => inner.stat(chunkId),
    hasPending: (chunkId) => inner.hasPending(chunkId),
    prepare: async (chunkId, update, options) => {
      await hooks.beforePrepare?.();
      return inner.prepare(chunkId, update, options);
    },
    commit: async (chunkId, version) => {
      await hooks.beforeCommit?.();
      const result = await inner.commit(chunkId, version);
      await hooks.afterCommit?.();
      return result;
    },
    discardPending: (chunkId) => inner.discardPending(chunkId),
    read: (chunkId, range) => inner.read(chunkId, range),
    list: (options) => inner.list(options),
    lastChunk: (options) => inner.lastChunk(options),
    totals: () => inner.totals(),
    diskUsage: () => inner.diskUsage(),
    sync: () => inner.sync(),
    close: () => inner.close(),
  };
}

interface TestNode {
  targetId: number;
  targets: TargetRegistry;
  store: FileChunkStore;
  replicator: Replicator;
  hooks: Hooks;
  routing: RoutingCache;
  server: RpcServer;
  client: RpcClient;
  address: string;
  /** The target's store syncs and its sync-done, in order. */
  syncEvents: string[];
}

let dir: string;
let nodes: TestNode[];
let rpc: RpcClient;
let routingVersion: number;

async function startNode(index: number): Promise<TestNode> {
  const targetId = (index + 1) * 100 + 1;
  const logger = silentLogger();
  const store = await FileChunkStore.open({
    targetId,
    path: join(dir, `target-${targetId}`),
    durable: false,
    freeSpaceReserveBytes: 0,
    logger,
  });
  const hooks: Hooks = {};
  const syncEvents: string[] = [];
  const targets = new TargetRegistry();
  targets.add({
    targetId,
    path: '',
    store: hooked(store, hooks),
    syncs: new SharedSync(
      () => store.sync(),
      () => syncEvents.push('synced'),
    ),
    locks: new ChunkLocks({ clock: systemClock, waitersMax: 32 }),
    localState: 'up-to-date',
    seenAlive: true,
    usage: { usedBytes: 0, capacityBytes: 0, freeBytes: 0 },
    counters: newCounters(),
    recovered: { chunks: 0, bytes: 0 },
  });
  const routing = new RoutingCache({
    source: {
      refreshRoutingInfo: async () => {
        throw new FsError(CommonCode.NotImplemented, 'the test sets routing info');
      },
    },
    clock: systemClock,
    logger,
  });
  const server = new RpcServer({ clusterSecret: secret, logger });
  const client = new RpcClient({ clusterSecret: secret, logger });
  const replicator = new Replicator({
    targets,
    routing,
    forwarder: new Forwarder(client),
    clock: systemClock,
    logger,
    chunkSizeMaxBytes: chunkSizeBytes,
  });
  new StorageService({
    nodeId: index + 1,
    targets,
    routing,
    replicator,
    chunkSizeMaxBytes: chunkSizeBytes,
    logger,
    chunkMetrics: new ChunkOperationMetrics(undefined, systemClock),
    serving: () => true,
  }).register(server);
  new SyncReceiver({
    targets,
    routing,
    clock: systemClock,
    logger,
    chunkSizeMaxBytes: chunkSizeBytes,
    chunkMetrics: new ChunkOperationMetrics(undefined, systemClock),
    serving: () => true,
    onSyncDone: () => syncEvents.push('up to date'),
  }).register(server);
  const address = await server.listen('127.0.0.1:0');
  return { targetId, targets, store, replicator, hooks, routing, server, client, address, syncEvents };
}

/** Publishes chain 1 with these members (in order) to every node, under a new chain version. */
function publish(members: Array<[node: TestNode, state: PublicState]>, chainVersion: number): void {
  routingVersion += 1;
  const info: RoutingInfo = {
    clusterId: 'test',
    routingVersion,
    nodes: nodes.map((node, index) => ({
      nodeId: index + 1,
      type: 'storage',
      address: node.address,
      hostname: 'test',
      status: 'online',
      lastHeartbeatMs: 0,
      tags: [],
    })),
    targets: nodes.map((node, index) => ({
      targetId: node.targetId,
      nodeId: index + 1,
      chainId: 1,
      localState: 'up-to-date',
      publicState: members.find(([member]) => member === node)?.[1] ?? 'offline',
      usedBytes: 0,
      capacityBytes: 0,
    })),
    chains: [
      {
        chainId: 1,
        chainVersion,
        targets: members.map(([node, publicState]) => ({ targetId: node.targetId, publicState })),
      },
    ],
    chainTables: [],
  };
  for (const node of nodes) node.routing.update(info);
}

/** Publishes chain 1 with every node serving, head first, and writes `content` through the head. */
async function servingChainHolding(head: TestNode, content: string): Promise<void> {
  publish(
    nodes.map((node) => [node, 'serving']),
    1,
  );
  await write(head, Buffer.from(content), 0);
}

/** Makes the next prepare (a write of the pending version) or commit on `node` fail with IoError. */
function failOnce(node: TestNode, hook: 'beforePrepare' | 'beforeCommit'): void {
  let failures = 1;
  node.hooks[hook] = async () => {
    if (failures-- > 0) throw new FsError(CommonCode.IoError, `injected ${hook} failure`);
  };
}

function write(head: TestNode, data: Buffer, offset: number, chainVersion = 1): Promise<UpdateReply> {
  return rpc.call(
    head.address,
    storageMethods.write,
    {
      targetId: head.targetId,
      chainId: 1,
      chainVersion,
      chunkId: chunk,
      chunkSizeBytes,
      op: { kind: 'write', offset, length: data.length, checksum: crc32c(data) },
      timeoutMs: 5_000,
    },
    { payload: data },
  );
}

function zero(head: TestNode, offset: number, length: number, chainVersion = 1): Promise<UpdateReply> {
  return rpc.call(head.address, storageMethods.write, {
    targetId: head.targetId,
    chainId: 1,
    chainVersion,
    chunkId: chunk,
    chunkSizeBytes,
    op: { kind: 'zero', offset, length },
    timeoutMs: 5_000,
  });
}

async function committed(node: TestNode): Promise<Buffer> {
  return (await node.store.read(chunk, { offset: 0, length: chunkSizeBytes, pending: false })).data;
}

/** Resolves once `condition` holds (polled), or fails after two seconds. */
async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 2_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition did not hold within 2 s');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function gate(): { wait: () => Promise<void>; open: () => void; reached: Promise<void> } {
  let open = (): void => undefined;
  let reach = (): void => undefined;
  const opened = new Promise<void>((resolve) => (open = resolve));
  const reached = new Promise<void>((resolve) => (reach = resolve));
  return {
    wait: async () => {
      reach();
      await opened;
    },
    open,
    reached,
  };
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), '3fs-craq-'));
  routingVersion = 0;
  nodes = [];
  for (const index of [0, 1, 2]) nodes.push(await startNode(index));
  rpc = new RpcClient({ clusterSecret: secret, logger: silentLogger() });
});

afterEach(async () => {
  await rpc.close();
  for (const node of nodes) node.replicator.stopSettling();
  for (const node of nodes) {
    await node.server.close({ drainMs: 100 });
    await node.client.close();
    await node.store.close();
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('CRAQ on a chain of three', () => {
  it('acknowledges a write only after every replica committed it', async () => {
    const [head, middle, tail] = nodes as [TestNode, TestNode, TestNode];
    publish(
      [
        [head, 'serving'],
        [middle, 'serving'],
        [tail, 'serving'],
      ],
      1,
    );
    const reply = await write(head, Buffer.from('hello chain'), 0);
    expect(reply).toEqual({
      exists: true,
      version: 1,
      length: 11,
      checksum: crc32c(Buffer.from('hello chain')),
    });
    for (const node of nodes) {
      expect(node.store.stat(chunk)).toMatchObject({
        committed: { version: 1, chainVersion: 1 },
        pending: undefined,
      });
      expect((await committed(node)).toString()).toBe('hello chain');
    }
  });

  it('answers ChunkNotCommitted while an update is in flight, and a relaxed read returns it', async () => {
    const [head, middle, tail] = nodes as [TestNode, TestNode, TestNode];
    publish(
      [
        [head, 'serving'],
        [middle, 'serving'],
        [tail, 'serving'],
      ],
      1,
    );
    await write(head, Buffer.from('v1'), 0);
    const held = gate();
    tail.hooks.beforePrepare = held.wait;
    const inFlight = write(head, Buffer.from('v2'), 0);
    await held.reached;
    // The head writes its pending version while the update travels on: wait for it too.
    await until(() => head.store.hasPending(chunk));
    const read = (relaxed: boolean) =>
      rpc.callWithPayload(head.address, storageMethods.read, {
        targetId: head.targetId,
        chunkId: chunk,
        offset: 0,
        length: 100,
        relaxed,
      });
    await expect(read(false)).rejects.toSatisfy((error) => hasCode(error, StorageCode.ChunkNotCommitted));
    const relaxed = await read(true);
    expect(relaxed.payload?.toString()).toBe('v2');
    expect(relaxed.response).toMatchObject({ version: 2, uncommitted: true });
    // The tail has not seen the update: its committed version is still the old one.
    expect((await committed(tail)).toString()).toBe('v1');
    held.open();
    expect((await inFlight).version).toBe(2);
    for (const node of nodes) expect((await committed(node)).toString()).toBe('v2');
  });

  it('settles an update whose acknowledgement was lost before the next write', async () => {
    const [head, middle, tail] = nodes as [TestNode, TestNode, TestNode];
    await servingChainHolding(head, 'aaaa');
    // The middle fails to commit after the tail committed: head and middle keep the update pending.
    failOnce(middle, 'beforeCommit');
    await expect(write(head, Buffer.from('BB'), 1)).rejects.toSatisfy((error) =>
      hasCode(error, StorageCode.ForwardFailed),
    );
    expect(head.store.stat(chunk)?.pending?.version).toBe(2);
    expect(tail.store.stat(chunk)?.committed?.version).toBe(2);
    const reply = await write(head, Buffer.from('c'), 4);
    expect(reply.version).toBe(3);
    for (const node of nodes) {
      expect(node.store.stat(chunk)).toMatchObject({ committed: { version: 3 }, pending: undefined });
      expect((await committed(node)).toString()).toBe('aBBac');
    }
  });

  it('numbers the next write past an update the head failed to write while its successors committed it, and sends the whole chunk', async () => {
    const [head, , tail] = nodes as [TestNode, TestNode, TestNode];
    await servingChainHolding(head, 'aaaa');
    // The head's own write fails while the update goes on down the chain and commits there.
    failOnce(head, 'beforePrepare');
    await expect(write(head, Buffer.from('BB'), 1)).rejects.toSatisfy((error) =>
      hasCode(error, CommonCode.IoError),
    );
    expect(head.store.stat(chunk)).toMatchObject({ committed: { version: 1 }, pending: undefined });
    expect(tail.store.stat(chunk)?.committed?.version).toBe(2);
    // Version 2 is taken downstream by bytes the head lacks: the next write is version 3, whole.
    const reply = await write(head, Buffer.from('c'), 4);
    expect(reply.version).toBe(3);
    for (const node of nodes) {
      expect(node.store.stat(chunk)).toMatchObject({ committed: { version: 3 }, pending: undefined });
      expect((await committed(node)).toString()).toBe('aaaac');
    }
    // Once replicas agree again, updates travel as updates.
    expect((await write(head, Buffer.from('d'), 5)).version).toBe(4);
    for (const node of nodes) expect((await committed(node)).toString()).toBe('aaaacd');
  });

  it('repairs, without further writes, a chunk whose successors committed an update the head failed to write', async () => {
    const [head, , tail] = nodes as [TestNode, TestNode, TestNode];
    await servingChainHolding(head, 'aaaa');
    failOnce(head, 'beforePrepare');
    await expect(write(head, Buffer.from('BB'), 1)).rejects.toSatisfy((error) =>
      hasCode(error, CommonCode.IoError),
    );
    expect((await committed(tail)).toString()).toBe('aBBa');
    expect(head.replicator.successorAheadCount()).toBe(1);
    // The head's background settling sends what it committed, whole, above the successors' version:
    // the write that failed at the head was never acknowledged, and every replica agrees again.
    head.replicator.startSettling();
    const deadline = Date.now() + 5_000;
    while (head.replicator.successorAheadCount() > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    for (const node of nodes) {
      expect(node.store.stat(chunk)).toMatchObject({ committed: { version: 3 }, pending: undefined });
      expect((await committed(node)).toString()).toBe('aaaa');
    }
  });

  it('settles an update a middle target failed to write while the tail committed it', async () => {
    const [head, middle, tail] = nodes as [TestNode, TestNode, TestNode];
    await servingChainHolding(head, 'aaaa');
    failOnce(middle, 'beforePrepare');
    await expect(write(head, Buffer.from('BB'), 1)).rejects.toSatisfy((error) =>
      hasCode(error, StorageCode.ForwardFailed),
    );
    expect(head.store.stat(chunk)?.pending?.version).toBe(2);
    expect(middle.store.stat(chunk)).toMatchObject({ committed: { version: 1 }, pending: undefined });
    expect(tail.store.stat(chunk)?.committed?.version).toBe(2);
    // The head settles its pending version 2 whole, which the middle takes and the tail has.
    expect((await write(head, Buffer.from('c'), 4)).version).toBe(3);
    for (const node of nodes) {
      expect(node.store.stat(chunk)).toMatchObject({ committed: { version: 3 }, pending: undefined });
      expect((await committed(node)).toString()).toBe('aBBac');
    }
  });

  it('sends a syncing successor whole chunks, and one that lacks an update the whole chunk', async () => {
    const [head, middle, tail] = nodes as [TestNode, TestNode, TestNode];
    publish(
      [
        [head, 'serving'],
        [middle, 'serving'],
      ],
      1,
    );
    await write(head, Buffer.from('0123456789'), 0);
    expect(tail.store.stat(chunk)).toBeUndefined();
    // The tail returns as syncing: the partial write reaches it as the whole chunk.
    publish(
      [
        [head, 'serving'],
        [middle, 'serving'],
        [tail, 'syncing'],
      ],
      2,
    );
    await write(head, Buffer.from('ab'), 3, 2);
    expect((await committed(tail)).toString()).toBe('012ab56789');
    // Serving again but one update behind: the middle's partial forward is refused and resent whole.
    publish(
      [
        [head, 'serving'],
        [middle, 'serving'],
      ],
      3,
    );
    await write(head, Buffer.from('Z'), 0, 3);
    publish(
      [
        [head, 'serving'],
        [middle, 'serving'],
        [tail, 'serving'],
      ],
      4,
    );
    await write(head, Buffer.from('!'), 9, 4);
    for (const node of nodes) {
      expect((await committed(node)).toString()).toBe('Z12ab5678!');
      expect(node.store.stat(chunk)?.committed?.version).toBe(4);
    }
  });

  it('carries a zeroed range to every replica, a syncing one as the whole chunk, and a cut and a removal alike', async () => {
    const [head, middle, tail] = nodes as [TestNode, TestNode, TestNode];
    const kib = 1024;
    const model = Buffer.alloc(300 * kib);
    for (let at = 0; at < model.length; at++) model[at] = 1 + (at % 253);
    await servingChainHolding(head, '');
    await write(head, model, 0);
    // Whole 64 KiB blocks [128 KiB, 192 KiB) and parts of two more.
    const reply = await zero(head, 70_000, 150_000);
    model.fill(0, 70_000, 220_000);
    expect(reply).toEqual({ exists: true, version: 3, length: model.length, checksum: crc32c(model) });
    for (const node of nodes) {
      expect(node.store.stat(chunk)).toMatchObject({ committed: { version: 3 }, pending: undefined });
      expect((await committed(node)).equals(model)).toBe(true);
    }
    // A syncing tail cannot apply a partial update to the copy it kept: it gets the chunk whole.
    publish(
      [
        [head, 'serving'],
        [middle, 'serving'],
        [tail, 'syncing'],
      ],
      2,
    );
    await zero(head, 10, 20, 2);
    model.fill(0, 10, 30);
    for (const node of nodes) expect((await committed(node)).equals(model)).toBe(true);
    publish(
      nodes.map((node) => [node, 'serving']),
      3,
    );
    expect(await zero(head, 250 * kib, 100 * kib, 3)).toMatchObject({ exists: true, length: 250 * kib });
    for (const node of nodes) {
      expect((await committed(node)).equals(model.subarray(0, 250 * kib))).toBe(true);
    }
    expect(await zero(head, 0, chunkSizeBytes, 3)).toEqual({
      exists: false,
      version: 0,
      length: 0,
      checksum: 0,
    });
    for (const node of nodes) expect(node.store.stat(chunk)).toBeUndefined();
    // Zeroing an absent chunk leaves it absent everywhere.
    await zero(head, 0, 10, 3);
    for (const node of nodes) expect(node.store.stat(chunk)).toBeUndefined();
  });

  it('recovers a replica that missed a zeroed range by copying the chunk whole, zeros included, and makes the copy durable before the replica reports itself up to date', async () => {
    const [head, middle, tail] = nodes as [TestNode, TestNode, TestNode];
    const model = Buffer.alloc(200 * 1024, 9);
    await servingChainHolding(head, '');
    await write(head, model, 0);
    publish(
      [
        [head, 'serving'],
        [middle, 'serving'],
      ],
      2,
    );
    await zero(head, 10_000, 150_000, 2);
    model.fill(0, 10_000, 160_000);
    expect((await committed(tail)).equals(model)).toBe(false);
    publish(
      [
        [head, 'serving'],
        [middle, 'serving'],
        [tail, 'syncing'],
      ],
      3,
    );
    await runChainSync({
      chainId: 1,
      chainVersion: 3,
      fromTargetId: middle.targetId,
      syncingTargetId: tail.targetId,
      targets: middle.targets,
      routing: middle.routing,
      replicator: middle.replicator,
      rpc: middle.client,
      clock: systemClock,
      logger: silentLogger(),
      limiter: new BandwidthLimiter({ clock: systemClock, bytesPerSecond: 1 << 30 }),
      concurrency: 4,
      chunkSizeMaxBytes: chunkSizeBytes,
      progress: new RecoveryProgressTracker(
        { chainId: 1, chainVersion: 3, fromTargetId: middle.targetId, targetId: tail.targetId },
        systemClock,
      ),
      signal: new AbortController().signal,
    });
    for (const node of nodes) expect((await committed(node)).equals(model)).toBe(true);
    const { version, length, checksum } = middle.store.stat(chunk)?.committed ?? {};
    expect(tail.store.stat(chunk)?.committed).toMatchObject({ version, length, checksum });
    // Once serving it may be the only replica left: what it got must survive a power cut.
    expect(tail.syncEvents).toEqual(['synced', 'up to date']);
  });

  it('copies to a syncing successor a chunk whose first write was in flight under the routing before it', async () => {
    const [head, middle] = nodes as [TestNode, TestNode, TestNode];
    publish(
      [
        [head, 'serving'],
        [middle, 'waiting'],
      ],
      1,
    );
    // A write of a new chunk, not forwarded to the waiting target, holds at its commit.
    const commitGate = gate();
    head.hooks.beforeCommit = commitGate.wait;
    const inFlight = write(head, Buffer.from('written before the sync'), 0);
    await commitGate.reached;
    publish(
      [
        [head, 'serving'],
        [middle, 'syncing'],
      ],
      2,
    );
    const progress = new RecoveryProgressTracker(
      { chainId: 1, chainVersion: 2, fromTargetId: head.targetId, targetId: middle.targetId },
      systemClock,
    );
    const sync = runChainSync({
      chainId: 1,
      chainVersion: 2,
      fromTargetId: head.targetId,
      syncingTargetId: middle.targetId,
      targets: head.targets,
      routing: head.routing,
      replicator: head.replicator,
      rpc: head.client,
      clock: systemClock,
      logger: silentLogger(),
      limiter: new BandwidthLimiter({ clock: systemClock, bytesPerSecond: 1 << 30 }),
      concurrency: 4,
      chunkSizeMaxBytes: chunkSizeBytes,
      progress,
      signal: new AbortController().signal,
    });
    // The pass lists the chunks while the write is still pending there; then the write commits.
    await until(() => progress.snapshot().phase === 'copying');
    delete head.hooks.beforeCommit;
    commitGate.open();
    await inFlight;
    await sync;
    expect((await committed(middle)).toString()).toBe((await committed(head)).toString());
    expect(middle.store.stat(chunk)?.committed?.version).toBe(head.store.stat(chunk)?.committed?.version);
  });

  it('refuses a stale chain version, and writes arriving anywhere but the head', async () => {
    const [head, middle, tail] = nodes as [TestNode, TestNode, TestNode];
    publish(
      [
        [head, 'serving'],
        [middle, 'serving'],
        [tail, 'serving'],
      ],
      5,
    );
    await expect(write(head, Buffer.from('x'), 0, 4)).rejects.toSatisfy((error) =>
      hasCode(error, StorageCode.ChainVersionMismatch),
    );
    await expect(write(middle, Buffer.from('x'), 0, 5)).rejects.toSatisfy((error) =>
      hasCode(error, StorageCode.NotChainHead),
    );
    for (const node of nodes) expect(node.store.stat(chunk)).toBeUndefined();
    expect((await write(head, Buffer.from('x'), 0, 5)).version).toBe(1);
  });

  it('keeps all replicas identical under concurrent writes to one chunk', async () => {
    const [head, middle, tail] = nodes as [TestNode, TestNode, TestNode];
    publish(
      [
        [head, 'serving'],
        [middle, 'serving'],
        [tail, 'serving'],
      ],
      1,
    );
    const writes = Array.from({ length: 20 }, (_, n) => write(head, Buffer.alloc(100, n), (n % 7) * 30));
    const replies = await Promise.all(writes);
    expect(new Set(replies.map((reply) => reply.version)).size).toBe(20);
    const expected = await committed(head);
    for (const node of [middle, tail]) expect(await committed(node)).toEqual(expected);
    expect(head.store.stat(chunk)?.committed?.version).toBe(20);
  });

  it('clones a batch of chunks in one message down the chain, each with its own result, a failed one alone', async () => {
    const [head, middle, tail] = nodes as [TestNode, TestNode, TestNode];
    publish(
      [
        [head, 'serving'],
        [middle, 'serving'],
        [tail, 'serving'],
      ],
      1,
    );
    const source = 42n;
    const clone = 43n;
    for (const index of [0, 1, 2]) {
      const data = Buffer.alloc(1000 + index, index + 1);
      await rpc.call(
        head.address,
        storageMethods.write,
        {
          targetId: head.targetId,
          chainId: 1,
          chainVersion: 1,
          chunkId: { inode: source, index },
          chunkSizeBytes,
          op: { kind: 'write', offset: 0, length: data.length, checksum: crc32c(data) },
          timeoutMs: 5_000,
        },
        { payload: data },
      );
    }
    const headCalls = vi.spyOn(head.client, 'call');
    const middleCalls = vi.spyOn(middle.client, 'call');
    failOnce(middle, 'beforeCommit');
    const { results } = await rpc.call(head.address, storageMethods.cloneChunks, {
      targetId: head.targetId,
      chainId: 1,
      chainVersion: 1,
      source,
      inode: clone,
      indexes: [0, 1, 2, 3],
      chunkSizeBytes,
      timeoutMs: 5_000,
    });
    // One message per hop, whatever the number of chunks.
    expect(headCalls.mock.calls.map((call) => call[1].name)).toEqual(['Storage.forwardBatch']);
    expect(middleCalls.mock.calls.map((call) => call[1].name)).toEqual(['Storage.forwardBatch']);
    expect(results).toHaveLength(4);
    const failed = results.flatMap((result, index) => (result.ok ? [] : [index]));
    expect(failed).toHaveLength(1);
    const failedIndex = failed[0] as number;
    // Chunk 3 of the source does not exist: its clone is a hole.
    if (failedIndex !== 3)
      expect(results[3]).toEqual({ ok: true, reply: expect.objectContaining({ exists: false }) });
    // The failed chunk is cloned again alone, settling what its failure left pending first.
    const again = await rpc.call(head.address, storageMethods.write, {
      targetId: head.targetId,
      chainId: 1,
      chainVersion: 1,
      chunkId: { inode: clone, index: failedIndex },
      chunkSizeBytes,
      op: { kind: 'clone', source: { inode: source, index: failedIndex } },
      timeoutMs: 5_000,
    });
    expect(again.exists).toBe(failedIndex < 3);
    for (const index of [0, 1, 2]) {
      const expected = Buffer.alloc(1000 + index, index + 1);
      for (const node of [head, middle, tail]) {
        const { data } = await node.store.read(
          { inode: clone, index },
          { offset: 0, length: chunkSizeBytes, pending: false },
        );
        expect(data.equals(expected), `chunk ${index} on target ${node.targetId}`).toBe(true);
      }
    }
    for (const node of [head, middle, tail])
      expect(node.store.stat({ inode: clone, index: 3 })).toBeUndefined();
  });
});
