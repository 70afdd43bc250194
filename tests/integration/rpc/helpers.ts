// Shared fixtures of the RPC integration tests: test methods, a log capture, and a raw frame-level peer.
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { z } from 'zod';
import { splitAddress } from '../../../src/common/config.js';
import type { Logger } from '../../../src/common/logger.js';
import { decodeBody, encodeBody } from '../../../src/rpc/body-codec.js';
import { FrameKind, encodeFrameHead, type Frame, type OutgoingFrame } from '../../../src/rpc/frame.js';
import { FrameDecoder } from '../../../src/rpc/frame-decoder.js';
import {
  answerSchema,
  challengeSchema,
  clientProof,
  createNonce,
  serverProof,
} from '../../../src/rpc/handshake.js';
import { FsError, assert } from '../../../src/common/errors.js';
import type { StatusCode } from '../../../src/common/status-code.js';
import {
  RpcClient,
  RpcServer,
  defineMethod,
  type CallContext,
  type PayloadPool,
} from '../../../src/rpc/index.js';

export const clusterSecret = 'integration-test-cluster-secret';

/** Test service 9: the methods the integration tests call. */
export const echoMethod = defineMethod({
  serviceId: 9,
  methodId: 1,
  name: 'test.echo',
  request: z.strictObject({ text: z.string(), id: z.bigint(), count: z.number().int() }),
  response: z.strictObject({
    text: z.string(),
    id: z.bigint(),
    count: z.number().int(),
    payloadBytes: z.number(),
  }),
  idempotent: true,
});

export const failMethod = defineMethod({
  serviceId: 9,
  methodId: 2,
  name: 'test.fail',
  request: z.strictObject({
    kind: z.enum(['fs-error', 'plain-error', 'assertion']),
    code: z.number().int(),
    message: z.string(),
  }),
  response: z.strictObject({}),
  idempotent: false,
});

export const sleepMethod = defineMethod({
  serviceId: 9,
  methodId: 3,
  name: 'test.sleep',
  request: z.strictObject({ ms: z.number().int().nonnegative() }),
  response: z.strictObject({ slept: z.number() }),
  idempotent: true,
});

export const appendMethod = defineMethod({
  serviceId: 9,
  methodId: 4,
  name: 'test.append',
  request: z.strictObject({ value: z.number() }),
  response: z.strictObject({ length: z.number() }),
  idempotent: false,
});

/** A structured log line as pino writes it. */
export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly [key: string]: unknown;
}

/** A logger that keeps its lines in memory, so tests can check what was logged. */
export function capturingLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString('utf8').split('\n')) {
        if (text.trim() !== '') lines.push(JSON.parse(text) as LogLine);
      }
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

/** pino's numeric level of `error`. */
export const errorLevel = 50;

/** Resolves once `condition()` holds, polling; rejects after `timeoutMs`. */
export async function eventually(condition: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error('condition did not hold in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A peer that speaks raw frames, for sending what a well-behaved client never would. */
export class RawPeer {
  readonly socket: Socket;
  readonly closed: Promise<void>;
  private readonly decoder = new FrameDecoder({ frameBytesMax: 128 * 1024 * 1024 });
  private readonly frames: Frame[] = [];
  private wake: (() => void) | undefined;

  private constructor(socket: Socket) {
    this.socket = socket;
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      this.decoder.push(chunk);
      for (let frame = this.decoder.next(); frame !== undefined; frame = this.decoder.next())
        this.frames.push(frame);
      this.wake?.();
    });
  }

  /** Connects without authenticating. */
  static async connect(address: string): Promise<RawPeer> {
    const { host, port } = splitAddress(address);
    const socket = connect({ host, port });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawPeer(socket);
  }

  /** Connects and proves `secret` the way RpcClient does. */
  static async authenticated(address: string, secret = clusterSecret): Promise<RawPeer> {
    const peer = await RawPeer.connect(address);
    const challenge = challengeSchema.parse(decodeBody((await peer.nextFrame()).body));
    const clientNonce = createNonce();
    const proof = clientProof({ secret, serverNonce: challenge.nonce, clientNonce });
    peer.sendFrame(
      handshakeFrame(FrameKind.HandshakeAnswer, answerSchema.parse({ nonce: clientNonce, proof })),
    );
    const result = await peer.nextFrame();
    if (result.header.status !== 0) throw new Error(`handshake refused with status ${result.header.status}`);
    return peer;
  }

  /** The next frame the server sent; rejects if none arrives within `timeoutMs`. */
  async nextFrame(timeoutMs = 3_000): Promise<Frame> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const frame = this.frames.shift();
      if (frame !== undefined) return frame;
      const remaining = deadline - performance.now();
      if (remaining <= 0) throw new Error('no frame arrived in time');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  sendFrame(frame: OutgoingFrame): void {
    this.socket.write(encodeFrameHead(frame));
    if (frame.payload !== undefined) this.socket.write(frame.payload);
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

function handshakeFrame(kind: FrameKind, body: unknown): OutgoingFrame {
  return {
    kind,
    status: 0,
    requestId: 0,
    serviceId: 0,
    methodId: 0,
    body: encodeBody(body),
    payload: undefined,
  };
}

/** A request frame for `method` with `body`, as a raw peer sends it. */
export function requestFrame(options: {
  requestId: number;
  serviceId: number;
  methodId: number;
  body: unknown;
  payload?: Buffer;
}): OutgoingFrame {
  return {
    kind: FrameKind.Request,
    status: 0,
    requestId: options.requestId,
    serviceId: options.serviceId,
    methodId: options.methodId,
    body: encodeBody(options.body),
    payload: options.payload,
  };
}

/** A non-idempotent twin of sleepMethod, for tests that must see exactly one attempt. */
export const sleepOnceMethod = defineMethod({
  serviceId: 9,
  methodId: 5,
  name: 'test.sleep-once',
  request: sleepMethod.request,
  response: sleepMethod.response,
  idempotent: false,
});

/** Counters the standard test handlers keep. */
export interface HandlerStats {
  sleepCalls: number;
  appendValues: number[];
  abortedHandlers: number;
}

/** Resolves after `ms`, or when `signal` aborts. */
function sleepFor(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve(false);
      return;
    }
    const timer = setTimeout(() => resolve(true), ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

/** Registers the standard handlers of the test methods on `server`. */
export function registerTestHandlers(server: RpcServer): HandlerStats {
  const stats: HandlerStats = { sleepCalls: 0, appendValues: [], abortedHandlers: 0 };
  server.handle(echoMethod, async (request, context) => {
    // The reply reuses the CRC32C the request's payload was checked against, as storage does.
    if (context.payload !== undefined) context.setReplyPayload(context.payload, context.payloadCrc32c);
    return { ...request, payloadBytes: context.payload?.length ?? -1 };
  });
  server.handle(failMethod, async (request) => {
    if (request.kind === 'fs-error') throw new FsError(request.code as StatusCode, request.message);
    assert(request.kind !== 'assertion', request.message);
    throw new Error(request.message);
  });
  const sleep = async (request: { ms: number }, context: CallContext): Promise<{ slept: number }> => {
    stats.sleepCalls += 1;
    const completed = await sleepFor(request.ms, context.signal);
    if (!completed) stats.abortedHandlers += 1;
    return { slept: request.ms };
  };
  server.handle(sleepMethod, sleep);
  server.handle(sleepOnceMethod, sleep);
  server.handle(appendMethod, async (request) => {
    stats.appendValues.push(request.value);
    return { length: stats.appendValues.length };
  });
  return stats;
}

/** A listening server with the standard handlers, its address, its log lines and handler counters. */
export interface TestServer {
  readonly server: RpcServer;
  readonly address: string;
  readonly lines: LogLine[];
  readonly stats: HandlerStats;
}

export async function startTestServer(
  options: {
    address?: string;
    frameBytesMax?: number;
    inflightPerConnectionMax?: number;
    handshakeTimeoutMs?: number;
    secret?: string;
    onBrokenInvariant?: (error: Error, methodName: string) => void;
    payloadPool?: PayloadPool;
  } = {},
): Promise<TestServer> {
  const { logger, lines } = capturingLogger();
  const server = new RpcServer({
    clusterSecret: options.secret ?? clusterSecret,
    logger,
    ...(options.frameBytesMax === undefined ? {} : { frameBytesMax: options.frameBytesMax }),
    ...(options.inflightPerConnectionMax === undefined
      ? {}
      : { inflightPerConnectionMax: options.inflightPerConnectionMax }),
    ...(options.handshakeTimeoutMs === undefined ? {} : { handshakeTimeoutMs: options.handshakeTimeoutMs }),
    ...(options.onBrokenInvariant === undefined ? {} : { onBrokenInvariant: options.onBrokenInvariant }),
    ...(options.payloadPool === undefined ? {} : { payloadPool: options.payloadPool }),
  });
  const stats = registerTestHandlers(server);
  const address = await server.listen(options.address ?? '127.0.0.1:0');
  return { server, address, lines, stats };
}

/** A client with the test secret (or another) and a captured log. */
export function testClient(
  options: { secret?: string; frameBytesMax?: number; replyPayloadPool?: PayloadPool } = {},
): {
  client: RpcClient;
  lines: LogLine[];
} {
  const { logger, lines } = capturingLogger();
  const client = new RpcClient({
    clusterSecret: options.secret ?? clusterSecret,
    logger,
    ...(options.frameBytesMax === undefined ? {} : { frameBytesMax: options.frameBytesMax }),
    ...(options.replyPayloadPool === undefined ? {} : { replyPayloadPool: options.replyPayloadPool }),
  });
  return { client, lines };
}

/** Closes everything a test opened, whatever state it is in; register with `cleanup.add`. */
export class Cleanup {
  private readonly tasks: (() => Promise<void> | void)[] = [];

  add(task: () => Promise<void> | void): void {
    this.tasks.push(task);
  }

  async run(): Promise<void> {
    for (const task of this.tasks.splice(0).reverse()) {
      try {
        await task();
      } catch {
        // Cleanup of one resource must not keep the others open.
      }
    }
  }
}

/**
 * A hand-made server that authenticates clients correctly, then answers each request frame with
 * whatever bytes `answer` returns: for replies a real server never sends.
 */
export async function startFakeServer(
  answer: (request: Frame) => Buffer,
): Promise<{ address: string; close: () => Promise<void> }> {
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    const decoder = new FrameDecoder({ frameBytesMax: 128 * 1024 * 1024 });
    const serverNonce = createNonce();
    let authenticated = false;
    socket.write(encodeFrameHead(handshakeFrame(FrameKind.HandshakeChallenge, { nonce: serverNonce })));
    socket.on('data', (chunk: Buffer) => {
      decoder.push(chunk);
      for (let frame = decoder.next(); frame !== undefined; frame = decoder.next()) {
        if (authenticated) {
          socket.write(answer(frame));
          continue;
        }
        const { nonce: clientNonce } = answerSchema.parse(decodeBody(frame.body));
        const proof = serverProof({ secret: clusterSecret, serverNonce, clientNonce });
        socket.write(encodeFrameHead(handshakeFrame(FrameKind.HandshakeResult, { proof })));
        authenticated = true;
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The FsError `promise` rejects with; fails the test if it resolves or rejects with anything else. */
export async function rejection(promise: Promise<unknown>): Promise<FsError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof FsError) return error;
    throw error;
  }
  throw new Error('the call succeeded');
}
