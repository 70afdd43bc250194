// Proves a storage service's read channels (src/storage/read-channels.ts, answered by the chunk
// engine's read server): a client that proved the cluster secret and asked Storage.openReadChannel
// gets, for Storage.read frames the TypeScript codec encodes, exactly the reply the JavaScript
// handler gives (the bytes, their CRC32C in the frame and the body, the chunk's version and
// length, short reads at the chunk's end), error statuses where that handler refuses (a relaxed
// read, a target it does not serve, a chunk that does not exist), and counted reads; and that a
// frame of another method, or bytes that are no frame, close the channel and nothing else: the
// service goes on serving.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc32c } from '../../../src/common/crc32c.js';
import { CommonCode, StorageCode } from '../../../src/common/status-code.js';
import { encodeBody } from '../../../src/rpc/body-codec.js';
import { FrameKind, encodeFrameHead } from '../../../src/rpc/frame.js';
import { storageMethods } from '../../../src/storage/index.js';
import { clusterSecret } from '../helpers/meta-cluster.js';
import { TestWorld, eventually } from '../helpers/processes.js';
import { RawClient, type Received } from '../helpers/raw-rpc-client.js';
import { StorageCluster } from '../helpers/storage-cluster.js';

const chunkSizeBytes = 1024 * 1024;

describe('storage read channels', () => {
  const world = new TestWorld();
  let cluster: StorageCluster;
  let address: string;
  let targetId: number;
  let chainId: number;
  const data = randomBytes(chunkSizeBytes - 1000);
  const inode = 0x1_0000_0042n;

  beforeAll(async () => {
    cluster = await StorageCluster.start(world, {
      storageNodes: 1,
      targetsPerNode: 1,
      replicas: 1,
      chunkSizeMaxBytes: chunkSizeBytes,
    });
    const storage = [...cluster.storage.values()][0];
    address = storage?.address as string;
    targetId = storage?.targetIds[0] as number;
    const routing = await cluster.routing.refresh();
    chainId = routing.chains[0]?.chainId as number;
    await cluster.client.write({ chainId, chunkId: { inode, index: 3 }, chunkSizeBytes, offset: 0, data });
  }, 90_000);

  afterAll(async () => {
    await cluster?.close();
    await world.cleanup();
  }, 30_000);

  /** A read channel: a raw connection after Storage.openReadChannel. */
  async function openChannel(): Promise<RawClient> {
    const client = await RawClient.open(address, { secret: clusterSecret });
    const opened = await client.call(storageMethods.openReadChannel, {});
    expect(opened?.header.status, JSON.stringify(opened?.body)).toBe(0);
    return client;
  }

  const read = (
    request: Partial<{ targetId: number; index: number; offset: number; length: number; relaxed: boolean }>,
  ) => ({
    targetId: request.targetId ?? targetId,
    chunkId: { inode, index: request.index ?? 3 },
    offset: request.offset ?? 0,
    length: request.length ?? 4096,
    ...(request.relaxed === undefined ? {} : { relaxed: request.relaxed }),
  });

  it('answers reads as the JavaScript handler does, and counts them', async () => {
    const before =
      (await cluster.rpc.call(address, storageMethods.listTargets, {})).targets[0]?.counters.reads ?? 0;
    const channel = await openChannel();
    try {
      const ranges = [
        [0, 4096],
        [65_000, 2_000],
        [100_000, 300_000],
        [data.length - 100, 4096],
        [data.length + 5, 10],
      ] as const;
      for (const [offset, length] of ranges) {
        const reply = (await channel.call(
          storageMethods.read,
          read({ offset, length, relaxed: false }),
        )) as Received;
        expect(reply.header.status, JSON.stringify(reply.body)).toBe(0);
        const want = data.subarray(Math.min(offset, data.length), Math.min(offset + length, data.length));
        expect(reply.payload.equals(want), `${length} bytes at ${offset}`).toBe(true);
        expect(reply.header.payloadCrc32c).toBe(crc32c(want));
        const body = storageMethods.read.response.parse(reply.body);
        expect(body).toMatchObject({
          length: want.length,
          checksum: crc32c(want),
          chunkLength: data.length,
          uncommitted: false,
        });
        const viaJavaScript = await cluster.client.read({
          chainId,
          chunkId: { inode, index: 3 },
          offset,
          length,
        });
        expect(viaJavaScript.equals(reply.payload)).toBe(true);
      }
      // The body's `relaxed` may be left out, as the schema's default allows.
      const implicit = (await channel.call(storageMethods.read, read({}))) as Received;
      expect(implicit.payload.equals(data.subarray(0, 4096))).toBe(true);
    } finally {
      channel.close();
    }
    await eventually(
      async () => {
        const { targets } = await cluster.rpc.call(address, storageMethods.listTargets, {});
        return (targets[0]?.counters.reads ?? 0) - before >= 6 ? true : undefined;
      },
      5_000,
      'the channel reads counted',
    );
  });

  it('refuses what the handler refuses, with its status, and stays open', async () => {
    const channel = await openChannel();
    try {
      const relaxed = await channel.call(storageMethods.read, read({ relaxed: true }));
      expect(relaxed?.header.status).toBe(CommonCode.InvalidArgument);
      const otherTarget = await channel.call(storageMethods.read, read({ targetId: targetId + 7 }));
      expect(otherTarget?.header.status).toBe(StorageCode.TargetNotServing);
      const missing = await channel.call(storageMethods.read, read({ index: 9 }));
      expect(missing?.header.status).toBe(StorageCode.ChunkNotFound);
      expect((missing?.body as { message: string }).message).toMatch(/does not exist/);
      const after = (await channel.call(storageMethods.read, read({}))) as Received;
      expect(after.payload.equals(data.subarray(0, 4096))).toBe(true);
    } finally {
      channel.close();
    }
  });

  it('closes a channel that is sent another method or bytes that are no frame, and serves on', async () => {
    const other = await openChannel();
    other.sendRaw(
      encodeFrameHead({
        kind: FrameKind.Request,
        status: 0,
        requestId: 1,
        serviceId: storageMethods.listTargets.serviceId,
        methodId: storageMethods.listTargets.methodId,
        body: encodeBody({}),
        payload: undefined,
      }),
    );
    expect(await other.closedWithin(5_000)).toBe(true);
    const garbage = await openChannel();
    garbage.sendRaw(Buffer.from('GET / HTTP/1.1\r\nHost: storage\r\n\r\n'.padEnd(64, 'x')));
    expect(await garbage.closedWithin(5_000)).toBe(true);
    // A body that is not a read request (a string, a map of other keys) closes it too.
    const badBody = await openChannel();
    badBody.sendRaw(
      encodeFrameHead({
        kind: FrameKind.Request,
        status: 0,
        requestId: 1,
        serviceId: storageMethods.read.serviceId,
        methodId: storageMethods.read.methodId,
        body: encodeBody({ targetId, chunkId: 'no', offset: 0, length: 1 }),
        payload: undefined,
      }),
    );
    expect(await badBody.closedWithin(5_000)).toBe(true);
    const fresh = await openChannel();
    try {
      const reply = (await fresh.call(storageMethods.read, read({ offset: 10, length: 20 }))) as Received;
      expect(reply.payload.equals(data.subarray(10, 30))).toBe(true);
    } finally {
      fresh.close();
    }
    expect(
      (await cluster.client.read({ chainId, chunkId: { inode, index: 3 }, offset: 0, length: 8 })).equals(
        data.subarray(0, 8),
      ),
    ).toBe(true);
  });
});
