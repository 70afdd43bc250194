/**
 * The monitor component (DESIGN §11): the collector (monitor_collector_main), and the metrics
 * side every service binary wires in through createServiceMetrics.
 */
export { collectorConfigSchema, type CollectorConfig, type ClickhouseSection } from './config.js';
export { CollectorServer, type CollectorServerOptions } from './collector/collector-server.js';
export { ClickhouseWriter, httpClickhouseInsert } from './collector/clickhouse-writer.js';
export { createServiceMetrics, ServiceMetrics, type ServiceMetricsOptions } from './reporter.js';
export * from './protocol/index.js';
