/**
 * A process's metrics: one prom-client registry (never prom-client's global one) whose every
 * sample carries the process's `node` and `node_type` labels. Instruments are created from the
 * catalogue's definitions only, so names, help and labels stay as catalogue.ts fixes them;
 * creating the same definition twice returns the same instrument, so independent parts of a
 * process (the RPC server and client, say) can share one registry.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { assert } from '../errors.js';
import type { CounterDef, GaugeDef, HistogramDef, MetricDef, MetricType } from './catalog.js';
import { toMetricFamilies, type MetricFamily } from './snapshot.js';

/** The labels every sample of a process carries. */
export interface ProcessLabels {
  /** The node id, as a decimal string. */
  readonly node: string;
  /** mgmtd, meta, storage, fuse, monitor, client. */
  readonly node_type: string;
}

const namePattern = /^threefs_[a-z][a-z0-9_]*$/;
const labelPattern = /^[a-z][a-z0-9_]*$/;
const reservedLabels: ReadonlySet<string> = new Set(['node', 'node_type', 'le', 'quantile']);

/** Precision of the event-loop delay histogram behind the nodejs_eventloop_lag_* gauges. */
const eventLoopResolutionMs = 10;

/** A process's metric registry; see the file comment. */
export class MetricsRegistry {
  /** The underlying prom-client registry, for exposition. */
  readonly prometheus = new Registry();
  private readonly instruments = new Map<string, { def: MetricDef<MetricType, string>; metric: unknown }>();
  private processMetricsOn = false;

  constructor(readonly labels: ProcessLabels) {
    assert(/^[0-9]+$/.test(labels.node), 'the node label is a node id');
    assert(labelPattern.test(labels.node_type), 'the node_type label is a lower-case word');
    this.prometheus.setDefaultLabels({ node: labels.node, node_type: labels.node_type });
  }

  /**
   * The counter of `def`. With `collect`, the counter is read from a monotonic count kept
   * elsewhere (per-target counters of the storage service, say) when read: `collect` reports each
   * series' current total through `set`.
   */
  counter<L extends string>(
    def: CounterDef<L>,
    collect?: (set: (labels: Partial<Record<L, string | number>>, total: number) => void) => void,
  ): Counter<L> {
    return this.instrument(def, () => {
      const config = this.config(def);
      if (collect === undefined) return new Counter<L>(config);
      return new Counter<L>({
        ...config,
        collect(this: Counter<L>) {
          this.reset();
          collect((labels, total) => this.inc(labels, total));
        },
      });
    });
  }

  /**
   * The gauge of `def`. With `collect`, the gauge is computed when read (scrape or push): the
   * function sets its values from the state it describes, so nothing has to keep it up to date.
   */
  gauge<L extends string>(def: GaugeDef<L>, collect?: (gauge: Gauge<L>) => void): Gauge<L> {
    return this.instrument(def, () => {
      const config = this.config(def);
      if (collect === undefined) return new Gauge<L>(config);
      return new Gauge<L>({
        ...config,
        collect(this: Gauge<L>) {
          collect(this);
        },
      });
    });
  }

  /** The histogram of `def`, with the catalogue's buckets. */
  histogram<L extends string>(def: HistogramDef<L>): Histogram<L> {
    assert(def.buckets !== undefined && def.buckets.length > 0, `${def.name} has buckets`);
    const buckets = [...def.buckets];
    return this.instrument(def, () => new Histogram<L>({ ...this.config(def), buckets }));
  }

  /**
   * Turns on the process metrics every Node process has under their standard names: CPU time,
   * resident and heap memory, open file descriptors, GC pauses, and event-loop delay (measured with
   * perf_hooks.monitorEventLoopDelay; each read reports the window since the previous read).
   */
  collectProcessMetrics(): void {
    if (this.processMetricsOn) return;
    this.processMetricsOn = true;
    collectDefaultMetrics({ register: this.prometheus, eventLoopMonitoringPrecision: eventLoopResolutionMs });
  }

  /** Prometheus text exposition of every metric. */
  text(): Promise<string> {
    return this.prometheus.metrics();
  }

  /** The content type of `text()`. */
  get contentType(): string {
    return this.prometheus.contentType;
  }

  /** Every metric's current values as plain data, the form pushed to the collector. */
  async snapshot(): Promise<MetricFamily[]> {
    return toMetricFamilies(await this.prometheus.getMetricsAsJSON());
  }

  private config<L extends string>(def: MetricDef<MetricType, L>) {
    return {
      name: def.name,
      help: def.help,
      labelNames: [...def.labelNames],
      registers: [this.prometheus],
    };
  }

  private instrument<T>(def: MetricDef<MetricType, string>, create: () => T): T {
    const existing = this.instruments.get(def.name);
    if (existing !== undefined) {
      assert(existing.def === def, `metric ${def.name} is defined once, in the catalogue`);
      return existing.metric as T;
    }
    assert(namePattern.test(def.name), `metric name ${def.name} is threefs_ and lower-case words`);
    for (const label of def.labelNames) {
      assert(labelPattern.test(label), `label ${label} of ${def.name} is a lower-case word`);
      assert(!reservedLabels.has(label), `label ${label} of ${def.name} is not reserved`);
    }
    const metric = create();
    this.instruments.set(def.name, { def, metric });
    return metric;
  }
}
