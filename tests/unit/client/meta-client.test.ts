// Proves meta failover: idempotent calls move to another meta service after any transport failure;
// mutations too, carrying one request id on every attempt (without request ids, only when they
// cannot have run); answers of meta itself come back as they are; a call waits for a meta service
// that is down (refusing connections) to come back, within a bound; and services that stay
// unreachable, or answer too slowly, give up with MetaUnreachable.
import { describe, expect, it } from 'vitest';
import { MetaClient } from '../../../src/client/meta-client.js';
import { RoutingCache } from '../../../src/cluster/index.js';
import { ManualClock, systemClock, type Clock } from '../../../src/common/clock.js';
import { FsError } from '../../../src/common/errors.js';
import { silentLogger } from '../../../src/common/logger.js';
import { seededRandom } from '../../../src/common/random.js';
import { ClientCode, MetaCode, RpcCode, type StatusCode } from '../../../src/common/status-code.js';
import { metaMethods } from '../../../src/meta/protocol/index.js';
import type { RoutingInfo } from '../../../src/mgmtd/protocol/index.js';
import type { MethodDef, RpcClient } from '../../../src/rpc/index.js';

const routing: RoutingInfo = {
  clusterId: 'test',
  routingVersion: 1,
  nodes: [
    {
      nodeId: 2,
      type: 'meta',
      address: 'meta-a:1',
      hostname: 'a',
      status: 'online',
      lastHeartbeatMs: 0,
      tags: [],
    },
    {
      nodeId: 3,
      type: 'meta',
      address: 'meta-b:1',
      hostname: 'b',
      status: 'online',
      lastHeartbeatMs: 0,
      tags: [],
    },
  ],
  targets: [],
  chains: [],
  chainTables: [],
};

/** A clock whose sleeps end at once, so backoffs do not slow the tests. */
const instantClock: Clock = { ...systemClock, sleep: async () => undefined };

/** A clock whose sleeps end at once but move its time on, so waits measured in time end too. */
function steppingClock(): Clock {
  const clock = new ManualClock();
  return {
    nowMs: () => clock.nowMs(),
    monotonicMs: () => clock.monotonicMs(),
    setTimer: (delayMs, callback) => clock.setTimer(delayMs, callback),
    sleep: async (delayMs) => clock.advance(delayMs),
  };
}

/** An RPC stand-in failing successive calls as `script` says, then answering with `reply`. */
function fakeRpc(script: StatusCode[], reply: unknown) {
  const calls: string[] = [];
  const requests: unknown[] = [];
  const rpc = {
    async call(address: string, method: MethodDef<unknown, unknown>, request: unknown) {
      calls.push(`${address} ${method.name}`);
      requests.push(request);
      const code = script.shift();
      if (code !== undefined) throw new FsError(code, `scripted failure at ${address}`);
      return reply;
    },
  };
  return { rpc: rpc as unknown as RpcClient, calls, requests };
}

function makeClient(
  rpc: RpcClient,
  requestIds = true,
  options: { clock?: Clock; outageWaitMs?: number } = {},
) {
  const clock = options.clock ?? instantClock;
  const cache = new RoutingCache({
    source: { refreshRoutingInfo: async () => routing },
    clock,
    logger: silentLogger(),
  });
  return new MetaClient({
    rpc,
    routing: cache,
    clock,
    logger: silentLogger(),
    random: seededRandom(1),
    requestIds,
    clientId: 'client-7',
    ...(options.outageWaitMs === undefined ? {} : { outageWaitMs: options.outageWaitMs }),
  });
}

const cred = { uid: 0, gid: 0, groups: [] };
const inode = { ino: 1n };

describe('MetaClient', () => {
  it('moves an idempotent call to the other service after a timeout, and sticks to it', async () => {
    const { rpc, calls } = fakeRpc([RpcCode.Timeout], { inode });
    const client = makeClient(rpc);
    await client.call(metaMethods.stat, { cred, at: { path: '/' } });
    expect(calls.length).toBe(2);
    expect(calls[0]?.split(' ')[0]).not.toBe(calls[1]?.split(' ')[0]);
    const answered = calls[1]?.split(' ')[0];
    await client.call(metaMethods.stat, { cred, at: { path: '/' } });
    expect(calls[2]?.split(' ')[0]).toBe(answered);
  });

  it('resends a mutation whose outcome is unknown under the same request id', async () => {
    const { rpc, calls, requests } = fakeRpc([RpcCode.Timeout, RpcCode.ConnectionClosed], {});
    const client = makeClient(rpc);
    await client.call(metaMethods.unlink, { cred, at: { path: '/x' } });
    expect(calls.length).toBe(3);
    const ids = requests.map((request) => (request as { requestId?: string }).requestId);
    expect(ids[0]).toMatch(/^[0-9]{13}-client-7-1$/);
    expect(new Set(ids).size).toBe(1);
    // The next mutation gets the next id; reads carry none.
    await client.call(metaMethods.unlink, { cred, at: { path: '/y' } });
    expect((requests[3] as { requestId?: string }).requestId).toMatch(/-client-7-2$/);
    await client.call(metaMethods.stat, { cred, at: { path: '/' } });
    expect(requests[4]).not.toHaveProperty('requestId');
  });

  it('names its client as origin on idempotent mutations, which carry no request id', async () => {
    const { rpc, requests } = fakeRpc([], { inode });
    const client = makeClient(rpc);
    // A mount's change poller skips the changes of its own client id: a chmod without it would come
    // back as another client's change and have the kernel drop attributes it just refreshed.
    await client.call(metaMethods.setAttr, { cred, at: { path: '/x' }, mode: 0o600 });
    expect(requests[0]).toMatchObject({ origin: 'client-7' });
    expect(requests[0]).not.toHaveProperty('requestId');
    await client.call(metaMethods.close, {
      cred,
      ino: 1n,
      session: { clientId: 'client-7', sessionId: 's' },
    });
    expect(requests[1]).toMatchObject({ origin: 'client-7' });
    await client.call(metaMethods.stat, { cred, at: { path: '/' } });
    expect(requests[2]).not.toHaveProperty('origin');
    await client.call(metaMethods.unlink, { cred, at: { path: '/x' } });
    expect(requests[3]).not.toHaveProperty('origin');
    expect(requests[3]).toHaveProperty('requestId');
    // Without request ids (tools that are not a mount), no origin either.
    const { rpc: plainRpc, requests: plain } = fakeRpc([], { inode });
    await makeClient(plainRpc, false).call(metaMethods.setAttr, { cred, at: { path: '/x' }, mode: 0o600 });
    expect(plain[0]).not.toHaveProperty('origin');
  });

  it('without request ids, does not resend a mutation whose outcome is unknown', async () => {
    const { rpc, calls } = fakeRpc([RpcCode.Timeout], {});
    const client = makeClient(rpc, false);
    await expect(client.call(metaMethods.unlink, { cred, at: { path: '/x' } })).rejects.toMatchObject({
      code: RpcCode.Timeout,
    });
    expect(calls.length).toBe(1);
  });

  it('resends a mutation that never reached a service, even without request ids', async () => {
    const { rpc, calls } = fakeRpc([RpcCode.ConnectFailed], {});
    const client = makeClient(rpc, false);
    await client.call(metaMethods.unlink, { cred, at: { path: '/x' } });
    expect(calls.length).toBe(2);
  });

  it("returns meta's own answer at once", async () => {
    const { rpc, calls } = fakeRpc([MetaCode.NotFound], {});
    const client = makeClient(rpc);
    await expect(client.call(metaMethods.stat, { cred, at: { path: '/x' } })).rejects.toMatchObject({
      code: MetaCode.NotFound,
    });
    expect(calls.length).toBe(1);
  });

  it('gives up with MetaUnreachable after its attempts when the services answer too slowly', async () => {
    const slow = Array.from({ length: 20 }, () => RpcCode.Timeout);
    const { rpc, calls } = fakeRpc(slow, {});
    const client = makeClient(rpc, true, { clock: steppingClock() });
    await expect(client.call(metaMethods.stat, { cred, at: { path: '/' } })).rejects.toMatchObject({
      code: ClientCode.MetaUnreachable,
    });
    expect(calls.length).toBe(6);
  });

  it('waits past its attempts for a meta service that is down to come back, and sends the mutation once it is', async () => {
    const restarting = [RpcCode.ConnectionClosed, ...Array.from({ length: 14 }, () => RpcCode.ConnectFailed)];
    const { rpc, calls, requests } = fakeRpc(restarting, {});
    const client = makeClient(rpc, true, { clock: steppingClock(), outageWaitMs: 60_000 });
    await client.call(metaMethods.unlink, { cred, at: { path: '/x' } });
    expect(calls.length).toBe(16);
    const ids = requests.map((request) => (request as { requestId?: string }).requestId);
    expect(new Set(ids).size).toBe(1);
  });

  it('gives up with MetaUnreachable once no meta service came back within the outage wait', async () => {
    const down = Array.from({ length: 1_000 }, () => RpcCode.ConnectFailed);
    const { rpc, calls } = fakeRpc(down, {});
    const clock = steppingClock();
    const client = makeClient(rpc, true, { clock, outageWaitMs: 10_000 });
    const startedMs = clock.monotonicMs();
    await expect(client.call(metaMethods.stat, { cred, at: { path: '/' } })).rejects.toMatchObject({
      code: ClientCode.MetaUnreachable,
    });
    const waitedMs = clock.monotonicMs() - startedMs;
    expect(waitedMs).toBeGreaterThanOrEqual(10_000);
    // The last backoff (at most clientRetryBackoffMsMax) may carry it past the wait, no further.
    expect(waitedMs).toBeLessThan(11_000);
    expect(calls.length).toBeGreaterThan(6);
    expect(calls.length).toBeLessThan(30);
  });

  it('with no outage wait, gives up after its attempts even when the services are down', async () => {
    const down = Array.from({ length: 20 }, () => RpcCode.ConnectFailed);
    const { rpc, calls } = fakeRpc(down, {});
    const client = makeClient(rpc, true, { clock: steppingClock(), outageWaitMs: 0 });
    await expect(client.call(metaMethods.stat, { cred, at: { path: '/' } })).rejects.toMatchObject({
      code: ClientCode.MetaUnreachable,
    });
    expect(calls.length).toBe(6);
  });
});
