/**
 * The whole cluster as one Prometheus text exposition: the latest snapshot of every process,
 * merged with prom-client's aggregator. Every sample already carries its process's `node` label,
 * so merging is a union (the `sum` aggregator never meets two equal label sets of two processes).
 */
import { AggregatorRegistry } from 'prom-client';
import type { MetricFamily } from '../../common/metrics/index.js';

/** Renders `snapshots` (one list of families per process) as Prometheus text. */
export async function clusterExposition(
  snapshots: readonly (readonly MetricFamily[])[],
): Promise<{ text: string; contentType: string }> {
  const asJson = snapshots.map((families) =>
    families.map((family) => ({
      name: family.name,
      help: family.help,
      type: family.type,
      aggregator: 'sum',
      values: family.samples.map((sample) => ({
        value: sample.value,
        labels: { ...sample.labels },
        metricName: sample.name,
      })),
    })),
  );
  const registry = AggregatorRegistry.aggregate(asJson);
  return { text: await registry.metrics(), contentType: registry.contentType };
}
