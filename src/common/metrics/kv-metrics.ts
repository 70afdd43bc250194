/**
 * KV metrics: an observer for the KV layer's observed engine (kv's `observeKvEngine`) that counts
 * transactions, their retries and failures, and times them, by engine and kind, and counts and
 * times the engine's syncs (given to the engine as its `syncObserver`). It matches the KV layer's
 * observer interfaces by shape, so common/ needs no import from kv/.
 */
import { statusName } from '../status-code.js';
import { metricDefs } from './catalog.js';
import { seriesByKey, type MetricsRegistry } from './registry.js';

/** One finished transaction function, as the KV layer reports it. */
export interface KvTransactionEventShape {
  readonly engine: string;
  readonly kind: 'read' | 'write';
  /** Times the transaction function ran; more than one means retries. */
  readonly attempts: number;
  readonly durationMs: number;
  /** 0 when it committed, else the status code it failed with. */
  readonly status: number;
}

/** One sync that made committed transactions durable, as the KV layer reports it. */
export interface KvSyncEventShape {
  readonly engine: string;
  readonly reason: 'interval' | 'request' | 'close';
  readonly durationMs: number;
}

/** The observer the KV layer calls. */
export interface KvObserverShape {
  transactionStarted(engine: string): void;
  transactionFinished(event: KvTransactionEventShape): void;
  syncFinished(event: KvSyncEventShape): void;
}

/** An observer recording KV transactions into `registry`. */
export function kvMetricsObserver(registry: MetricsRegistry): KvObserverShape {
  const errors = registry.counter(metricDefs.kvTransactionErrors);
  const retries = registry.counter(metricDefs.kvTransactionRetries);
  const syncs = registry.counter(metricDefs.kvSyncs);
  const syncDuration = registry.histogram(metricDefs.kvSyncDuration);
  // Every transaction records through series bound once per engine and kind (see registry.ts).
  const running = seriesByKey((engine) => registry.gaugeSeries(metricDefs.kvTransactionsRunning, { engine }));
  const seriesOf = seriesByKey((key) => {
    const [engine = '', kind = ''] = key.split('/');
    const labels = { engine, kind };
    return {
      count: registry.counterSeries(metricDefs.kvTransactions, labels),
      duration: registry.histogramSeries(metricDefs.kvTransactionDuration, labels),
    };
  });
  return {
    transactionStarted(engine) {
      running(engine).add(1);
    },
    transactionFinished(event) {
      const labels = { engine: event.engine, kind: event.kind };
      running(event.engine).add(-1);
      const series = seriesOf(`${event.engine}/${event.kind}`);
      series.count.add(1);
      if (event.attempts > 1) retries.inc(labels, event.attempts - 1);
      if (event.status !== 0) errors.inc({ ...labels, code: statusName(event.status) });
      series.duration.observe(event.durationMs / 1000);
    },
    syncFinished(event) {
      syncs.inc({ engine: event.engine, reason: event.reason });
      syncDuration.observe({ engine: event.engine }, event.durationMs / 1000);
    },
  };
}
