// Proves the collector's /metrics text merges the snapshots of several processes into one valid
// exposition: one HELP/TYPE per family, every process's samples apart by their node label,
// histograms with their buckets.
import { describe, expect, it } from 'vitest';
import { MetricsRegistry, metricDefs } from '../../../src/common/metrics/index.js';
import { clusterExposition } from '../../../src/monitor/collector/prometheus-export.js';

describe('cluster exposition', () => {
  it('merges processes without summing them together', async () => {
    const first = new MetricsRegistry({ node: '1', node_type: 'mgmtd' });
    const second = new MetricsRegistry({ node: '2', node_type: 'meta' });
    first.counter(metricDefs.rpcServerCalls).inc({ method: 'Mgmtd.heartbeat' }, 3);
    second.counter(metricDefs.rpcServerCalls).inc({ method: 'Mgmtd.heartbeat' }, 4);
    second.histogram(metricDefs.rpcServerDuration).observe({ method: 'Meta.stat' }, 0.003);

    const { text, contentType } = await clusterExposition([await first.snapshot(), await second.snapshot()]);
    expect(contentType).toMatch(/^text\/plain/);
    expect(text.match(/# TYPE threefs_rpc_server_calls_total counter/g)).toHaveLength(1);
    expect(text).toContain(
      'threefs_rpc_server_calls_total{method="Mgmtd.heartbeat",node="1",node_type="mgmtd"} 3',
    );
    expect(text).toContain(
      'threefs_rpc_server_calls_total{method="Mgmtd.heartbeat",node="2",node_type="meta"} 4',
    );
    expect(text).toContain('# TYPE threefs_rpc_server_call_duration_seconds histogram');
    expect(text).toContain(
      'threefs_rpc_server_call_duration_seconds_bucket{le="0.005",method="Meta.stat",node="2",node_type="meta"} 1',
    );
    expect(text).toContain(
      'threefs_rpc_server_call_duration_seconds_count{method="Meta.stat",node="2",node_type="meta"} 1',
    );
  });

  it('renders nothing for no snapshots', async () => {
    expect((await clusterExposition([])).text.trim()).toBe('');
  });
});
