// Proves the push method's schema accepts a real process snapshot and refuses what would let a
// sender make the collector hold more than a bounded snapshot: too many labels, non-finite values,
// names that are not metric names.
import { describe, expect, it } from 'vitest';
import { MetricsRegistry, metricDefs } from '../../../src/common/metrics/index.js';
import { limits } from '../../../src/common/limits.js';
import { metricFamiliesSchema, monitorMethods } from '../../../src/monitor/protocol/index.js';

describe('push schema', () => {
  it('accepts a real snapshot with process metrics and histograms', async () => {
    const registry = new MetricsRegistry({ node: '4', node_type: 'storage' });
    registry.collectProcessMetrics();
    registry.histogram(metricDefs.storageChunkOperationDuration).observe({ operation: 'write' }, 0.01);
    const families = await registry.snapshot();
    const request = {
      clusterId: 'c',
      node: { nodeId: 4, type: 'storage', hostname: 'h' },
      sentAtMs: Date.now(),
      families,
    };
    expect(monitorMethods.push.request.safeParse(request).success).toBe(true);
  });

  it('refuses too many labels, non-finite values and bad names', () => {
    const labels = Object.fromEntries(
      Array.from({ length: limits.monitorSnapshotLabelsMax + 1 }, (_, index) => [`l${index}`, 'v']),
    );
    const sample = (overrides: object) => [
      {
        name: 'threefs_x',
        help: 'h',
        type: 'gauge',
        samples: [{ name: 'threefs_x', labels: {}, value: 1, ...overrides }],
      },
    ];
    expect(metricFamiliesSchema.safeParse(sample({})).success).toBe(true);
    expect(metricFamiliesSchema.safeParse(sample({ labels })).success).toBe(false);
    expect(metricFamiliesSchema.safeParse(sample({ value: Number.POSITIVE_INFINITY })).success).toBe(false);
    expect(metricFamiliesSchema.safeParse(sample({ value: Number.NaN })).success).toBe(false);
    expect(metricFamiliesSchema.safeParse(sample({ name: 'bad name{}' })).success).toBe(false);
  });
});
