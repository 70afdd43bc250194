// Proves that a meta service's RPC calls become metadata operation metrics per type (count,
// errors by status name, duration), that other services' calls are not counted as metadata
// operations, and that combined observers each see every call.
import { describe, expect, it } from 'vitest';
import {
  MetricsRegistry,
  combineObservers,
  metaOperationsObserver,
  rpcMetricsObserver,
} from '../../../src/common/metrics/index.js';
import { MetaCode } from '../../../src/common/status-code.js';

function call(method: string, status = 0) {
  return { method, status, durationMs: 2, requestPayloadBytes: 0, replyPayloadBytes: 0 };
}

describe('metadata operation metrics', () => {
  it('counts Meta.* calls per operation with errors by status name, and nothing else', async () => {
    const registry = new MetricsRegistry({ node: '100', node_type: 'meta' });
    const observer = combineObservers(
      rpcMetricsObserver(registry, 'server'),
      metaOperationsObserver(registry),
    );
    for (const event of [
      call('Meta.create'),
      call('Meta.create'),
      call('Meta.stat', MetaCode.NotFound),
      call('Mgmtd.heartbeat'),
    ]) {
      observer.callStarted(event.method);
      observer.callFinished(event);
    }
    const text = await registry.text();
    expect(text).toMatch(/threefs_meta_operations_total\{[^}]*operation="create"[^}]*\} 2/);
    expect(text).toMatch(/threefs_meta_operations_total\{[^}]*operation="stat"[^}]*\} 1/);
    expect(text).toMatch(
      /threefs_meta_operation_errors_total\{[^}]*operation="stat"[^}]*code="Meta.NotFound"[^}]*\} 1/,
    );
    expect(text).not.toMatch(/threefs_meta_operations_total\{[^}]*heartbeat/);
    expect(text).toMatch(/threefs_rpc_server_calls_total\{[^}]*method="Mgmtd.heartbeat"[^}]*\} 1/);
  });
});
