// Proves, on three real storage_main processes with one chain of three: a storage process killed
// with SIGKILL in the middle of a stream of writes comes back with every chunk at its old or new
// committed version and intact checksums; it rejoins only once mgmtd shows its target offline, and
// then reports it online (it needs recovery) until recovery made it up to date and serving again
// (moved to the end of its chain); a write with a stale chain version is refused with
// ChainVersionMismatch and succeeds once the client refreshes routing info; and every storage
// process fences itself (exits) when mgmtd stays unreachable for half the heartbeat timeout.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc32c } from '../../../src/common/crc32c.js';
import { FsError } from '../../../src/common/errors.js';
import { StorageCode } from '../../../src/common/status-code.js';
import type { ChainInfo } from '../../../src/mgmtd/index.js';
import { storageMethods, type ChunkId } from '../../../src/storage/index.js';
import { TestWorld, eventually } from '../helpers/processes.js';
import {
  StorageCluster,
  storageTimings,
  type ChainIo,
  type StorageProcess,
} from '../helpers/storage-cluster.js';

const chunkSizeBytes = 1024 * 1024;
const writers = 6;

let world: TestWorld;
let cluster: StorageCluster;
let chainBefore: ChainInfo;
let staleClient: ChainIo;
let victim: StorageProcess;

/** What a writer knows about its chunk: the last acknowledged content and the one in flight. */
interface History {
  acked: Buffer | undefined;
  inFlight: Buffer | undefined;
}

function pattern(length: number, seed: number): Buffer {
  const data = Buffer.alloc(Math.ceil(length / 4) * 4);
  for (let index = 0; index < data.length; index += 4) {
    data.writeUInt32LE((seed * 2_654_435_761 + index) >>> 0, index);
  }
  return data.subarray(0, length);
}

/** Writes to one chunk until told to stop: appends, overwrites in the middle, and whole replaces. */
async function writeStream(chunkId: ChunkId, history: History, stop: () => boolean): Promise<number> {
  let model: Buffer = Buffer.alloc(0);
  let acked = 0;
  for (let step = 0; !stop(); step++) {
    const seed = Number(chunkId.index) * 1_000 + step;
    let next: Buffer;
    let write: Promise<unknown>;
    if (model.length > 600_000 || step % 5 === 4) {
      next = pattern(128 * 1024 + step, seed);
      write = cluster.client.replace({ chainId: 1, chunkId, chunkSizeBytes, data: next });
    } else if (step % 2 === 1 && model.length > 0) {
      const offset = Math.floor(model.length / 3);
      const data = pattern(40_000, seed);
      next = Buffer.from(model);
      data.copy(next, offset, 0, Math.min(data.length, next.length - offset));
      next = Buffer.concat([next, data.subarray(Math.min(data.length, next.length - offset))]);
      write = cluster.client.write({ chainId: 1, chunkId, chunkSizeBytes, offset, data });
    } else {
      const data = pattern(64 * 1024, seed);
      next = Buffer.concat([model, data]);
      write = cluster.client.write({ chainId: 1, chunkId, chunkSizeBytes, offset: model.length, data });
    }
    history.inFlight = next;
    try {
      await write;
    } catch (error) {
      // Once the replica is killed, a write may fail after its retries: it stays "in flight".
      if (stop()) return acked;
      throw error;
    }
    model = next;
    history.acked = next;
    history.inFlight = undefined;
    acked++;
  }
  return acked;
}

beforeAll(async () => {
  world = new TestWorld();
  cluster = await StorageCluster.start(world, {
    storageNodes: 3,
    targetsPerNode: 1,
    replicas: 3,
    chunkSizeMaxBytes: chunkSizeBytes,
  });
  chainBefore = await cluster.chain(1);
  staleClient = cluster.newChainIo();
  await staleClient.routing.requireChain(1);
}, 60_000);

afterAll(async () => {
  await cluster?.close();
  await world.cleanup();
});

describe('storage crash safety, rejoining, stale chain versions and fencing', () => {
  it('keeps every chunk of a process killed mid-write at its old or new committed version', async () => {
    // The middle of the chain dies, so the head and the chain stay in place.
    const middleTarget = chainBefore.targets[1]?.targetId ?? 0;
    const found = [...cluster.storage.values()].find((handle) => handle.targetIds.includes(middleTarget));
    if (found === undefined) throw new Error('no process for the middle target');
    victim = found;

    let killed = false;
    const histories = Array.from({ length: writers }, (): History => ({
      acked: undefined,
      inFlight: undefined,
    }));
    const streams = histories.map((history, index) =>
      writeStream({ inode: 500n, index }, history, () => killed),
    );
    await eventually(
      async () => (histories.every((history) => history.acked !== undefined) ? true : undefined),
      15_000,
      'every writer acknowledged',
    );
    await new Promise((resolve) => setTimeout(resolve, 800));
    victim.process.child.kill('SIGKILL');
    killed = true;
    await victim.process.exited;

    // Restarted at once: mgmtd still shows the target serving, so the process must wait.
    const restarted = await cluster.startStorage(victim.nodeId);
    await restarted.process.waitForLog(
      (line) =>
        line['msg'] === 'restarted: waiting for mgmtd to show the targets offline before sending heartbeats',
      10_000,
    );
    const joined = await restarted.process.waitForLog((line) => line['msg'] === 'heartbeats start', 20_000);
    expect(joined['targets']).toEqual([{ targetId: middleTarget, localState: 'online' }]);
    const acked = await Promise.all(streams);
    expect(acked.every((count) => count >= 1)).toBe(true);

    const scrub = await cluster.rpc.call(restarted.address, storageMethods.scrubChunks, {
      targetId: middleTarget,
      after: null,
      limit: 100,
    });
    for (const [index, history] of histories.entries()) {
      const entry = scrub.chunks.find(
        (chunk) => chunk.chunkId.inode === 500n && chunk.chunkId.index === index,
      );
      const allowed = [history.acked, history.inFlight].flatMap((content) =>
        content === undefined ? [] : [crc32c(content)],
      );
      expect(entry, `chunk ${index} exists on the restarted target`).toBeDefined();
      expect(entry?.intact).toBe(true);
      expect(allowed).toContain(entry?.checksum);
    }
  });

  it('rejoins as online and serves again only after recovery brought it up to date', async () => {
    const middleTarget = chainBefore.targets[1]?.targetId ?? 0;
    const routing = await cluster.waitForRouting(
      (info) => info.targets.find((target) => target.targetId === middleTarget)?.publicState === 'serving',
      'the restarted target serving again',
      30_000,
    );
    // It was syncing: its predecessor copied what it missed and then told it it was up to date.
    const restarted = cluster.storage.get(victim.nodeId);
    await restarted?.process.waitForLog(
      (line) => line['msg'] === 'recovery done: the target is up to date',
      1_000,
    );
    expect(routing.targets.find((target) => target.targetId === middleTarget)?.localState).toBe('up-to-date');
    const chain = routing.chains.find((candidate) => candidate.chainId === 1);
    expect(chain?.chainVersion).toBeGreaterThan(chainBefore.chainVersion);
    expect(chain?.targets.map((target) => target.targetId)).toEqual([
      chainBefore.targets[0]?.targetId,
      chainBefore.targets[2]?.targetId,
      middleTarget,
    ]);
  });

  it('refuses a write with a stale chain version, and succeeds after the client refreshes', async () => {
    const head = chainBefore.targets[0]?.targetId ?? 0;
    const chunkId = { inode: 600n, index: 0 };
    const data = pattern(10_000, 600);
    let refused: unknown;
    try {
      await cluster.rpc.call(
        cluster.addressOf(head),
        storageMethods.write,
        {
          targetId: head,
          chainId: 1,
          chainVersion: chainBefore.chainVersion,
          chunkId,
          chunkSizeBytes,
          op: { kind: 'write', offset: 0, length: data.length, checksum: crc32c(data) },
          timeoutMs: 5_000,
        },
        { payload: data },
      );
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(FsError);
    expect((refused as FsError).code).toBe(StorageCode.ChainVersionMismatch);

    // The client still holds the old routing info: its first attempt is refused the same way.
    expect((await staleClient.routing.requireChain(1)).chainVersion).toBe(chainBefore.chainVersion);
    const reply = await staleClient.chunks.write({ chainId: 1, chunkId, chunkSizeBytes, offset: 0, data });
    expect(reply.version).toBe(1);
    expect(staleClient.chunks.retries).toBeGreaterThan(0);
    expect((await staleClient.routing.requireChain(1)).chainVersion).toBeGreaterThan(
      chainBefore.chainVersion,
    );
    expect((await cluster.client.read({ chainId: 1, chunkId, offset: 0, length: 20_000 })).equals(data)).toBe(
      true,
    );
  });

  it('fences every storage process when mgmtd is unreachable for half the heartbeat timeout', async () => {
    cluster.mgmtd.process.child.kill('SIGKILL');
    const killedAt = Date.now();
    const exits = await Promise.all([...cluster.storage.values()].map((handle) => handle.process.exited));
    expect(exits.every((exit) => exit.code === 3)).toBe(true);
    expect(Date.now() - killedAt).toBeLessThan(storageTimings.heartbeatTimeoutMs * 2);
    for (const handle of cluster.storage.values()) {
      const line = await handle.process.waitForLog(
        (entry) => entry['msg'] === 'fenced: this storage process stops serving and exits',
        1_000,
      );
      expect(String(line['reason'])).toMatch(/mgmtd unreachable/);
    }
  });
});
