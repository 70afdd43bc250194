// Proves the collector's sample store keeps one snapshot per node and a bounded history per
// series, stamps every sample with its sender's node labels, refuses series beyond its bound,
// keeps histogram buckets out of history, and forgets idle series.
import { describe, expect, it } from 'vitest';
import type { MetricFamily } from '../../../src/common/metrics/index.js';
import { SampleStore } from '../../../src/monitor/collector/sample-store.js';
import { SeriesRing } from '../../../src/monitor/collector/series-ring.js';

function counter(name: string, value: number, labels: Record<string, string> = {}): MetricFamily {
  return { name, help: 'h', type: 'counter', samples: [{ name, labels, value }] };
}

const options = { historyPoints: 3, seriesMax: 4, nodeStaleMs: 1_000, seriesIdleMs: 10_000 };

describe('sample store', () => {
  it('keeps the latest snapshot per node and the last points of each series', () => {
    const store = new SampleStore(options);
    for (let index = 1; index <= 5; index++) {
      store.ingest({
        nodeId: 1,
        nodeType: 'mgmtd',
        hostname: 'h',
        receivedAtMs: index * 100,
        sentAtMs: 0,
        families: [counter('threefs_calls_total', index * 10, { method: 'm' })],
      });
    }
    const [series] = store.query({ name: 'threefs_calls_total', sinceMs: 0, pointsMax: 100 });
    expect(series?.labels).toEqual({ method: 'm', node: '1', node_type: 'mgmtd' });
    expect(series?.points).toEqual([
      [300, 30],
      [400, 40],
      [500, 50],
    ]);
    expect(store.allReports()).toHaveLength(1);
    expect(store.allReports()[0]?.pushes).toBe(5);
  });

  it('overrides node labels a sender claims with its authenticated identity', () => {
    const store = new SampleStore(options);
    store.ingest({
      nodeId: 2,
      nodeType: 'storage',
      hostname: 'h',
      receivedAtMs: 1,
      sentAtMs: 0,
      families: [counter('threefs_x_total', 1, { node: '99', node_type: 'mgmtd' })],
    });
    expect(store.query({ name: 'threefs_x_total', sinceMs: 0, pointsMax: 10 })[0]?.labels).toEqual({
      node: '2',
      node_type: 'storage',
    });
    expect(store.allReports()[0]?.families[0]?.samples[0]?.labels).toEqual({
      node: '2',
      node_type: 'storage',
    });
  });

  it('refuses samples of new series beyond the bound, and keeps buckets out of history', () => {
    const store = new SampleStore(options);
    const histogram: MetricFamily = {
      name: 'threefs_d_seconds',
      help: 'h',
      type: 'histogram',
      samples: [
        { name: 'threefs_d_seconds_bucket', labels: { le: '1' }, value: 1 },
        { name: 'threefs_d_seconds_sum', labels: {}, value: 0.5 },
        { name: 'threefs_d_seconds_count', labels: {}, value: 1 },
      ],
    };
    const families = [
      histogram,
      ...['a', 'b', 'c', 'd'].map((suffix) => counter(`threefs_${suffix}_total`, 1)),
    ];
    const result = store.ingest({
      nodeId: 1,
      nodeType: 'meta',
      hostname: 'h',
      receivedAtMs: 1,
      sentAtMs: 0,
      families,
    });
    expect(result).toEqual({ samples: 6, droppedSamples: 2 });
    expect(store.size).toBe(4);
    expect(store.names()).not.toContain('threefs_d_seconds_bucket');
    expect(store.names()).toContain('threefs_d_seconds_sum');
  });

  it('serves only recent reports as live, and prunes idle series', () => {
    const store = new SampleStore(options);
    store.ingest({
      nodeId: 1,
      nodeType: 'meta',
      hostname: 'h',
      receivedAtMs: 0,
      sentAtMs: 0,
      families: [counter('threefs_a_total', 1)],
    });
    store.ingest({
      nodeId: 2,
      nodeType: 'meta',
      hostname: 'h',
      receivedAtMs: 5_000,
      sentAtMs: 0,
      families: [counter('threefs_b_total', 1)],
    });
    expect(store.liveReports(5_500).map((report) => report.nodeId)).toEqual([2]);
    expect(store.prune(12_000)).toBe(1);
    expect(store.names()).toEqual(['threefs_b_total']);
    expect(store.allReports().map((report) => report.nodeId)).toEqual([2]);
  });

  it('filters series by labels', () => {
    const store = new SampleStore(options);
    const family: MetricFamily = {
      name: 'threefs_p_total',
      help: 'h',
      type: 'counter',
      samples: [
        { name: 'threefs_p_total', labels: { direction: 'in' }, value: 1 },
        { name: 'threefs_p_total', labels: { direction: 'out' }, value: 2 },
      ],
    };
    store.ingest({
      nodeId: 1,
      nodeType: 'storage',
      hostname: 'h',
      receivedAtMs: 1,
      sentAtMs: 0,
      families: [family],
    });
    const matched = store.query({
      name: 'threefs_p_total',
      sinceMs: 0,
      pointsMax: 10,
      match: { direction: 'out' },
    });
    expect(matched.map((series) => series.points)).toEqual([[[1, 2]]]);
  });
});

describe('series ring', () => {
  it('returns points since a time, newest last, limited to the newest', () => {
    const ring = new SeriesRing(4);
    for (let time = 1; time <= 6; time++) ring.push(time, time * 2);
    expect(ring.points(0, 10)).toEqual([
      [3, 6],
      [4, 8],
      [5, 10],
      [6, 12],
    ]);
    expect(ring.points(5, 10)).toEqual([
      [5, 10],
      [6, 12],
    ]);
    expect(ring.points(0, 1)).toEqual([[6, 12]]);
    expect(ring.lastTimeMs()).toBe(6);
  });
});
