/**
 * Metrics of every process (DESIGN §11): the catalogue of stable metric names, the per-process
 * registry (prom-client underneath), the `[monitor]` config section, the process's own /metrics
 * endpoint, the bounded pusher to the collector, observers for the RPC and KV layers, and the depths
 * of bounded queues.
 */
export { latencyBucketsSeconds, metricDefs, MetricType } from './catalog.js';
export type { CounterDef, GaugeDef, HistogramDef, MetricDef } from './catalog.js';
export {
  MetricsRegistry,
  seriesByKey,
  type CountSeries,
  type ObserveSeries,
  type ProcessLabels,
} from './registry.js';
export {
  metricFamilyTypes,
  sampleCount,
  toMetricFamilies,
  type MetricFamily,
  type MetricFamilyType,
  type MetricSample,
} from './snapshot.js';
export { monitorSectionSchema, type MonitorSection } from './config.js';
export { listenOn, startMetricsEndpoint, type MetricsEndpoint } from './metrics-http.js';
export {
  MetricsPusher,
  PushDropReason,
  dropReasonOf,
  type MetricsPusherOptions,
  type SnapshotSender,
} from './pusher.js';
export {
  combineObservers,
  metaOperationsObserver,
  rpcMetricsObserver,
  type RpcCallEventShape,
  type RpcObserverShape,
} from './rpc-metrics.js';
export { reportQueueDepth } from './queue-depth.js';
export {
  kvMetricsObserver,
  type KvObserverShape,
  type KvSyncEventShape,
  type KvTransactionEventShape,
} from './kv-metrics.js';
