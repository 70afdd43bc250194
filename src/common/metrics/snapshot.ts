/**
 * Metric snapshots as plain data: what a process pushes to the collector and what the collector
 * keeps. Label values are strings and sample values finite numbers, so a snapshot survives any
 * codec; a histogram is its `_bucket` (with `le`), `_sum` and `_count` samples, as in the
 * Prometheus text format.
 */

export const metricFamilyTypes = ['counter', 'gauge', 'histogram', 'summary'] as const;
export type MetricFamilyType = (typeof metricFamilyTypes)[number];

/** One sample: a series name (the family's, or one of its `_bucket`/`_sum`/`_count`), labels, value. */
export interface MetricSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** One metric family with every sample it has now. */
export interface MetricFamily {
  readonly name: string;
  readonly help: string;
  readonly type: MetricFamilyType;
  readonly samples: readonly MetricSample[];
}

/** The shape prom-client's `getMetricsAsJSON` yields, as far as it is read here. */
interface PromJsonMetric {
  readonly name: string;
  readonly help: string;
  readonly type: unknown;
  readonly values?: readonly {
    readonly value: number;
    readonly labels: Readonly<Record<string, string | number | undefined>>;
    readonly metricName?: string;
  }[];
}

function familyType(type: unknown): MetricFamilyType {
  const name = String(type);
  return (metricFamilyTypes as readonly string[]).includes(name) ? (name as MetricFamilyType) : 'gauge';
}

/**
 * Converts prom-client's JSON form into snapshot families. Samples whose value is not finite (a
 * gauge never set reads NaN) are left out: they carry no information and most codecs refuse them.
 */
export function toMetricFamilies(metrics: readonly PromJsonMetric[]): MetricFamily[] {
  return metrics.map((metric) => ({
    name: metric.name,
    help: metric.help,
    type: familyType(metric.type),
    samples: (metric.values ?? [])
      .filter((value) => Number.isFinite(value.value))
      .map((value) => ({
        name: value.metricName ?? metric.name,
        labels: stringLabels(value.labels),
        value: value.value,
      })),
  }));
}

function stringLabels(labels: Readonly<Record<string, string | number | undefined>>): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(labels)) {
    if (value !== undefined) result[name] = String(value);
  }
  return result;
}

/** Samples in a snapshot, for bounds and accounting. */
export function sampleCount(families: readonly MetricFamily[]): number {
  let count = 0;
  for (const family of families) count += family.samples.length;
  return count;
}
