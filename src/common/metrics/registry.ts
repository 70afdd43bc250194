/**
 * A process's metrics: one prom-client registry (never prom-client's global one) whose every
 * sample carries the process's `node` and `node_type` labels. Instruments are created from the
 * catalogue's definitions only, so names, help and labels stay as catalogue.ts fixes them;
 * creating the same definition twice returns the same instrument, so independent parts of a
 * process (the RPC server and client, say) can share one registry.
 *
 * Hot paths (every RPC call, FUSE request and chunk read) record through series instead: a series
 * is one label set of an instrument, bound once, that adds up in plain numbers and hands what it
 * gathered to prom-client when the metric is read (a scrape or a push) or, for a histogram, when
 * its batch of observations is full. prom-client hashes and validates the labels on every call;
 * a series pays that once per batch, so a request costs a few additions.
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

/** Observations a histogram series gathers before it hands them to prom-client. */
const observationBatch = 256;

/** One label set of a counter or gauge, added to in plain numbers. */
export interface CountSeries {
  /** Adds `amount` (1 when absent; a gauge's may be negative). */
  add(amount?: number): void;
}

/** One label set of a histogram. */
export interface ObserveSeries {
  /** Records one observation; a value that is not a finite number throws, as prom-client's does. */
  observe(value: number): void;
}

/**
 * `make(key)` for each key, made on its first use and kept: how a hot path finds its series by a
 * label value (RPC methods, operations: a small, fixed set per process).
 */
export function seriesByKey<V>(make: (key: string) => V): (key: string) => V {
  const made = new Map<string, V>();
  return (key) => {
    let value = made.get(key);
    if (value === undefined) {
      value = make(key);
      made.set(key, value);
    }
    return value;
  };
}

/**
 * A count gathered since the last flush, added to its instrument by `flush`. A gauge's series is
 * shown from its first flush, at 0 too (calls in flight); a counter's from its first increment.
 */
class PendingCount implements CountSeries {
  private pending = 0;
  private shown: boolean;

  constructor(
    private readonly apply: (amount: number) => void,
    showZero: boolean,
  ) {
    this.shown = !showZero;
  }

  add(amount = 1): void {
    this.pending += amount;
  }

  flush(): void {
    if (this.pending === 0 && this.shown) return;
    this.shown = true;
    const amount = this.pending;
    this.pending = 0;
    this.apply(amount);
  }
}

/** Observations gathered since the last flush, observed by their histogram in one loop. */
class PendingObservations implements ObserveSeries {
  private readonly values = new Float64Array(observationBatch);
  private count = 0;

  constructor(private readonly apply: (value: number) => void) {}

  observe(value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    this.values[this.count++] = value;
    if (this.count === observationBatch) this.flush();
  }

  flush(): void {
    const count = this.count;
    this.count = 0;
    for (let index = 0; index < count; index++) this.apply(this.values[index]!);
  }
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
  /** The series of each instrument (by metric name), flushed when it is read. */
  private readonly series = new Map<string, { flush(): void }[]>();
  /** Counters read from counts kept elsewhere: they reset on read, so they take no series. */
  private readonly collectedCounters = new Set<string>();
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
      if (collect === undefined) return new Counter<L>({ ...config, collect: () => this.flush(def.name) });
      this.collectedCounters.add(def.name);
      return new Counter<L>({
        ...config,
        collect(this: Counter<L>) {
          this.reset();
          collect((labels, total) => this.inc(labels, total));
        },
      });
    });
  }

  /** The series `labels` of the counter of `def` (see the file comment). */
  counterSeries<L extends string>(
    def: CounterDef<L>,
    labels: Partial<Record<L, string | number>>,
  ): CountSeries {
    assert(!this.collectedCounters.has(def.name), `${def.name} is read from counts kept elsewhere`);
    const bound = this.counter(def).labels(labels);
    return this.addSeries(def.name, new PendingCount((amount) => bound.inc(amount), false));
  }

  /** The series `labels` of the gauge of `def`, which only series move (see the file comment). */
  gaugeSeries<L extends string>(def: GaugeDef<L>, labels: Partial<Record<L, string | number>>): CountSeries {
    const bound = this.gauge(def).labels(labels);
    return this.addSeries(def.name, new PendingCount((amount) => bound.inc(amount), true));
  }

  /** The series `labels` of the histogram of `def` (see the file comment). */
  histogramSeries<L extends string>(
    def: HistogramDef<L>,
    labels: Partial<Record<L, string | number>>,
  ): ObserveSeries {
    const bound = this.histogram(def).labels(labels);
    return this.addSeries(def.name, new PendingObservations((value) => bound.observe(value)));
  }

  /**
   * The gauge of `def`. With `collect`, the gauge is computed when read (scrape or push): the
   * function sets its values from the state it describes, so nothing has to keep it up to date.
   */
  gauge<L extends string>(def: GaugeDef<L>, collect?: (gauge: Gauge<L>) => void): Gauge<L> {
    const flush = (): void => this.flush(def.name);
    return this.instrument(def, () => {
      const config = this.config(def);
      return new Gauge<L>({
        ...config,
        collect(this: Gauge<L>) {
          collect?.(this);
          flush();
        },
      });
    });
  }

  /** The histogram of `def`, with the catalogue's buckets. */
  histogram<L extends string>(def: HistogramDef<L>): Histogram<L> {
    assert(def.buckets !== undefined && def.buckets.length > 0, `${def.name} has buckets`);
    const buckets = [...def.buckets];
    return this.instrument(
      def,
      () => new Histogram<L>({ ...this.config(def), buckets, collect: () => this.flush(def.name) }),
    );
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

  private addSeries<S extends { flush(): void }>(name: string, created: S): S {
    const list = this.series.get(name);
    if (list === undefined) this.series.set(name, [created]);
    else list.push(created);
    return created;
  }

  /** Hands every series of the metric `name` to prom-client. */
  private flush(name: string): void {
    for (const series of this.series.get(name) ?? []) series.flush();
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
