// Proves calls over real loopback TCP: bodies and 4 MiB payloads arrive intact, and every failure reaches the caller typed.
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { crc32c } from '../../../src/common/crc32c.js';
import { AssertionError } from '../../../src/common/errors.js';
import { CommonCode, MetaCode, RpcCode } from '../../../src/common/status-code.js';
import { defineMethod } from '../../../src/rpc/index.js';
import {
  Cleanup,
  echoMethod,
  errorLevel,
  failMethod,
  sleepMethod,
  sleepOnceMethod,
  startTestServer,
  testClient,
  type TestServer,
  rejection,
} from './helpers.js';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

async function serverAndClient(): Promise<TestServer & { client: ReturnType<typeof testClient>['client'] }> {
  const started = await startTestServer();
  cleanup.add(() => started.server.close({ drainMs: 100 }));
  const { client } = testClient();
  cleanup.add(() => client.close());
  return { ...started, client };
}

describe('rpc calls', () => {
  it('answers a request with its body, keeping bigints and numbers as they are', async () => {
    const { client, address } = await serverAndClient();
    const response = await client.call(address, echoMethod, {
      text: 'hello',
      id: 2n ** 64n - 1n,
      count: 2 ** 40,
    });
    expect(response).toEqual({ text: 'hello', id: 2n ** 64n - 1n, count: 2 ** 40, payloadBytes: -1 });
    expect(typeof response.count).toBe('number');
  });

  it('carries 4 MiB payloads both ways unchanged', async () => {
    const { client, address } = await serverAndClient();
    const payload = Buffer.alloc(4 * 1024 * 1024);
    for (let index = 0; index < payload.length; index += 4)
      payload.writeUInt32LE((index * 2654435761) >>> 0, index);
    const calls = Array.from({ length: 4 }, (_, index) =>
      client.callWithPayload(
        address,
        echoMethod,
        { text: 'chunk', id: BigInt(index), count: index },
        { payload },
      ),
    );
    for (const result of await Promise.all(calls)) {
      expect(result.response.payloadBytes).toBe(payload.length);
      expect(result.payload?.equals(payload)).toBe(true);
    }
  });

  it('sends a payload under the CRC32C its caller already holds, and refuses it when that CRC32C is wrong', async () => {
    const { client, address } = await serverAndClient();
    const payload = Buffer.from('bytes whose checksum the caller computed before');
    const request = { text: 'known', id: 1n, count: 1 };
    const result = await client.callWithPayload(address, echoMethod, request, {
      payload,
      payloadCrc32c: crc32c(payload),
    });
    expect(result.payload?.equals(payload)).toBe(true);
    expect(result.payloadCrc32c).toBe(crc32c(payload));
    const wrong = await rejection(
      client.call(address, echoMethod, request, { payload, payloadCrc32c: crc32c(payload) ^ 1 }),
    );
    expect(wrong.code).toBe(RpcCode.PayloadChecksumMismatch);
  });

  it('tells an empty payload apart from no payload', async () => {
    const { client, address } = await serverAndClient();
    const empty = await client.callWithPayload(
      address,
      echoMethod,
      { text: '', id: 0n, count: 0 },
      { payload: Buffer.alloc(0) },
    );
    expect(empty.response.payloadBytes).toBe(0);
    expect(empty.payload).toEqual(Buffer.alloc(0));
    const none = await client.callWithPayload(address, echoMethod, { text: '', id: 0n, count: 0 });
    expect(none.payload).toBeUndefined();
  });

  it('pairs every reply with its request when many calls share one connection', async () => {
    const { client, address } = await serverAndClient();
    const responses = await Promise.all(
      Array.from({ length: 300 }, (_, index) =>
        client.call(address, echoMethod, { text: `call ${index}`, id: BigInt(index), count: index }),
      ),
    );
    responses.forEach((response, index) => expect(response.text).toBe(`call ${index}`));
  });

  it('keeps every reply payload intact while later replies arrive on the same connection', async () => {
    // Small replies land side by side in shared read buffers, large ones in their own: no reply
    // may change once it is handed out, whatever arrives after it.
    const { client, address } = await serverAndClient();
    const sizes = [1, 4096, 4096 + 200, 20000, 70000, 4096, 333, 150000, 4096, 9000];
    const payloadOf = (index: number): Buffer => {
      const payload = Buffer.alloc(sizes[index % sizes.length]!);
      for (let offset = 0; offset < payload.length; offset++) payload[offset] = (index * 31 + offset) & 0xff;
      return payload;
    };
    const kept: Buffer[] = [];
    for (let round = 0; round < 4; round++) {
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, slot) => {
          const index = round * 40 + slot;
          return client.callWithPayload(
            address,
            echoMethod,
            { text: `p${index}`, id: BigInt(index), count: index },
            { payload: payloadOf(index) },
          );
        }),
      );
      for (const result of results) kept.push(result.payload!);
    }
    kept.forEach((payload, index) => expect(payload.equals(payloadOf(index))).toBe(true));
  });

  it('answers BadRequest with the schema issues for a request that fails validation', async () => {
    const { client, address, stats } = await serverAndClient();
    const bad = { text: 5, id: 1n, count: 1.5 } as unknown as z.output<typeof echoMethod.request>;
    const error = await rejection(client.call(address, echoMethod, bad));
    expect(error.code).toBe(RpcCode.BadRequest);
    expect(error.message).toMatch(/text/);
    expect(error.message).toMatch(/count/);
    expect(stats.sleepCalls).toBe(0);
  });

  it('answers UnknownMethod for a method the server does not handle', async () => {
    const { client, address } = await serverAndClient();
    const missing = defineMethod({
      serviceId: 9,
      methodId: 999,
      name: 'test.missing',
      request: z.object({}),
      response: z.object({}),
      idempotent: true,
    });
    const error = await rejection(client.call(address, missing, {}));
    expect(error.code).toBe(RpcCode.UnknownMethod);
  });

  it('passes the code and message of an FsError thrown by the handler to the caller', async () => {
    const { client, address } = await serverAndClient();
    const error = await rejection(
      client.call(address, failMethod, {
        kind: 'fs-error',
        code: MetaCode.NotFound,
        message: 'no such inode 42',
      }),
    );
    expect(error.code).toBe(MetaCode.NotFound);
    expect(error.message).toBe('no such inode 42');
  });

  it('turns any other error thrown by a handler into Internal, keeping its message, and logs it', async () => {
    const { client, address, lines } = await serverAndClient();
    const error = await rejection(
      client.call(address, failMethod, { kind: 'plain-error', code: 0, message: 'handler bug' }),
    );
    expect(error.code).toBe(CommonCode.Internal);
    expect(error.message).toMatch(/handler bug/);
    expect(lines.some((line) => line.level >= errorLevel && line.msg.includes('handler bug'))).toBe(true);
  });

  it("tells the server's owner of a broken invariant in a handler, and of nothing else", async () => {
    const broken: string[] = [];
    const started = await startTestServer({
      onBrokenInvariant: (error, methodName) => broken.push(`${methodName}: ${error.message}`),
    });
    cleanup.add(() => started.server.close({ drainMs: 100 }));
    const { client } = testClient();
    cleanup.add(() => client.close());
    const call = (kind: 'fs-error' | 'plain-error' | 'assertion') =>
      rejection(client.call(started.address, failMethod, { kind, code: MetaCode.NotFound, message: kind }));
    expect((await call('fs-error')).code).toBe(MetaCode.NotFound);
    expect((await call('plain-error')).code).toBe(CommonCode.Internal);
    expect(broken).toEqual([]);
    expect((await call('assertion')).code).toBe(CommonCode.Internal);
    expect(broken).toEqual(['test.fail: assertion failed: assertion']);
  });

  it('rejects a response that fails the response schema with BadResponse', async () => {
    const { client, address } = await serverAndClient();
    const stricter = defineMethod({
      ...echoMethod,
      request: echoMethod.request,
      response: z.strictObject({ somethingElse: z.string() }),
    });
    const error = await rejection(client.call(address, stricter, { text: 'x', id: 1n, count: 1 }));
    expect(error.code).toBe(RpcCode.BadResponse);
  });

  it('times out a call whose handler is too slow', async () => {
    const { client, address } = await serverAndClient();
    const started = performance.now();
    const error = await rejection(client.call(address, sleepOnceMethod, { ms: 2_000 }, { timeoutMs: 150 }));
    expect(error.code).toBe(RpcCode.Timeout);
    expect(performance.now() - started).toBeLessThan(1_000);
    // The connection is still good for the next call.
    expect(await client.call(address, sleepMethod, { ms: 1 })).toEqual({ slept: 1 });
  });

  it('rejects with Cancelled when the caller aborts its signal', async () => {
    const { client, address } = await serverAndClient();
    const controller = new AbortController();
    const outcome = rejection(
      client.call(address, sleepMethod, { ms: 2_000 }, { signal: controller.signal }),
    );
    setTimeout(() => controller.abort(), 50);
    expect((await outcome).code).toBe(RpcCode.Cancelled);
    expect(
      (await rejection(client.call(address, sleepMethod, { ms: 1 }, { signal: controller.signal }))).code,
    ).toBe(RpcCode.Cancelled);
  });

  it('rejects calls in flight with ConnectionClosed at once when the server goes away', async () => {
    const { server, client, address } = await serverAndClient();
    const outcome = rejection(client.call(address, sleepOnceMethod, { ms: 5_000 }));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = performance.now();
    await server.close({ drainMs: 0 });
    expect((await outcome).code).toBe(RpcCode.ConnectionClosed);
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('fails with ConnectFailed when nothing listens at the address', async () => {
    const { server, address } = await startTestServer();
    await server.close();
    const { client } = testClient();
    cleanup.add(() => client.close());
    expect((await rejection(client.call(address, sleepOnceMethod, { ms: 1 }))).code).toBe(
      RpcCode.ConnectFailed,
    );
  });

  it('treats a second registration of the same method id as a bug', async () => {
    const { server } = await serverAndClient();
    expect(() =>
      server.handle(echoMethod, async () => ({ text: '', id: 0n, count: 0, payloadBytes: 0 })),
    ).toThrow(AssertionError);
  });

  it('refuses calls after the client is closed', async () => {
    const { client, address } = await serverAndClient();
    await client.close();
    expect((await rejection(client.call(address, sleepMethod, { ms: 1 }))).code).toBe(
      CommonCode.ShuttingDown,
    );
  });
});
