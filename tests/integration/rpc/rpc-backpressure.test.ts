// Proves the in-flight bounds on both ends hold under load and that closing a server drains its handlers first.
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { FsError } from '../../../src/common/errors.js';
import { limits } from '../../../src/common/limits.js';
import { RpcCode } from '../../../src/common/status-code.js';
import { RpcServer, defineMethod } from '../../../src/rpc/index.js';
import {
  Cleanup,
  capturingLogger,
  clusterSecret,
  eventually,
  sleepMethod,
  sleepOnceMethod,
  startTestServer,
  testClient,
} from './helpers.js';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const gateMethod = defineMethod({
  serviceId: 10,
  methodId: 1,
  name: 'test.gate',
  request: z.strictObject({ index: z.number() }),
  response: z.strictObject({ index: z.number() }),
  idempotent: true,
});

/** A server whose gate handler waits until the test opens the gate, counting handlers running at once. */
async function gatedServer(inflightPerConnectionMax?: number): Promise<{
  address: string;
  running: () => number;
  mostRunning: () => number;
  open: () => void;
}> {
  const { logger } = capturingLogger();
  const server = new RpcServer({
    clusterSecret,
    logger,
    ...(inflightPerConnectionMax === undefined ? {} : { inflightPerConnectionMax }),
  });
  let running = 0;
  let mostRunning = 0;
  let open: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (open = resolve));
  server.handle(gateMethod, async (request) => {
    running += 1;
    mostRunning = Math.max(mostRunning, running);
    await gate;
    await new Promise((resolve) => setTimeout(resolve, 2));
    running -= 1;
    return request;
  });
  const address = await server.listen('127.0.0.1:0');
  cleanup.add(() => server.close({ drainMs: 100 }));
  return { address, running: () => running, mostRunning: () => mostRunning, open: () => open() };
}

describe('back-pressure', () => {
  it('never runs more than two handlers of one connection at once while a client sends 50', async () => {
    const server = await gatedServer(2);
    const { client } = testClient();
    cleanup.add(() => client.close());
    const calls = Array.from({ length: 50 }, (_, index) =>
      client.call(server.address, gateMethod, { index }),
    );
    await eventually(() => server.running() === 2);
    // Given time, a server without the bound would start the 48 calls still waiting.
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(server.running()).toBe(2);
    server.open();
    const responses = await Promise.all(calls);
    expect(responses.map((response) => response.index)).toEqual(
      Array.from({ length: 50 }, (_, index) => index),
    );
    expect(server.mostRunning()).toBe(2);
  });

  it('answers Overloaded when more calls wait than the client queue holds', async () => {
    const server = await gatedServer();
    const { client } = testClient();
    cleanup.add(() => client.close());
    const accepted = limits.rpcClientInflightPerConnectionMax + limits.rpcClientQueuedPerConnectionMax;
    const outcomes = Array.from({ length: accepted + 5 }, (_, index) =>
      client.call(server.address, gateMethod, { index }, { retries: 0 }).then(
        () => 'ok',
        (error: unknown) => (error instanceof FsError ? error.code : 'other'),
      ),
    );
    // The calls beyond the bound are refused at once, while the others still wait.
    const refused = await Promise.race([
      Promise.all(outcomes.slice(accepted)),
      new Promise((resolve) => setTimeout(() => resolve('late'), 2_000)),
    ]);
    expect(refused).toEqual(Array.from({ length: 5 }, () => RpcCode.Overloaded));
    server.open();
    const results = await Promise.all(outcomes.slice(0, accepted));
    expect(results.every((result) => result === 'ok')).toBe(true);
  });
});

describe('server close', () => {
  it('lets in-flight handlers finish and answer before closing connections', async () => {
    const { server, address } = await startTestServer();
    const { client } = testClient();
    cleanup.add(() => client.close());
    const call = client.call(address, sleepOnceMethod, { ms: 200 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await server.close({ drainMs: 2_000 });
    expect(await call).toEqual({ slept: 200 });
  });

  it('aborts handlers still running when the drain deadline passes', async () => {
    const { server, address, stats } = await startTestServer();
    const { client } = testClient();
    cleanup.add(() => client.close());
    const call = client
      .call(address, sleepMethod, { ms: 10_000 }, { retries: 0 })
      .catch((error: unknown) => error);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = performance.now();
    await server.close({ drainMs: 100 });
    expect(performance.now() - started).toBeLessThan(1_500);
    expect(((await call) as FsError).code).toBe(RpcCode.ConnectionClosed);
    expect(stats.abortedHandlers).toBe(1);
  });
});
