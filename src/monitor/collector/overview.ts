/**
 * The dashboard's charts: cluster-wide operations per second, bytes per second and mean latencies
 * over a recent window, each line computed from the history of one metric of the catalogue.
 * Lines of components that do not run (no history) come out all null and the page leaves them out.
 */
import { metricDefs } from '../../common/metrics/index.js';
import { gridTimes, meanFromHistogram, summedRate, timeGrid } from './derived-series.js';
import type { SampleStore } from './sample-store.js';

type LineSpec =
  | { label: string; kind: 'rate'; name: string; match?: Record<string, string> }
  | { label: string; kind: 'mean'; histogram: string };

interface ChartSpec {
  id: string;
  title: string;
  unit: string;
  lines: LineSpec[];
}

const chartSpecs: ChartSpec[] = [
  {
    id: 'operations',
    title: 'Operations per second',
    unit: 'ops/s',
    lines: [
      { label: 'RPC requests', kind: 'rate', name: metricDefs.rpcServerCalls.name },
      { label: 'RPC errors', kind: 'rate', name: metricDefs.rpcServerErrors.name },
      { label: 'meta operations', kind: 'rate', name: metricDefs.metaOperations.name },
      { label: 'chunk operations', kind: 'rate', name: metricDefs.storageChunkOperations.name },
      { label: 'FUSE operations', kind: 'rate', name: metricDefs.fuseOperations.name },
      { label: 'KV transactions', kind: 'rate', name: metricDefs.kvTransactions.name },
    ],
  },
  {
    id: 'throughput',
    title: 'Throughput',
    unit: 'bytes/s',
    lines: [
      { label: 'storage read', kind: 'rate', name: metricDefs.storageReadBytes.name },
      { label: 'storage written', kind: 'rate', name: metricDefs.storageWrittenBytes.name },
      {
        label: 'RPC payload in',
        kind: 'rate',
        name: metricDefs.rpcServerPayloadBytes.name,
        match: { direction: 'in' },
      },
      {
        label: 'RPC payload out',
        kind: 'rate',
        name: metricDefs.rpcServerPayloadBytes.name,
        match: { direction: 'out' },
      },
    ],
  },
  {
    id: 'latency',
    title: 'Mean latency',
    unit: 'ms',
    lines: [
      { label: 'RPC requests', kind: 'mean', histogram: metricDefs.rpcServerDuration.name },
      { label: 'meta operations', kind: 'mean', histogram: metricDefs.metaOperationDuration.name },
      { label: 'chunk operations', kind: 'mean', histogram: metricDefs.storageChunkOperationDuration.name },
      { label: 'FUSE operations', kind: 'mean', histogram: metricDefs.fuseOperationDuration.name },
      { label: 'KV transactions', kind: 'mean', histogram: metricDefs.kvTransactionDuration.name },
    ],
  },
];

export interface ChartLine {
  readonly label: string;
  readonly values: (number | null)[];
}

export interface Chart {
  readonly id: string;
  readonly title: string;
  readonly unit: string;
  /** Bucket start times in milliseconds. */
  readonly times: number[];
  readonly lines: ChartLine[];
}

/** The charts over `windowMs` up to `nowMs`, in buckets of `stepMs`. */
export function overviewCharts(
  store: SampleStore,
  options: { nowMs: number; windowMs: number; stepMs: number; pointsMax: number },
): Chart[] {
  const sinceMs = options.nowMs - options.windowMs;
  const grid = timeGrid(sinceMs, options.nowMs, options.stepMs);
  // One point before the window, so the first bucket has an increase to show.
  const querySinceMs = sinceMs - options.stepMs;
  const query = (name: string, match?: Record<string, string>) =>
    store.query({
      name,
      sinceMs: querySinceMs,
      pointsMax: options.pointsMax,
      ...(match === undefined ? {} : { match }),
    });
  return chartSpecs.map((spec) => ({
    id: spec.id,
    title: spec.title,
    unit: spec.unit,
    times: gridTimes(grid),
    lines: spec.lines.map((line) => ({
      label: line.label,
      values:
        line.kind === 'rate'
          ? summedRate(query(line.name, line.match), grid)
          : meanFromHistogram(query(`${line.histogram}_sum`), query(`${line.histogram}_count`), grid, 1000),
    })),
  }));
}
