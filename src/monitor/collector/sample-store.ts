/**
 * What the collector knows about every process that pushes: its latest snapshot (served as
 * Prometheus text while it is recent) and a bounded history of every series (for the JSON API and
 * the dashboard's charts).
 *
 * Bounds: one snapshot per node; at most `seriesMax` series of at most `historyPoints` points
 * each (samples of further series are dropped and counted); series silent for `seriesIdleMs` are
 * forgotten by `prune`. Histogram buckets are served in /metrics but kept out of history, which
 * keeps the `_sum` and `_count` series that mean latencies are computed from.
 */
import { assert } from '../../common/errors.js';
import type { MetricFamily, MetricSample } from '../../common/metrics/index.js';
import { SeriesRing, type Point } from './series-ring.js';

/** The latest snapshot of one process. */
export interface NodeReport {
  readonly nodeId: number;
  readonly nodeType: string;
  readonly hostname: string;
  /** The collector's clock when the snapshot arrived. */
  readonly receivedAtMs: number;
  /** The sender's clock when it took the snapshot. */
  readonly sentAtMs: number;
  readonly families: readonly MetricFamily[];
  /** Snapshots received from this node since the collector started. */
  readonly pushes: number;
}

/** One series' points, as the JSON API returns them. */
export interface SeriesData {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly points: Point[];
}

export interface SampleStoreOptions {
  readonly historyPoints: number;
  readonly seriesMax: number;
  readonly nodeStaleMs: number;
  readonly seriesIdleMs: number;
}

interface Series {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly ring: SeriesRing;
}

/** A stable key of a label set: sorted `name=value` pairs. */
export function labelKey(labels: Readonly<Record<string, string>>): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** True when every label in `match` has that value in `labels`. */
export function labelsMatch(
  labels: Readonly<Record<string, string>>,
  match: Readonly<Record<string, string>>,
): boolean {
  return Object.entries(match).every(([name, value]) => labels[name] === value);
}

export class SampleStore {
  private readonly reports = new Map<number, NodeReport>();
  /** Series by metric name, then by label key. */
  private readonly series = new Map<string, Map<string, Series>>();
  private seriesCount = 0;

  constructor(private readonly options: SampleStoreOptions) {
    assert(options.historyPoints >= 2, 'history keeps at least two points');
    assert(options.seriesMax >= 1, 'history keeps at least one series');
  }

  /**
   * Takes a node's snapshot: it replaces the node's previous one, and its samples join history at
   * `receivedAtMs`. The `node` and `node_type` labels are set from the (authenticated) sender, so
   * every process's series stay apart. Returns the samples taken and those refused for the bound.
   */
  ingest(report: Omit<NodeReport, 'pushes'>): { samples: number; droppedSamples: number } {
    const identity = { node: String(report.nodeId), node_type: report.nodeType };
    const families = report.families.map((family) => ({
      ...family,
      samples: family.samples.map((sample) => ({ ...sample, labels: { ...sample.labels, ...identity } })),
    }));
    const previous = this.reports.get(report.nodeId);
    this.reports.set(report.nodeId, { ...report, families, pushes: (previous?.pushes ?? 0) + 1 });
    let samples = 0;
    let droppedSamples = 0;
    for (const family of families) {
      for (const sample of family.samples) {
        if (family.type === 'histogram' && sample.name.endsWith('_bucket')) continue;
        samples += 1;
        if (!this.record(sample, report.receivedAtMs)) droppedSamples += 1;
      }
    }
    return { samples, droppedSamples };
  }

  private record(sample: MetricSample, timeMs: number): boolean {
    let byLabels = this.series.get(sample.name);
    const key = labelKey(sample.labels);
    let series = byLabels?.get(key);
    if (series === undefined) {
      if (this.seriesCount >= this.options.seriesMax) return false;
      if (byLabels === undefined) {
        byLabels = new Map();
        this.series.set(sample.name, byLabels);
      }
      series = { name: sample.name, labels: sample.labels, ring: new SeriesRing(this.options.historyPoints) };
      byLabels.set(key, series);
      this.seriesCount += 1;
    }
    series.ring.push(timeMs, sample.value);
    return true;
  }

  /** Series kept now. */
  get size(): number {
    return this.seriesCount;
  }

  /** Every node's latest report, recent or not. */
  allReports(): NodeReport[] {
    return [...this.reports.values()].sort((a, b) => a.nodeId - b.nodeId);
  }

  /** Reports recent enough to be served as current values. */
  liveReports(nowMs: number): NodeReport[] {
    return this.allReports().filter((report) => nowMs - report.receivedAtMs <= this.options.nodeStaleMs);
  }

  /** Names of every series with history, sorted. */
  names(): string[] {
    return [...this.series.keys()].sort();
  }

  /** The series named `name` whose labels include `match`, with their points since `sinceMs`. */
  query(options: {
    name: string;
    sinceMs: number;
    match?: Readonly<Record<string, string>>;
    pointsMax: number;
  }): SeriesData[] {
    const byLabels = this.series.get(options.name);
    if (byLabels === undefined) return [];
    const result: SeriesData[] = [];
    for (const series of byLabels.values()) {
      if (options.match !== undefined && !labelsMatch(series.labels, options.match)) continue;
      result.push({
        name: series.name,
        labels: series.labels,
        points: series.ring.points(options.sinceMs, options.pointsMax),
      });
    }
    return result;
  }

  /** Forgets series without a point for seriesIdleMs and reports of nodes silent as long. Returns series removed. */
  prune(nowMs: number): number {
    let removed = 0;
    for (const [name, byLabels] of this.series) {
      for (const [key, series] of byLabels) {
        if (nowMs - series.ring.lastTimeMs() <= this.options.seriesIdleMs) continue;
        byLabels.delete(key);
        removed += 1;
      }
      if (byLabels.size === 0) this.series.delete(name);
    }
    this.seriesCount -= removed;
    for (const [nodeId, report] of this.reports) {
      if (nowMs - report.receivedAtMs > this.options.seriesIdleMs) this.reports.delete(nodeId);
    }
    return removed;
  }
}
