// Proves the metrics registry keeps catalogue names and node labels stable in both the Prometheus
// text and the pushed snapshot, refuses names outside the catalogue's rules, and that the
// `[monitor]` section parses as documented.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/common/config.js';
import {
  MetricsRegistry,
  metricDefs,
  monitorSectionSchema,
  toMetricFamilies,
  type CounterDef,
} from '../../../src/common/metrics/index.js';
import { z } from 'zod';

describe('metrics registry', () => {
  it('labels every sample with the node and its type, in text and snapshot alike', async () => {
    const registry = new MetricsRegistry({ node: '7', node_type: 'storage' });
    registry.counter(metricDefs.storageReadBytes).inc({ target: '101' }, 4096);
    registry.histogram(metricDefs.storageChunkOperationDuration).observe({ operation: 'read' }, 0.002);

    const text = await registry.text();
    expect(text).toContain(
      'threefs_storage_read_bytes_total{target="101",node="7",node_type="storage"} 4096',
    );
    expect(text).toMatch(
      /threefs_storage_chunk_operation_duration_seconds_bucket\{le="0.0025",node="7",node_type="storage",operation="read"\} 1/,
    );

    const families = await registry.snapshot();
    const read = families.find((family) => family.name === 'threefs_storage_read_bytes_total');
    expect(read?.type).toBe('counter');
    expect(read?.samples).toEqual([
      {
        name: 'threefs_storage_read_bytes_total',
        labels: { target: '101', node: '7', node_type: 'storage' },
        value: 4096,
      },
    ]);
    const histogram = families.find(
      (family) => family.name === 'threefs_storage_chunk_operation_duration_seconds',
    );
    const names = new Set(histogram?.samples.map((sample) => sample.name));
    expect(names).toEqual(
      new Set([
        'threefs_storage_chunk_operation_duration_seconds_bucket',
        'threefs_storage_chunk_operation_duration_seconds_sum',
        'threefs_storage_chunk_operation_duration_seconds_count',
      ]),
    );
    const infBucket = histogram?.samples.find((sample) => sample.labels['le'] === '+Inf');
    expect(infBucket?.value).toBe(1);
  });

  it('returns the same instrument when a definition is used twice', () => {
    const registry = new MetricsRegistry({ node: '1', node_type: 'mgmtd' });
    expect(registry.counter(metricDefs.rpcServerCalls)).toBe(registry.counter(metricDefs.rpcServerCalls));
  });

  it('refuses a metric outside the namespace and a label the registry reserves', () => {
    const registry = new MetricsRegistry({ node: '1', node_type: 'mgmtd' });
    const foreign: CounterDef<never> = { type: 'counter', name: 'requests_total', help: 'x', labelNames: [] };
    expect(() => registry.counter(foreign)).toThrow(/threefs_/);
    const reserved: CounterDef<'node'> = {
      type: 'counter',
      name: 'threefs_test_total',
      help: 'x',
      labelNames: ['node'],
    };
    expect(() => registry.counter(reserved)).toThrow(/reserved/);
  });

  it('refuses a node label that is not a node id', () => {
    expect(() => new MetricsRegistry({ node: 'host-1', node_type: 'meta' })).toThrow(/node id/);
  });

  it('computes collect gauges when read, and reports process memory and event-loop delay', async () => {
    const registry = new MetricsRegistry({ node: '3', node_type: 'meta' });
    let depth = 5;
    registry.gauge(metricDefs.queueDepth, (gauge) => gauge.set({ queue: 'gc' }, depth));
    registry.collectProcessMetrics();
    expect(await registry.text()).toContain('threefs_queue_depth{queue="gc",node="3",node_type="meta"} 5');
    depth = 9;
    const text = await registry.text();
    expect(text).toContain('threefs_queue_depth{queue="gc",node="3",node_type="meta"} 9');
    expect(text).toMatch(/^process_resident_memory_bytes\{node="3",node_type="meta"\} \d+/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_p99_seconds\{node="3",node_type="meta"\} [\d.e-]+/m);
  });

  it('gives series the same samples as the instruments themselves, batches and all', async () => {
    // One registry records each label set directly, the other through series; both must read alike.
    const direct = new MetricsRegistry({ node: '3', node_type: 'fuse' });
    const viaSeries = new MetricsRegistry({ node: '3', node_type: 'fuse' });
    const calls = viaSeries.counterSeries(metricDefs.rpcClientCalls, { method: 'Storage.read' });
    const inflight = viaSeries.gaugeSeries(metricDefs.rpcClientInflight, { method: 'Storage.read' });
    const duration = viaSeries.histogramSeries(metricDefs.rpcClientDuration, { method: 'Storage.read' });
    // More observations than one batch holds, so some reach prom-client before the read.
    for (let index = 0; index < 1000; index++) {
      const seconds = (index % 37) / 1000;
      inflight.add(1);
      calls.add(1);
      duration.observe(seconds);
      inflight.add(-1);
      direct.counter(metricDefs.rpcClientCalls).inc({ method: 'Storage.read' });
      direct.histogram(metricDefs.rpcClientDuration).observe({ method: 'Storage.read' }, seconds);
    }
    direct.gauge(metricDefs.rpcClientInflight).set({ method: 'Storage.read' }, 0);
    const lines = (text: string) => text.split('\n').filter((line) => line.startsWith('threefs_rpc_client'));
    expect(lines(await viaSeries.text()).sort()).toEqual(lines(await direct.text()).sort());
    expect(await viaSeries.text()).toContain(
      'threefs_rpc_client_call_duration_seconds_count{node="3",node_type="fuse",method="Storage.read"} 1000',
    );
    // A read hands over everything gathered since the last one, and nothing twice.
    calls.add(5);
    const families = await viaSeries.snapshot();
    const total = families.find((family) => family.name === 'threefs_rpc_client_calls_total');
    expect(total?.samples[0]?.value).toBe(1005);
    expect(await viaSeries.text()).toContain(
      'threefs_rpc_client_calls_total{method="Storage.read",node="3",node_type="fuse"} 1005',
    );
  });

  it('refuses a series of a counter read from counts kept elsewhere, and a non-finite observation', () => {
    const registry = new MetricsRegistry({ node: '1', node_type: 'storage' });
    registry.counter(metricDefs.storageReadBytes, (set) => set({ target: '1' }, 1));
    expect(() => registry.counterSeries(metricDefs.storageReadBytes, { target: '1' })).toThrow(
      /counts kept elsewhere/,
    );
    const series = registry.histogramSeries(metricDefs.storageChunkOperationDuration, { operation: 'read' });
    expect(() => series.observe(Number.NaN)).toThrow(/not a valid number/);
  });

  it('leaves out non-finite values when converting prom-client JSON', () => {
    const families = toMetricFamilies([
      {
        name: 'threefs_x',
        help: 'h',
        type: 'gauge',
        values: [
          { value: Number.NaN, labels: {} },
          { value: 2, labels: { a: 1 } },
        ],
      },
    ]);
    expect(families[0]?.samples).toEqual([{ name: 'threefs_x', labels: { a: '1' }, value: 2 }]);
  });
});

describe('[monitor] section', () => {
  const schema = z.strictObject({ monitor: monitorSectionSchema.prefault({}) });

  it('defaults to no endpoint, no collector, and the default interval', () => {
    const config = parseConfig(schema, '', 'test.toml');
    expect(config.monitor).toEqual({ collector: [], push_interval_ms: 5_000 });
  });

  it('accepts one collector as a string and several as a list', () => {
    expect(parseConfig(schema, '[monitor]\ncollector = "10.0.0.5:9100"', 't').monitor.collector).toEqual([
      '10.0.0.5:9100',
    ]);
    const text = '[monitor]\nlisten = "0.0.0.0:9200"\ncollector = ["a:1", "b:2"]\npush_interval_ms = 1000';
    expect(parseConfig(schema, text, 't').monitor).toMatchObject({
      listen: '0.0.0.0:9200',
      collector: ['a:1', 'b:2'],
    });
  });

  it('names the key of a bad value and of a timeout longer than the interval', () => {
    expect(() => parseConfig(schema, '[monitor]\ncollector = "nohost"', 't')).toThrow(/monitor\.collector/);
    expect(() =>
      parseConfig(schema, '[monitor]\npush_interval_ms = 1000\npush_timeout_ms = 2000', 't'),
    ).toThrow(/monitor\.push_timeout_ms: must be at most push_interval_ms/);
    expect(() => parseConfig(schema, '[monitor]\npush_every = 3', 't')).toThrow(
      /monitor\.push_every: unknown key/,
    );
  });
});
