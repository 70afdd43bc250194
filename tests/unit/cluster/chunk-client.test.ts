// Proves chunk I/O on chains: writes go to the head under the routed chain version and are retried with fresh routing info when the chain moved; reads of one region of a chunk go to one replica, regions spread over the hosts of the serving replicas (on one host, the replica nearest the tail) and move on from a dead, lying or refusing one, failing only when none serves; a missing chunk reads as a hole; a full disk fails at once; a clone batch goes to the head in one message with a result per chunk; an fsync syncs every serving and syncing replica, retrying those that could not and failing on a disk error.
import { describe, expect, it } from 'vitest';
import { ChunkClient, RoutingCache, regionHash } from '../../../src/cluster/index.js';
import { systemClock, type Clock } from '../../../src/common/clock.js';
import { crc32c } from '../../../src/common/crc32c.js';
import { FsError } from '../../../src/common/errors.js';
import { limits } from '../../../src/common/limits.js';
import { silentLogger } from '../../../src/common/logger.js';
import { seededRandom } from '../../../src/common/random.js';
import { ClientCode, CommonCode, RpcCode, StorageCode } from '../../../src/common/status-code.js';
import type { ChainInfo, RoutingInfo } from '../../../src/mgmtd/protocol/index.js';
import type { MethodDef, RpcClient } from '../../../src/rpc/index.js';

const instantClock: Clock = { ...systemClock, sleep: async () => undefined };

function routingWith(
  chainVersion: number,
  head: number,
  addresses: readonly string[] = ['storage-1:1', 'storage-2:1', 'storage-3:1'],
): RoutingInfo {
  const order = [head, ...[101, 102, 103].filter((target) => target !== head)];
  const chain: ChainInfo = {
    chainId: 1,
    chainVersion,
    targets: order.map((targetId) => ({ targetId, publicState: 'serving' })),
  };
  return {
    clusterId: 'test',
    routingVersion: chainVersion,
    nodes: [1, 2, 3].map((index) => ({
      nodeId: index,
      type: 'storage' as const,
      address: addresses[index - 1]!,
      hostname: 'h',
      status: 'online' as const,
      lastHeartbeatMs: 0,
      tags: [],
    })),
    targets: [101, 102, 103].map((targetId, index) => ({
      targetId,
      nodeId: index + 1,
      chainId: 1,
      localState: 'up-to-date' as const,
      publicState: 'serving' as const,
      usedBytes: 0,
      capacityBytes: 0,
    })),
    chains: [chain],
    chainTables: [{ chainTableId: 1, chainTableVersion: 1, chains: [1] }],
  };
}

interface Call {
  address: string;
  method: string;
  request: Record<string, unknown>;
}

function makeClient(options: {
  routings: RoutingInfo[];
  answer: (call: Call) => { response?: unknown; payload?: Buffer; error?: FsError };
  onReadChecksumFailure?: (targetId: number) => void;
}) {
  const calls: Call[] = [];
  let served = 0;
  const routing = new RoutingCache({
    source: {
      refreshRoutingInfo: async () => options.routings[Math.min(served++, options.routings.length - 1)]!,
    },
    clock: instantClock,
    logger: silentLogger(),
  });
  const invoke = async (address: string, method: MethodDef<unknown, unknown>, request: unknown) => {
    const call = { address, method: method.name, request: request as Record<string, unknown> };
    calls.push(call);
    const outcome = options.answer(call);
    if (outcome.error !== undefined) throw outcome.error;
    // As the RPC layer does: the payload arrives with the CRC32C it was checked against.
    const payloadCrc32c = outcome.payload === undefined ? 0 : crc32c(outcome.payload);
    return { response: outcome.response, payload: outcome.payload, payloadCrc32c };
  };
  const rpc = {
    call: async (address: string, method: MethodDef<unknown, unknown>, request: unknown) =>
      (await invoke(address, method, request)).response,
    callWithPayload: invoke,
  } as unknown as RpcClient;
  const client = new ChunkClient({
    rpc,
    routing,
    clock: instantClock,
    logger: silentLogger(),
    random: seededRandom(3),
    ...(options.onReadChecksumFailure === undefined
      ? {}
      : { onReadChecksumFailure: options.onReadChecksumFailure }),
  });
  return { client, calls };
}

const target = { chainId: 1, chunkId: { inode: 9n, index: 0 }, chunkSizeBytes: 4096 };
const written = { exists: true, version: 2, length: 4, checksum: 0 };

describe('ChunkClient', () => {
  it('writes to the head under the routed chain version, retrying with fresh routing when the chain moved', async () => {
    const { client, calls } = makeClient({
      routings: [routingWith(1, 101), routingWith(2, 102)],
      answer: (call) =>
        call.request['chainVersion'] === 1
          ? { error: new FsError(StorageCode.ChainVersionMismatch, 'stale') }
          : { response: written },
    });
    await client.write({ ...target, offset: 0, data: Buffer.from('data') });
    expect(
      calls.map((call) => [call.address, call.request['targetId'], call.request['chainVersion']]),
    ).toEqual([
      ['storage-1:1', 101, 1],
      ['storage-2:1', 102, 2],
    ]);
    expect(client.retries).toBe(1);
  });

  it('clones a batch of chunks in one message to the head, a result per chunk in order', async () => {
    const { client, calls } = makeClient({
      routings: [routingWith(1, 102)],
      answer: () => ({
        response: {
          results: [
            { ok: true, reply: written },
            { ok: false, code: StorageCode.ChunkBusy, message: 'busy' },
            { ok: false, code: 59_999, message: 'from a newer server' },
          ],
        },
      }),
    });
    const results = await client.cloneBatch({
      chainId: 1,
      source: 9n,
      inode: 10n,
      indexes: [0, 1, 2],
      chunkSizeBytes: 4096,
    });
    expect(calls.map((call) => [call.method, call.address, call.request['targetId']])).toEqual([
      ['Storage.cloneChunks', 'storage-2:1', 102],
    ]);
    expect(calls[0]?.request).toMatchObject({ chainVersion: 1, source: 9n, inode: 10n, indexes: [0, 1, 2] });
    expect(results[0]).toEqual(written);
    expect(results[1]).toMatchObject({ code: StorageCode.ChunkBusy });
    expect(results[2]).toMatchObject({ code: CommonCode.Internal });
  });

  it('fails a clone batch whose reply does not answer every chunk, without retrying', async () => {
    const { client, calls } = makeClient({
      routings: [routingWith(1, 101)],
      answer: () => ({ response: { results: [{ ok: true, reply: written }] } }),
    });
    await expect(
      client.cloneBatch({ chainId: 1, source: 9n, inode: 10n, indexes: [0, 1], chunkSizeBytes: 4096 }),
    ).rejects.toMatchObject({ code: RpcCode.BadResponse });
    expect(calls.length).toBe(1);
  });

  it('fails a write at once when the disk is full', async () => {
    const { client, calls } = makeClient({
      routings: [routingWith(1, 101)],
      answer: () => ({ error: new FsError(StorageCode.NoSpace, 'full') }),
    });
    await expect(client.write({ ...target, offset: 0, data: Buffer.from('data') })).rejects.toMatchObject({
      code: StorageCode.NoSpace,
    });
    expect(calls.length).toBe(1);
  });

  it('reads one region of a chunk from one replica, the same for every client, and spreads regions over the replicas', async () => {
    const data = Buffer.from('abcd');
    const reply = { version: 1, chunkLength: 4, length: 4, checksum: crc32c(data), uncommitted: false };
    const answer = () => ({ response: reply, payload: data });
    const one = makeClient({ routings: [routingWith(1, 101)], answer });
    const other = makeClient({ routings: [routingWith(1, 101)], answer });
    const region = limits.clientReadRegionBytes;
    const targetOf = (calls: Array<{ request: Record<string, unknown> }>) =>
      calls.at(-1)?.request['targetId'];
    // Reads anywhere in one region go to one replica, and another client picks the same one.
    const picked = new Map<string, unknown>();
    for (const index of [0, 1, 2, 7]) {
      for (const regionIndex of [0, 1, 5]) {
        const chunk = { ...target, chunkId: { inode: 9n, index }, chunkSizeBytes: 8 * region };
        const choices = new Set<unknown>();
        for (const offset of [0, 4096, region - 4]) {
          await one.client.read({ ...chunk, offset: regionIndex * region + offset, length: 4 });
          choices.add(targetOf(one.calls));
          await other.client.read({ ...chunk, offset: regionIndex * region + offset, length: 4 });
          choices.add(targetOf(other.calls));
        }
        expect(choices.size).toBe(1);
        picked.set(`${index}/${regionIndex}`, [...choices][0]);
      }
    }
    // Twelve regions over three replicas: every replica serves some.
    expect(new Set(picked.values())).toEqual(new Set([101, 102, 103]));
  });

  it('reads from the replica nearest the tail when one host holds them all, moving on tail first', async () => {
    const data = Buffer.from('abcd');
    const reply = { version: 1, chunkLength: 4, length: 4, checksum: crc32c(data), uncommitted: false };
    const down = new Set<unknown>();
    const { client, calls } = makeClient({
      // Chain order 101 (head), 102, 103 (tail), every storage node on one host.
      routings: [routingWith(1, 101, ['127.0.0.1:7001', '127.0.0.1:7002', '127.0.0.1:7003'])],
      answer: (call) =>
        down.has(call.request['targetId'])
          ? { error: new FsError(RpcCode.ConnectFailed, 'down') }
          : { response: reply, payload: data },
    });
    const region = limits.clientReadRegionBytes;
    const readTargets = async () => {
      const targets = new Set<unknown>();
      for (let index = 0; index < 12; index++) {
        const chunk = { ...target, chunkId: { inode: 9n, index }, chunkSizeBytes: 8 * region };
        calls.length = 0;
        await client.read({ ...chunk, offset: (index % 8) * region, length: 4 });
        targets.add(calls.at(-1)?.request['targetId']);
      }
      return targets;
    };
    expect(await readTargets()).toEqual(new Set([103]));
    down.add(103);
    expect(await readTargets()).toEqual(new Set([102]));
    down.add(102);
    expect(await readTargets()).toEqual(new Set([101]));
  });

  it('spreads reads over hosts, not over the replicas one host holds', async () => {
    const data = Buffer.from('abcd');
    const reply = { version: 1, chunkLength: 4, length: 4, checksum: crc32c(data), uncommitted: false };
    const { client, calls } = makeClient({
      // 101 (head) and 102 on host a, 103 (tail) on host b.
      routings: [routingWith(1, 101, ['a:1', 'a:2', 'b:1'])],
      answer: () => ({ response: reply, payload: data }),
    });
    const region = limits.clientReadRegionBytes;
    const counts = new Map<unknown, number>();
    for (let index = 0; index < 8; index++) {
      for (let regionIndex = 0; regionIndex < 8; regionIndex++) {
        const chunk = { ...target, chunkId: { inode: 9n, index }, chunkSizeBytes: 8 * region };
        await client.read({ ...chunk, offset: regionIndex * region, length: 4 });
        const targetId = calls.at(-1)?.request['targetId'];
        counts.set(targetId, (counts.get(targetId) ?? 0) + 1);
      }
    }
    // Host a's reads go to its replica nearer the tail; both hosts get a fair share.
    expect(counts.has(101)).toBe(false);
    expect(counts.get(102)).toBeGreaterThan(16);
    expect(counts.get(103)).toBeGreaterThan(16);
  });

  it('hashes chunks and regions to spread them evenly', () => {
    const counts = [0, 0, 0];
    for (let index = 0; index < 300; index++) {
      for (let region = 0; region < 10; region++) {
        const inode = BigInt(1_000 + (index % 7)) | (BigInt(index % 3) << 40n);
        counts[regionHash({ inode, index }, region) % 3]! += 1;
      }
    }
    for (const count of counts) expect(Math.abs(count - 1000)).toBeLessThan(150);
  });

  it('moves a read on from a dead replica and from one that sends bad bytes, reporting the bad bytes', async () => {
    const data = Buffer.from('abcd');
    const checksumFailures: number[] = [];
    let damagedFrames = 1;
    const { client } = makeClient({
      routings: [routingWith(1, 101)],
      onReadChecksumFailure: (targetId) => checksumFailures.push(targetId),
      answer: (call) => {
        if (call.request['targetId'] === 101) return { error: new FsError(RpcCode.ConnectFailed, 'down') };
        // A reply damaged on the way: the RPC layer's check of the payload fails.
        if (call.request['targetId'] === 103 && damagedFrames-- > 0)
          return { error: new FsError(RpcCode.PayloadChecksumMismatch, 'damaged') };
        if (call.request['targetId'] === 102)
          return {
            response: { version: 1, chunkLength: 4, length: 4, checksum: 1, uncommitted: false },
            payload: data,
          };
        return {
          response: { version: 1, chunkLength: 4, length: 4, checksum: crc32c(data), uncommitted: false },
          payload: data,
        };
      },
    });
    for (let index = 0; index < 4; index++) {
      expect(await client.read({ ...target, offset: 0, length: 4 })).toEqual(data);
    }
    // 102 lies on every read; 103's one damaged frame; 101's refused connection is no checksum failure.
    expect(checksumFailures.filter((targetId) => targetId === 103)).toEqual([103]);
    expect(checksumFailures.filter((targetId) => targetId === 102).length).toBeGreaterThan(0);
    expect(checksumFailures).not.toContain(101);
  });

  it("moves a read on from a replica that refuses this client's connection or fails its disk read", async () => {
    const data = Buffer.from('abcd');
    const reply = { version: 1, chunkLength: 4, length: 4, checksum: crc32c(data), uncommitted: false };
    const { client, calls } = makeClient({
      routings: [routingWith(1, 101)],
      answer: (call) => {
        if (call.request['targetId'] === 101)
          return { error: new FsError(RpcCode.AuthFailed, 'storage-1:1 refused the connection') };
        if (call.request['targetId'] === 102)
          return { error: new FsError(CommonCode.IoError, 'cannot read the chunk file') };
        return { response: reply, payload: data };
      },
    });
    // Reads of different chunks, so that they start at different replicas.
    for (let index = 0; index < 12; index++) {
      expect(await client.read({ ...target, chunkId: { inode: 9n, index }, offset: 0, length: 4 })).toEqual(
        data,
      );
    }
    expect(calls.filter((call) => call.request['targetId'] === 101).length).toBeGreaterThan(0);
    expect(calls.filter((call) => call.request['targetId'] === 102).length).toBeGreaterThan(0);
    expect(client.retries).toBe(0);
  });

  it('fails a read with IoTimeout, never with less, once no replica served it within its attempts', async () => {
    const { client, calls } = makeClient({
      routings: [routingWith(1, 101)],
      answer: () => ({ error: new FsError(RpcCode.AuthFailed, 'refused the connection') }),
    });
    const failed = await client.read({ ...target, offset: 0, length: 4 }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failed).toBeInstanceOf(FsError);
    expect(failed).toMatchObject({ code: ClientCode.IoTimeout, cause: { code: RpcCode.AuthFailed } });
    expect(new Set(calls.map((call) => call.request['targetId']))).toEqual(new Set([101, 102, 103]));
  });

  it('fails a read at once when the request is one no replica serves', async () => {
    const { client, calls } = makeClient({
      routings: [routingWith(1, 101)],
      answer: () => ({ error: new FsError(StorageCode.OffsetOutOfRange, 'past the chunk') }),
    });
    await expect(client.read({ ...target, offset: 0, length: 4 })).rejects.toMatchObject({
      code: StorageCode.OffsetOutOfRange,
    });
    expect(calls.length).toBe(1);
  });

  it('reads a chunk that does not exist as empty (a hole)', async () => {
    const { client } = makeClient({
      routings: [routingWith(1, 101)],
      answer: () => ({ error: new FsError(StorageCode.ChunkNotFound, 'none') }),
    });
    expect((await client.read({ ...target, offset: 0, length: 4 })).length).toBe(0);
  });

  it('syncs every serving replica once per node, retrying one that could not sync until it did', async () => {
    let refusals = 1;
    const { client, calls } = makeClient({
      routings: [routingWith(1, 101)],
      answer: (call) => {
        const targetIds = call.request['targetIds'] as number[];
        return {
          response: {
            targets: targetIds.map((targetId) =>
              targetId === 102 && refusals-- > 0
                ? { targetId, code: StorageCode.TargetNotServing, message: 'rejoining' }
                : { targetId, code: 0 },
            ),
          },
        };
      },
    });
    await client.syncChains([1, 1]);
    expect(calls.map((call) => [call.method, call.address, call.request['targetIds']])).toEqual([
      ['Storage.syncTargets', 'storage-1:1', [101]],
      ['Storage.syncTargets', 'storage-2:1', [102]],
      ['Storage.syncTargets', 'storage-3:1', [103]],
      // Only the replica that refused is asked again.
      ['Storage.syncTargets', 'storage-2:1', [102]],
    ]);
  });

  it('syncs a syncing replica too, but not one that is waiting or offline', async () => {
    const routing = routingWith(1, 101);
    const states = { 101: 'serving', 102: 'syncing', 103: 'waiting' } as const;
    const chain = routing.chains[0] as ChainInfo;
    const withStates: RoutingInfo = {
      ...routing,
      chains: [
        {
          ...chain,
          targets: chain.targets.map((member) => ({
            ...member,
            publicState: states[member.targetId as 101 | 102 | 103],
          })),
        },
      ],
    };
    const { client, calls } = makeClient({
      routings: [withStates],
      answer: (call) => ({
        response: {
          targets: (call.request['targetIds'] as number[]).map((targetId) => ({ targetId, code: 0 })),
        },
      }),
    });
    await client.syncChains([1]);
    // A syncing replica holds the acknowledged writes and may serve alone once the others fail.
    expect(calls.map((call) => call.request['targetIds'])).toEqual([[101], [102]]);
  });

  it('fails a sync at once on a disk error, and after its deadline when a replica stays unreachable', async () => {
    const failing = makeClient({
      routings: [routingWith(1, 101)],
      answer: (call) => ({
        response: {
          targets: (call.request['targetIds'] as number[]).map((targetId) =>
            targetId === 103
              ? { targetId, code: CommonCode.IoError, message: 'fdatasync: EIO' }
              : { targetId, code: 0 },
          ),
        },
      }),
    });
    await expect(failing.client.syncChains([1])).rejects.toMatchObject({ code: CommonCode.IoError });
    expect(failing.calls).toHaveLength(3);
    const unreachable = makeClient({
      routings: [routingWith(1, 101)],
      answer: (call) =>
        call.address === 'storage-3:1'
          ? { error: new FsError(RpcCode.ConnectFailed, 'refused') }
          : {
              response: {
                targets: (call.request['targetIds'] as number[]).map((targetId) => ({ targetId, code: 0 })),
              },
            },
    });
    await expect(unreachable.client.syncChains([1])).rejects.toMatchObject({ code: ClientCode.IoTimeout });
  });
});
