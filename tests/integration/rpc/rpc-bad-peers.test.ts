// Proves a bad peer (wrong secret, silent, corrupt or oversized frames) loses only its own connection while others are served.
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { RpcCode, statusName } from '../../../src/common/status-code.js';
import { decodeBody, encodeBody } from '../../../src/rpc/body-codec.js';
import {
  FrameFlag,
  FrameKind,
  encodeFrameHead,
  encodeHeader,
  frameHeaderBytes,
} from '../../../src/rpc/frame.js';
import { createNonce } from '../../../src/rpc/handshake.js';
import {
  Cleanup,
  RawPeer,
  echoMethod,
  errorLevel,
  eventually,
  requestFrame,
  startFakeServer,
  startTestServer,
  testClient,
  type LogLine,
  rejection,
} from './helpers.js';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

async function serverForTest(
  options: Parameters<typeof startTestServer>[0] = {},
): Promise<Awaited<ReturnType<typeof startTestServer>>> {
  const server = await startTestServer(options);
  cleanup.add(() => server.server.close({ drainMs: 100 }));
  return server;
}

function goodClient(): ReturnType<typeof testClient>['client'] {
  const { client } = testClient();
  cleanup.add(() => client.close());
  return client;
}

async function peer(connecting: Promise<RawPeer>): Promise<RawPeer> {
  const raw = await connecting;
  cleanup.add(() => raw.destroy());
  return raw;
}

const echoRequest = { text: 'still here', id: 1n, count: 1 };

function loggedError(lines: LogLine[], code: number): boolean {
  return lines.some((line) => line.level >= errorLevel && line.code === statusName(code));
}

describe('authentication', () => {
  it('rejects a client with the wrong cluster secret with AuthFailed and keeps serving others', async () => {
    const { address, lines } = await serverForTest();
    const client = goodClient();
    await client.call(address, echoMethod, echoRequest);
    const { client: intruder } = testClient({ secret: 'not-the-cluster-secret' });
    cleanup.add(() => intruder.close());
    const error = await rejection(intruder.call(address, echoMethod, echoRequest));
    expect(error.code).toBe(RpcCode.AuthFailed);
    expect(error.message).toMatch(/cluster secret mismatch/);
    expect(lines.some((line) => line.msg.includes('cluster secret mismatch'))).toBe(true);
    expect(await client.call(address, echoMethod, echoRequest)).toMatchObject({ text: 'still here' });
  });

  it('drops a peer that connects and says nothing once the handshake deadline passes', async () => {
    const { address, lines } = await serverForTest({ handshakeTimeoutMs: 200 });
    const silent = await peer(RawPeer.connect(address));
    const connectedAt = performance.now();
    await silent.closed;
    expect(performance.now() - connectedAt).toBeLessThan(2_000);
    expect(lines.some((line) => line.msg.includes('no handshake within 200 ms'))).toBe(true);
    expect(await goodClient().call(address, echoMethod, echoRequest)).toMatchObject({ text: 'still here' });
  });

  it('closes a connection that sends a request before authenticating, without running it', async () => {
    const { address, stats } = await serverForTest();
    const raw = await peer(RawPeer.connect(address));
    raw.sendFrame(requestFrame({ requestId: 1, serviceId: 9, methodId: 4, body: { value: 1 } }));
    await raw.closed;
    expect(stats.appendValues).toEqual([]);
  });

  it('drops an unauthenticated peer that announces more than a handshake-sized frame', async () => {
    const { address, lines } = await serverForTest();
    const raw = await peer(RawPeer.connect(address));
    const header = Buffer.alloc(frameHeaderBytes);
    encodeHeader(
      {
        kind: FrameKind.HandshakeAnswer,
        flags: 0,
        status: 0,
        requestId: 0,
        serviceId: 0,
        methodId: 0,
        bodyLength: 64 * 1024,
        payloadLength: 0,
        payloadCrc32c: 0,
      },
      header,
    );
    raw.send(header);
    await raw.closed;
    await eventually(() => loggedError(lines, RpcCode.FrameTooLarge));
  });

  it('refuses a server that cannot prove the cluster secret', async () => {
    // A fake server that challenges properly, then answers with a proof made without the secret.
    const fake: Server = createServer((socket) => {
      socket.on('error', () => undefined);
      const challenge = encodeFrameHead({
        kind: FrameKind.HandshakeChallenge,
        status: 0,
        requestId: 0,
        serviceId: 0,
        methodId: 0,
        body: encodeBody({ nonce: createNonce() }),
        payload: undefined,
      });
      socket.write(challenge);
      socket.once('data', () =>
        socket.write(
          encodeFrameHead({
            kind: FrameKind.HandshakeResult,
            status: 0,
            requestId: 0,
            serviceId: 0,
            methodId: 0,
            body: encodeBody({ proof: Buffer.alloc(32, 1) }),
            payload: undefined,
          }),
        ),
      );
    });
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    cleanup.add(() => new Promise<void>((resolve) => fake.close(() => resolve())));
    const info = fake.address();
    if (info === null || typeof info === 'string') throw new Error('fake server has no port');
    const error = await rejection(goodClient().call(`127.0.0.1:${info.port}`, echoMethod, echoRequest));
    expect(error.code).toBe(RpcCode.AuthFailed);
    expect(error.message).toMatch(/cluster secret mismatch/);
  });
});

describe('bad frames', () => {
  it('answers PayloadChecksumMismatch for a payload that fails its CRC, and keeps the connection', async () => {
    const { address } = await serverForTest();
    const raw = await peer(RawPeer.authenticated(address));
    const payload = Buffer.alloc(64 * 1024, 5);
    const head = encodeFrameHead(
      requestFrame({ requestId: 7, serviceId: 9, methodId: 1, body: echoRequest, payload }),
    );
    const corrupted = Buffer.from(payload);
    corrupted[1000] = 6;
    raw.send(Buffer.concat([head, corrupted]));
    const reply = await raw.nextFrame();
    expect(reply.header.requestId).toBe(7);
    expect(reply.header.status).toBe(RpcCode.PayloadChecksumMismatch);
    expect(reply.payload).toBeUndefined();
    raw.sendFrame(requestFrame({ requestId: 8, serviceId: 9, methodId: 1, body: echoRequest, payload }));
    const good = await raw.nextFrame();
    expect(good.header.status).toBe(0);
    expect((decodeBody(good.body) as { payloadBytes: number }).payloadBytes).toBe(payload.length);
  });

  it('closes only the connection that sends a malformed frame, with a logged error', async () => {
    const { address, lines } = await serverForTest();
    const client = goodClient();
    await client.call(address, echoMethod, echoRequest);
    const raw = await peer(RawPeer.authenticated(address));
    raw.send(Buffer.from('GET / HTTP/1.1\r\nHost: storage\r\n\r\n'));
    await raw.closed;
    await eventually(() => loggedError(lines, RpcCode.MalformedFrame));
    expect(await client.call(address, echoMethod, echoRequest)).toMatchObject({ text: 'still here' });
  });

  it('closes a connection whose frame body does not decode', async () => {
    const { address, lines } = await serverForTest();
    const raw = await peer(RawPeer.authenticated(address));
    raw.sendFrame({
      ...requestFrame({ requestId: 1, serviceId: 9, methodId: 1, body: null }),
      body: Uint8Array.from([0xc1]),
    });
    await raw.closed;
    await eventually(() => loggedError(lines, RpcCode.MalformedFrame));
    expect(await goodClient().call(address, echoMethod, echoRequest)).toMatchObject({ text: 'still here' });
  });

  it('closes only the connection that announces a frame over the size limit, before reading it', async () => {
    const { address, lines } = await serverForTest({ frameBytesMax: 1024 * 1024 });
    const client = goodClient();
    await client.call(address, echoMethod, echoRequest);
    const raw = await peer(RawPeer.authenticated(address));
    const header = Buffer.alloc(frameHeaderBytes);
    encodeHeader(
      {
        kind: FrameKind.Request,
        flags: FrameFlag.HasPayload,
        status: 0,
        requestId: 1,
        serviceId: 9,
        methodId: 1,
        bodyLength: 1,
        payloadLength: 2 * 1024 * 1024,
        payloadCrc32c: 0,
      },
      header,
    );
    raw.send(header);
    await raw.closed;
    await eventually(() => loggedError(lines, RpcCode.FrameTooLarge));
    expect(await client.call(address, echoMethod, echoRequest)).toMatchObject({ text: 'still here' });
  });

  it('drops the connection to a server whose reply exceeds the client frame limit, and no other', async () => {
    const { address } = await serverForTest();
    const { client: small, lines } = testClient({ frameBytesMax: 64 * 1024 });
    cleanup.add(() => small.close());
    const big = Buffer.alloc(128 * 1024);
    const error = await rejection(small.call(address, echoMethod, echoRequest, { payload: big }));
    expect(error.code).toBe(RpcCode.ConnectionClosed);
    expect(loggedError(lines, RpcCode.FrameTooLarge)).toBe(true);
    expect(await small.call(address, echoMethod, echoRequest)).toMatchObject({ text: 'still here' });
  });
});

describe('bad replies', () => {
  it('rejects a reply whose payload fails its CRC with PayloadChecksumMismatch, never handing out the bytes', async () => {
    const fake = await startFakeServer((request) => {
      const payload = Buffer.alloc(1024, 7);
      const head = encodeFrameHead({
        kind: FrameKind.Response,
        status: 0,
        requestId: request.header.requestId,
        serviceId: request.header.serviceId,
        methodId: request.header.methodId,
        body: encodeBody({ ...echoRequest, payloadBytes: payload.length }),
        payload,
      });
      const corrupted = Buffer.from(payload);
      corrupted[10] = 8;
      return Buffer.concat([head, corrupted]);
    });
    cleanup.add(() => fake.close());
    const error = await rejection(goodClient().callWithPayload(fake.address, echoMethod, echoRequest));
    expect(error.code).toBe(RpcCode.PayloadChecksumMismatch);
  });

  it('drops the connection to a server whose reply body does not decode', async () => {
    const fake = await startFakeServer((request) =>
      encodeFrameHead({
        kind: FrameKind.Response,
        status: 0,
        requestId: request.header.requestId,
        serviceId: request.header.serviceId,
        methodId: request.header.methodId,
        body: Uint8Array.from([0xc1]),
        payload: undefined,
      }),
    );
    cleanup.add(() => fake.close());
    const { client, lines } = testClient();
    cleanup.add(() => client.close());
    const error = await rejection(client.call(fake.address, echoMethod, echoRequest, { retries: 0 }));
    expect(error.code).toBe(RpcCode.ConnectionClosed);
    expect(loggedError(lines, RpcCode.MalformedFrame)).toBe(true);
  });
});
