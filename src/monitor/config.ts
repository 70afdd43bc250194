/**
 * The TOML configuration of monitor_collector_main.
 *
 *   [node]                      # the collector is a cluster node; pushes arrive on node.listen (RPC)
 *   id = 90
 *   listen = "0.0.0.0:9100"
 *   [cluster]
 *   id = "prod"
 *   secret_file = "/run/keys/3fs-cluster-secret"
 *   [mgmtd]                     # optional: without it the dashboard shows pushing processes only
 *   addresses = ["10.0.0.1:8000"]
 *   [collector]
 *   http_listen = "0.0.0.0:9101"   # dashboard at /, Prometheus text at /metrics, JSON at /api/*
 *   [collector.clickhouse]         # optional: every sample is also inserted into ClickHouse
 *   url = "http://10.0.0.9:8123"
 */
import { z } from 'zod';
import {
  addressSchema,
  clusterSectionSchema,
  logSectionSchema,
  mgmtdClientSectionSchema,
  nodeSectionSchema,
} from '../common/config.js';
import { limits } from '../common/limits.js';

const positiveMs = z
  .number()
  .int()
  .min(1)
  .max(24 * 3_600_000);

/** `[collector.clickhouse]`: where samples are inserted, over ClickHouse's HTTP interface. */
export const clickhouseSectionSchema = z.strictObject({
  /** Base URL of the HTTP interface, e.g. "http://clickhouse:8123". */
  url: z.url({ protocol: /^https?$/ }),
  database: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/)
    .default('threefs'),
  table: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/)
    .default('samples'),
  user: z.string().max(128).optional(),
  /** File holding the password (never in the config itself). */
  password_file: z.string().min(1).optional(),
  batch_rows: z
    .number()
    .int()
    .min(1)
    .max(limits.monitorClickhouseBufferedRowsMax)
    .default(limits.monitorClickhouseBatchRowsDefault),
  flush_interval_ms: positiveMs.default(limits.monitorClickhouseFlushMsDefault),
  timeout_ms: positiveMs.default(limits.monitorClickhouseTimeoutMsDefault),
});
export type ClickhouseSection = z.output<typeof clickhouseSectionSchema>;

export const collectorConfigSchema = z.strictObject({
  node: nodeSectionSchema,
  cluster: clusterSectionSchema,
  mgmtd: mgmtdClientSectionSchema.optional(),
  collector: z.strictObject({
    /** Dashboard, /metrics and the JSON API; port 0 picks a free port (tests). */
    http_listen: addressSchema,
    history_points: z.number().int().min(2).max(100_000).default(limits.monitorHistoryPointsDefault),
    series_max: z.number().int().min(1).max(1_000_000).default(limits.monitorHistorySeriesMaxDefault),
    node_stale_ms: positiveMs.default(limits.monitorNodeStaleMsDefault),
    series_idle_ms: positiveMs.default(limits.monitorSeriesIdleMsDefault),
    /** How often the collector samples its own metrics into history. */
    self_interval_ms: positiveMs.default(limits.monitorPushIntervalMsDefault),
    routing_refresh_ms: positiveMs.default(limits.monitorRoutingRefreshMsDefault),
    clickhouse: clickhouseSectionSchema.optional(),
  }),
  log: logSectionSchema.prefault({}),
});
export type CollectorConfig = z.output<typeof collectorConfigSchema>;
