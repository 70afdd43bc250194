// RPC layer throughput over loopback beside the raw socket doing the same work (and the local disk for bulk bytes).
// Client and server share this process in both the RPC runs and the baselines, so the ratio compares like with like.
import { once } from 'node:events';
import { open, mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { silentLogger } from '../src/common/logger.js';
import { encodeBody } from '../src/rpc/body-codec.js';
import { encodeFrameHead, FrameKind } from '../src/rpc/frame.js';
import { RpcClient, RpcServer, defineMethod } from '../src/rpc/index.js';
import { reportRatio } from './report.js';

const clusterSecret = 'benchmark-cluster-secret';
const roundTripSeconds = 2;
const pipelineDepth = 32;
const payloadBytes = 4 * 1024 * 1024;
const payloadCalls = 64;
const payloadConcurrency = 4;

const pingMethod = defineMethod({
  serviceId: 1,
  methodId: 1,
  name: 'bench.ping',
  request: z.object({ sequence: z.number(), inode: z.bigint(), name: z.string() }),
  response: z.object({ sequence: z.number() }),
  idempotent: true,
});

const writeMethod = defineMethod({
  serviceId: 1,
  methodId: 2,
  name: 'bench.write',
  request: z.object({ chunk: z.number(), offset: z.number() }),
  response: z.object({ written: z.number() }),
  idempotent: false,
});

const pingRequest = { sequence: 1, inode: 1234567890123n, name: 'a-file-name.bin' };

/** Bytes of one ping request on the wire, so the raw baseline moves messages of the same size. */
function pingFrameBytes(): number {
  return encodeFrameHead({
    kind: FrameKind.Request,
    status: 0,
    requestId: 1,
    serviceId: 1,
    methodId: 1,
    body: encodeBody(pingRequest),
    payload: undefined,
  }).length;
}

async function listen(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/** Runs `depth` loops of `roundTrip` for `seconds`; returns round trips per second. */
async function measureRoundTrips(
  seconds: number,
  depth: number,
  roundTrip: () => Promise<void>,
): Promise<number> {
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  let count = 0;
  const loop = async (): Promise<void> => {
    while (performance.now() < deadline) {
      await roundTrip();
      count += 1;
    }
  };
  await Promise.all(Array.from({ length: depth }, loop));
  return count / ((performance.now() - started) / 1000);
}

/** A raw TCP echo of fixed-size messages: the least any request/response protocol can cost here. */
async function rawRoundTrips(messageBytes: number, depth: number): Promise<number> {
  const server = createServer((socket) => socket.on('data', (chunk) => socket.write(chunk)));
  const port = await listen(server);
  const socket: Socket = connect({ port, host: '127.0.0.1' });
  socket.setNoDelay(true);
  await once(socket, 'connect');
  const message = Buffer.alloc(messageBytes, 1);
  const waiters: (() => void)[] = [];
  let received = 0;
  socket.on('data', (chunk: Buffer) => {
    received += chunk.length;
    while (received >= messageBytes) {
      received -= messageBytes;
      waiters.shift()?.();
    }
  });
  const rate = await measureRoundTrips(roundTripSeconds, depth, () => {
    const answered = new Promise<void>((resolve) => waiters.push(resolve));
    socket.write(message);
    return answered;
  });
  socket.destroy();
  server.close();
  return rate;
}

/** Raw TCP streaming of `totalBytes` in payload-sized writes; returns MB/s. */
async function rawStream(payload: Buffer, totalBytes: number): Promise<number> {
  let received = 0;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const server = createServer((socket) =>
    socket.on('data', (chunk) => {
      received += chunk.length;
      if (received >= totalBytes) done();
    }),
  );
  const port = await listen(server);
  const socket = connect({ port, host: '127.0.0.1' });
  await once(socket, 'connect');
  const started = performance.now();
  for (let sent = 0; sent < totalBytes; sent += payload.length) {
    if (!socket.write(payload)) await once(socket, 'drain');
  }
  await finished;
  const seconds = (performance.now() - started) / 1000;
  socket.destroy();
  server.close();
  return totalBytes / 1e6 / seconds;
}

/** Writes `totalBytes` to a temporary file in payload-sized writes, then fsyncs; returns MB/s. */
async function diskWrite(payload: Buffer, totalBytes: number): Promise<number> {
  const directory = await mkdtemp(join(tmpdir(), '3fs-rpc-bench-'));
  try {
    const file = await open(join(directory, 'chunks'), 'w');
    const started = performance.now();
    for (let written = 0; written < totalBytes; written += payload.length) await file.write(payload);
    await file.sync();
    const seconds = (performance.now() - started) / 1000;
    await file.close();
    return totalBytes / 1e6 / seconds;
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

/** 4 MiB payload writes through RPC, a few in flight; returns payload MB/s. */
async function rpcPayloadWrites(client: RpcClient, address: string, payload: Buffer): Promise<number> {
  let next = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (next < payloadCalls) {
      const chunk = next++;
      await client.call(address, writeMethod, { chunk, offset: 0 }, { payload, timeoutMs: 30_000 });
    }
  };
  await Promise.all(Array.from({ length: payloadConcurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  return (payloadCalls * payload.length) / 1e6 / seconds;
}

export async function run(): Promise<void> {
  const logger = silentLogger();
  const server = new RpcServer({ clusterSecret, logger });
  server.handle(pingMethod, async (request) => ({ sequence: request.sequence }));
  server.handle(writeMethod, async (_request, context) => ({ written: context.payload?.length ?? 0 }));
  const address = await server.listen('127.0.0.1:0');
  const client = new RpcClient({ clusterSecret, logger });
  try {
    await client.call(address, pingMethod, pingRequest);
    const messageBytes = pingFrameBytes();
    for (const depth of [1, pipelineDepth]) {
      const ours = await measureRoundTrips(roundTripSeconds, depth, async () => {
        await client.call(address, pingMethod, pingRequest);
      });
      const baseline = await rawRoundTrips(messageBytes, depth);
      reportRatio({
        workload: `round trips, ${messageBytes} B, ${depth} in flight`,
        unit: 'calls/s',
        ours,
        baselineName: 'raw socket ping-pong',
        baseline,
      });
    }
    const payload = Buffer.alloc(payloadBytes, 0x5a);
    const totalBytes = payloadCalls * payloadBytes;
    const ours = await rpcPayloadWrites(client, address, payload);
    const workload = `4 MiB payloads, ${payloadConcurrency} in flight, ${totalBytes >> 20} MiB`;
    reportRatio({
      workload,
      unit: 'MB/s',
      ours,
      baselineName: 'raw TCP stream',
      baseline: await rawStream(payload, totalBytes),
    });
    reportRatio({
      workload,
      unit: 'MB/s',
      ours,
      baselineName: 'local disk write+fsync',
      baseline: await diskWrite(payload, totalBytes),
    });
  } finally {
    await client.close();
    await server.close({ drainMs: 1_000 });
  }
}
