// Proves the RPC observers count calls, errors by status code, payload bytes and latency per
// method on both ends of a real loopback connection, and that a failing observer never fails a call.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { FsError } from '../../../src/common/errors.js';
import { silentLogger } from '../../../src/common/logger.js';
import { MetricsRegistry, rpcMetricsObserver } from '../../../src/common/metrics/index.js';
import { MgmtdCode } from '../../../src/common/status-code.js';
import { RpcClient, RpcServer, defineMethod } from '../../../src/rpc/index.js';

const secret = 'unit-test-cluster-secret-0123';
const echo = defineMethod({
  serviceId: 900,
  methodId: 1,
  name: 'Test.echo',
  request: z.strictObject({ fail: z.boolean() }),
  response: z.strictObject({ ok: z.boolean() }),
  idempotent: false,
});

describe('rpc metrics observers', () => {
  let server: RpcServer;
  let client: RpcClient;
  let serverMetrics: MetricsRegistry;
  let clientMetrics: MetricsRegistry;
  let address: string;

  beforeEach(async () => {
    serverMetrics = new MetricsRegistry({ node: '1', node_type: 'mgmtd' });
    clientMetrics = new MetricsRegistry({ node: '2', node_type: 'meta' });
    server = new RpcServer({
      clusterSecret: secret,
      logger: silentLogger(),
      observer: rpcMetricsObserver(serverMetrics, 'server'),
    });
    server.handle(echo, async (request, context) => {
      if (request.fail) throw new FsError(MgmtdCode.NotPrimary, 'not the primary');
      context.setReplyPayload(Buffer.alloc(10));
      return { ok: true };
    });
    address = await server.listen('127.0.0.1:0');
    client = new RpcClient({
      clusterSecret: secret,
      logger: silentLogger(),
      observer: rpcMetricsObserver(clientMetrics, 'client'),
    });
  });
  afterEach(async () => {
    await client.close();
    await server.close({ drainMs: 100 });
  });

  it('counts calls, errors, payload bytes and latency per method on both ends', async () => {
    for (let index = 0; index < 3; index++) {
      await client.call(address, echo, { fail: false }, { payload: Buffer.alloc(100) });
    }
    await expect(client.call(address, echo, { fail: true })).rejects.toThrow(/not the primary/);

    const serverText = await serverMetrics.text();
    expect(serverText).toContain(
      'threefs_rpc_server_calls_total{method="Test.echo",node="1",node_type="mgmtd"} 4',
    );
    expect(serverText).toContain(
      'threefs_rpc_server_errors_total{method="Test.echo",code="Mgmtd.NotPrimary",node="1",node_type="mgmtd"} 1',
    );
    expect(serverText).toContain(
      'threefs_rpc_server_payload_bytes_total{method="Test.echo",direction="in",node="1",node_type="mgmtd"} 300',
    );
    expect(serverText).toContain(
      'threefs_rpc_server_payload_bytes_total{method="Test.echo",direction="out",node="1",node_type="mgmtd"} 30',
    );
    expect(serverText).toContain(
      'threefs_rpc_server_call_duration_seconds_count{node="1",node_type="mgmtd",method="Test.echo"} 4',
    );
    expect(serverText).toContain(
      'threefs_rpc_server_inflight_calls{method="Test.echo",node="1",node_type="mgmtd"} 0',
    );

    const clientText = await clientMetrics.text();
    expect(clientText).toContain(
      'threefs_rpc_client_calls_total{method="Test.echo",node="2",node_type="meta"} 4',
    );
    expect(clientText).toContain(
      'threefs_rpc_client_errors_total{method="Test.echo",code="Mgmtd.NotPrimary",node="2",node_type="meta"} 1',
    );
    expect(clientText).toContain(
      'threefs_rpc_client_payload_bytes_total{method="Test.echo",direction="out",node="2",node_type="meta"} 300',
    );
  });

  it('counts a call to an unreachable server as a client error', async () => {
    await expect(client.call('127.0.0.1:1', echo, { fail: false }, { timeoutMs: 2_000 })).rejects.toThrow();
    expect(await clientMetrics.text()).toMatch(
      /threefs_rpc_client_errors_total\{method="Test\.echo",code="Rpc\.Connect(Failed|ionClosed)",node="2",node_type="meta"\} 1/,
    );
  });

  it('keeps calls working when an observer throws', async () => {
    const throwing = new RpcClient({
      clusterSecret: secret,
      logger: silentLogger(),
      observer: {
        callStarted: () => {
          throw new Error('observer broke');
        },
        callFinished: () => {
          throw new Error('observer broke');
        },
      },
    });
    try {
      await expect(throwing.call(address, echo, { fail: false })).resolves.toEqual({ ok: true });
    } finally {
      await throwing.close();
    }
  });
});
