// Proves idempotent calls are retried (boundedly) across timeouts and a server restart, and non-idempotent calls never are.
import { afterEach, describe, expect, it } from 'vitest';
import { RpcCode } from '../../../src/common/status-code.js';
import {
  Cleanup,
  appendMethod,
  echoMethod,
  sleepMethod,
  sleepOnceMethod,
  startTestServer,
  testClient,
  rejection,
} from './helpers.js';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('retries', () => {
  it('retries an idempotent call across a server restart at the same address', async () => {
    const first = await startTestServer();
    const address = first.address;
    const { client } = testClient();
    cleanup.add(() => client.close());
    await client.call(address, echoMethod, { text: 'before', id: 1n, count: 1 });
    await first.server.close({ drainMs: 100 });
    // The call starts while nothing listens, and the server comes back during its backoff.
    const call = client.call(
      address,
      echoMethod,
      { text: 'across restart', id: 2n, count: 2 },
      { retries: 6, timeoutMs: 1_000 },
    );
    await pause(120);
    const second = await startTestServer({ address });
    cleanup.add(() => second.server.close({ drainMs: 100 }));
    expect(await call).toMatchObject({ text: 'across restart' });
  });

  it('never retries a non-idempotent call, even when asked to', async () => {
    const first = await startTestServer();
    const { client } = testClient();
    cleanup.add(() => client.close());
    await first.server.close({ drainMs: 100 });
    const call = rejection(client.call(first.address, appendMethod, { value: 1 }, { retries: 6 }));
    await pause(120);
    const second = await startTestServer({ address: first.address });
    cleanup.add(() => second.server.close({ drainMs: 100 }));
    expect((await call).code).toBe(RpcCode.ConnectFailed);
    expect(second.stats.appendValues).toEqual([]);
  });

  it('retries an idempotent call that times out, up to the retry bound', async () => {
    const { server, address, stats } = await startTestServer();
    cleanup.add(() => server.close({ drainMs: 100 }));
    const { client } = testClient();
    cleanup.add(() => client.close());
    const error = await rejection(
      client.call(address, sleepMethod, { ms: 1_000 }, { timeoutMs: 80, retries: 2 }),
    );
    expect(error.code).toBe(RpcCode.Timeout);
    expect(stats.sleepCalls).toBe(3);
  });

  it('runs a non-idempotent call that times out exactly once', async () => {
    const { server, address, stats } = await startTestServer();
    cleanup.add(() => server.close({ drainMs: 100 }));
    const { client } = testClient();
    cleanup.add(() => client.close());
    const error = await rejection(
      client.call(address, sleepOnceMethod, { ms: 1_000 }, { timeoutMs: 80, retries: 2 }),
    );
    expect(error.code).toBe(RpcCode.Timeout);
    await pause(200);
    expect(stats.sleepCalls).toBe(1);
  });

  it('does not retry a failure that retrying cannot fix', async () => {
    const { server, address, lines } = await startTestServer({ secret: 'a-different-cluster-secret' });
    cleanup.add(() => server.close({ drainMs: 100 }));
    const { client } = testClient();
    cleanup.add(() => client.close());
    const call = client.call(address, echoMethod, { text: '', id: 0n, count: 0 }, { retries: 5 });
    expect((await rejection(call)).code).toBe(RpcCode.AuthFailed);
    // Had it been retried, the first retry would come after at most 50 ms.
    await pause(200);
    expect(lines.filter((line) => line.msg.includes('cluster secret mismatch'))).toHaveLength(1);
  });

  it('opens a new connection for the next call after the server restarted', async () => {
    const first = await startTestServer();
    const { client } = testClient();
    cleanup.add(() => client.close());
    await client.call(first.address, appendMethod, { value: 1 });
    await first.server.close({ drainMs: 100 });
    const second = await startTestServer({ address: first.address });
    cleanup.add(() => second.server.close({ drainMs: 100 }));
    expect(await client.call(first.address, appendMethod, { value: 2 })).toEqual({ length: 1 });
  });
});
