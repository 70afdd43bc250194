// A server given a payload pool reads large payloads in place into reused buffers: every payload
// arrives intact, a buffer is reused only once its handler and every socket write of it are done,
// and connections it reads that way are counted and closed like any other. A client given one
// reads large reply payloads into its buffers, each held by its caller until let go.
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { randomFillSync } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { FsError } from '../../../src/common/errors.js';
import { FrameKind, type Frame } from '../../../src/rpc/frame.js';
import { FrameSocket } from '../../../src/rpc/frame-socket.js';
import { defineMethod } from '../../../src/rpc/index.js';
import { PayloadPool, releasePayload } from '../../../src/rpc/payload-pool.js';
import { Cleanup, capturingLogger, echoMethod, startTestServer, testClient } from './helpers.js';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const mib = 1024 * 1024;

function newPool(): PayloadPool {
  return new PayloadPool({ minBytes: 64 * 1024, maxBytes: 8 * mib, keptBytesMax: 64 * mib });
}

describe('rpc server with a payload pool', () => {
  it('receives payloads in place into reused buffers, each intact, with replies that send them back', async () => {
    const pool = newPool();
    const { server, address } = await startTestServer({ payloadPool: pool });
    cleanup.add(() => server.close({ drainMs: 100 }));
    const { client } = testClient();
    cleanup.add(() => client.close());
    // The echo handler replies with the request's own payload: the reply's socket write holds
    // the buffer after the handler has settled.
    const sizes = [64 * 1024, 300_000, mib, mib, 3 * mib];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < 60) {
        const index = next++;
        const payload = randomFillSync(Buffer.alloc(sizes[index % sizes.length]!));
        const result = await client.callWithPayload(
          address,
          echoMethod,
          { text: `call ${index}`, id: BigInt(index), count: index },
          { payload },
        );
        expect(result.response.payloadBytes).toBe(payload.length);
        expect(result.payload?.equals(payload), `call ${index}`).toBe(true);
      }
    };
    await Promise.all(Array.from({ length: 6 }, worker));
    const stats = pool.stats();
    // Every payload came through the pool (the accepted socket was read in place) and buffers
    // were used again.
    expect(stats.taken).toBe(60);
    expect(stats.reused).toBeGreaterThan(0);
  });

  it('lends handlers reply buffers and takes them back once the reply is written', async () => {
    const pool = newPool();
    const { server, address } = await startTestServer({ payloadPool: pool });
    cleanup.add(() => server.close({ drainMs: 100 }));
    // A reply of `length` bytes, each the call's seed plus its index, written into a lent buffer
    // after a pause, so many replies are in flight at once.
    const fillMethod = defineMethod({
      serviceId: 9,
      methodId: 99,
      name: 'test.fill',
      request: z.strictObject({ seed: z.number().int(), length: z.number().int() }),
      response: z.strictObject({ lent: z.boolean() }),
      idempotent: true,
    });
    server.handle(fillMethod, async (request, context) => {
      const buffer = context.replyBuffer(request.length);
      await new Promise((resolve) => setTimeout(resolve, 1));
      const reply = buffer ?? Buffer.alloc(request.length);
      for (let index = 0; index < request.length; index += 1) reply[index] = (request.seed + index) & 0xff;
      context.setReplyPayload(reply.subarray(0, request.length));
      return { lent: buffer !== undefined };
    });
    const { client } = testClient();
    cleanup.add(() => client.close());
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, seed) =>
        client.callWithPayload(address, fillMethod, { seed, length: seed % 2 === 0 ? mib : 1000 }, {}),
      ),
    );
    for (const [seed, result] of results.entries()) {
      const length = seed % 2 === 0 ? mib : 1000;
      expect(result.response.lent).toBe(length >= 64 * 1024);
      expect(result.payload?.length).toBe(length);
      expect(result.payload?.every((byte, index) => byte === ((seed + index) & 0xff))).toBe(true);
    }
    // Buffers came back: the next rounds reuse them.
    for (let round = 0; round < 3; round += 1) {
      await client.callWithPayload(address, fillMethod, { seed: round, length: mib }, {});
    }
    expect(pool.stats().reused).toBeGreaterThan(0);
  });

  it('counts connections it reads in place out of the server when they close', async () => {
    const { server, address } = await startTestServer({ payloadPool: newPool() });
    const [host, port] = [address.split(':')[0]!, Number(address.split(':')[1])];
    for (let round = 0; round < 20; round += 1) {
      const socket = connect({ host, port });
      await once(socket, 'connect');
      socket.destroy();
      await once(socket, 'close');
    }
    const { client } = testClient();
    cleanup.add(() => client.close());
    const reply = await client.callWithPayload(
      address,
      echoMethod,
      { text: 'after', id: 1n, count: 1 },
      { payload: Buffer.alloc(mib, 7) },
    );
    expect(reply.payload?.every((byte) => byte === 7)).toBe(true);
    await client.close();
    // net's server waits for its count of connections to reach zero before it reports closed.
    await server.close({ drainMs: 100 });
  });
});

describe('a pooled payload written to a socket', () => {
  it('goes back to the pool only once the socket has written it', async () => {
    // Larger than the kernel's socket buffers on both ends can take, so some of it waits here.
    const size = 32 * mib;
    const pool = new PayloadPool({ minBytes: 64 * 1024, maxBytes: size, keptBytesMax: 2 * size });
    // A peer that reads nothing at first, so a large write stays in our socket's buffers.
    let peer: Socket | undefined;
    const listener = createServer((socket) => {
      peer = socket;
      socket.pause();
    });
    listener.listen(0, '127.0.0.1');
    await once(listener, 'listening');
    cleanup.add(() => new Promise<void>((resolve) => listener.close(() => resolve())));
    const port = (listener.address() as { port: number }).port;
    const socket = connect({ host: '127.0.0.1', port });
    await once(socket, 'connect');
    const { logger } = capturingLogger();
    const frames = new FrameSocket({
      socket,
      frameBytesMax: 2 * size,
      logger,
      onFrame: (_frame: Frame) => undefined,
      onClose: (_reason: FsError) => undefined,
    });
    cleanup.add(() => frames.close(new FsError(0 as never, 'test over')));
    const payload = pool.take(size)!;
    payload.fill(0xab);
    await frames.send({
      kind: FrameKind.Request,
      status: 0,
      requestId: 1,
      serviceId: 9,
      methodId: 1,
      body: Buffer.alloc(1),
      payload,
    });
    // The receiver lets go, as a server does when the handler settles: the socket still holds it.
    releasePayload(payload);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(socket.writableLength).toBeGreaterThan(0);
    expect(pool.take(size)!.buffer).not.toBe(payload.buffer);
    // Once the peer reads, the write completes and the buffer is free again.
    while (peer === undefined) await new Promise((resolve) => setTimeout(resolve, 5));
    peer.resume();
    while (socket.writableLength > 0) await once(socket, 'drain');
    await new Promise((resolve) => setImmediate(resolve));
    expect(pool.take(size)!.buffer).toBe(payload.buffer);
    peer.destroy();
  });
});

describe('rpc client with a reply payload pool', () => {
  it('reads large reply payloads into pooled buffers, reused only once their callers let go', async () => {
    const { server, address } = await startTestServer();
    cleanup.add(() => server.close({ drainMs: 100 }));
    const pool = newPool();
    const { client } = testClient({ replyPayloadPool: pool });
    cleanup.add(() => client.close());
    const call = async (index: number, size: number) => {
      const payload = randomFillSync(Buffer.alloc(size));
      const result = await client.callWithPayload(
        address,
        echoMethod,
        { text: `call ${index}`, id: BigInt(index), count: index },
        { payload },
      );
      expect(result.payload?.equals(payload), `call ${index}`).toBe(true);
      return { sent: payload, received: result.payload! };
    };
    // Kept replies stay intact while later replies arrive; released ones are read into again.
    const kept = await Promise.all([0, 1, 2, 3].map((index) => call(index, mib)));
    expect(pool.stats()).toMatchObject({ taken: 4, reused: 0 });
    for (let index = 4; index < 20; index += 1) {
      const { received } = await call(index, index % 2 === 0 ? mib : 200_000);
      releasePayload(received);
    }
    for (const { sent, received } of kept) expect(received.equals(sent)).toBe(true);
    expect(pool.stats().taken).toBe(20);
    expect(pool.stats().reused).toBeGreaterThanOrEqual(14);
    // Small replies are not pooled.
    await call(20, 1000);
    expect(pool.stats().taken).toBe(20);
  });
});
