/**
 * Every metric of the system, with its stable name, help text, type and label names, in one table.
 * Names and labels cross into operators' dashboards and alert rules, so they are never renamed;
 * a new metric is appended to its component's part. Names follow Prometheus conventions: a
 * `threefs_` namespace, base units (seconds, bytes), `_total` on counters.
 *
 * Every process adds the labels `node` (its node id) and `node_type` to all of its samples (see
 * registry.ts), so no definition here repeats them. Other labels are bounded sets: RPC method
 * names, status-code names, operation names, target ids.
 */

/** Latency buckets in seconds: from half a millisecond (a cached lookup) to ten seconds (a timeout). */
export const latencyBucketsSeconds: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

export const MetricType = { Counter: 'counter', Gauge: 'gauge', Histogram: 'histogram' } as const;
export type MetricType = (typeof MetricType)[keyof typeof MetricType];

/** One metric's definition. `L` is the union of its label names. */
export interface MetricDef<T extends MetricType, L extends string> {
  readonly type: T;
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  /** Histogram bucket upper bounds; histograms only. */
  readonly buckets?: readonly number[];
}
export type CounterDef<L extends string> = MetricDef<'counter', L>;
export type GaugeDef<L extends string> = MetricDef<'gauge', L>;
export type HistogramDef<L extends string> = MetricDef<'histogram', L>;

function counter<const L extends string = never>(
  name: string,
  help: string,
  labelNames: readonly L[] = [],
): CounterDef<L> {
  return { type: MetricType.Counter, name, help, labelNames };
}

function gauge<const L extends string = never>(
  name: string,
  help: string,
  labelNames: readonly L[] = [],
): GaugeDef<L> {
  return { type: MetricType.Gauge, name, help, labelNames };
}

function histogram<const L extends string = never>(
  name: string,
  help: string,
  labelNames: readonly L[] = [],
  buckets: readonly number[] = latencyBucketsSeconds,
): HistogramDef<L> {
  return { type: MetricType.Histogram, name, help, labelNames, buckets };
}

/** The catalogue. Keys are for code; `name` is what operators see. */
export const metricDefs = {
  // --- RPC (every process): one observation per call, retries included, by method name.
  rpcServerCalls: counter('threefs_rpc_server_calls_total', 'RPC requests handled, by method.', ['method']),
  rpcServerErrors: counter(
    'threefs_rpc_server_errors_total',
    'RPC requests that failed, by method and status code name.',
    ['method', 'code'],
  ),
  rpcServerDuration: histogram(
    'threefs_rpc_server_call_duration_seconds',
    'Time from a request reaching its handler until the handler finished.',
    ['method'],
  ),
  rpcServerInflight: gauge(
    'threefs_rpc_server_inflight_calls',
    'Handlers running now, by method (the server-side queue depth).',
    ['method'],
  ),
  rpcServerPayloadBytes: counter(
    'threefs_rpc_server_payload_bytes_total',
    'Raw payload bytes of handled requests ("in") and of their replies ("out").',
    ['method', 'direction'],
  ),
  rpcClientCalls: counter('threefs_rpc_client_calls_total', 'RPC calls made, by method.', ['method']),
  rpcClientErrors: counter(
    'threefs_rpc_client_errors_total',
    'RPC calls that failed after their retries, by method and status code name.',
    ['method', 'code'],
  ),
  rpcClientDuration: histogram(
    'threefs_rpc_client_call_duration_seconds',
    'Time of a call from the caller, retries and backoff included.',
    ['method'],
  ),
  rpcClientInflight: gauge(
    'threefs_rpc_client_inflight_calls',
    'Calls waiting for their reply now, by method.',
    ['method'],
  ),
  rpcClientPayloadBytes: counter(
    'threefs_rpc_client_payload_bytes_total',
    'Raw payload bytes sent with calls ("out") and received with replies ("in").',
    ['method', 'direction'],
  ),

  // --- KV (mgmtd, meta): one observation per transaction function, its retries included.
  kvTransactions: counter(
    'threefs_kv_transactions_total',
    'KV transactions run, by engine and kind (read or write).',
    ['engine', 'kind'],
  ),
  kvTransactionErrors: counter(
    'threefs_kv_transaction_errors_total',
    'KV transactions that failed for good, by engine, kind and status code name.',
    ['engine', 'kind', 'code'],
  ),
  kvTransactionRetries: counter(
    'threefs_kv_transaction_retries_total',
    'Transaction attempts that failed with a retryable error (a conflict, a transaction too old, ' +
      'the engine briefly unavailable) and ran again.',
    ['engine', 'kind'],
  ),
  kvTransactionDuration: histogram(
    'threefs_kv_transaction_duration_seconds',
    'Time of a transaction function from its first attempt until its commit or final failure.',
    ['engine', 'kind'],
  ),
  kvTransactionsRunning: gauge(
    'threefs_kv_transactions_running',
    'Transactions started and not yet finished, queued ones included.',
    ['engine'],
  ),
  kvSyncs: counter(
    'threefs_kv_syncs_total',
    'Syncs that made committed transactions durable (fdatasync of the sqlite WAL under ' +
      'synchronous "interval" or "normal"), by engine and reason (interval, request, close).',
    ['engine', 'reason'],
  ),
  kvSyncDuration: histogram(
    'threefs_kv_sync_duration_seconds',
    'Time of one sync that made committed transactions durable.',
    ['engine'],
  ),

  // --- meta service.
  metaOperations: counter('threefs_meta_operations_total', 'Metadata operations served, by type.', [
    'operation',
  ]),
  metaOperationErrors: counter(
    'threefs_meta_operation_errors_total',
    'Metadata operations that failed, by type and status code name.',
    ['operation', 'code'],
  ),
  metaOperationDuration: histogram(
    'threefs_meta_operation_duration_seconds',
    'Time of a metadata operation, its KV transaction included.',
    ['operation'],
  ),

  // --- storage service.
  storageReadBytes: counter('threefs_storage_read_bytes_total', 'Chunk bytes read, by target.', ['target']),
  storageWrittenBytes: counter('threefs_storage_written_bytes_total', 'Chunk bytes written, by target.', [
    'target',
  ]),
  storageChunkOperations: counter(
    'threefs_storage_chunk_operations_total',
    'Chunk operations (read, write, commit, remove, truncate, recover), by target and operation.',
    ['target', 'operation'],
  ),
  storageChunkOperationErrors: counter(
    'threefs_storage_chunk_operation_errors_total',
    'Chunk operations (read, write, recover, sync) that failed, by target, operation and status code name.',
    ['target', 'operation', 'code'],
  ),
  storageChunkOperationDuration: histogram(
    'threefs_storage_chunk_operation_duration_seconds',
    'Time of a chunk operation on one target, forwarding along the chain included for writes.',
    ['operation'],
  ),
  storageTargetUsedBytes: gauge('threefs_storage_target_used_bytes', 'Disk bytes used by a target.', [
    'target',
  ]),
  storageTargetCapacityBytes: gauge(
    'threefs_storage_target_capacity_bytes',
    'Disk bytes a target may use in all.',
    ['target'],
  ),
  storageRecoveryChunks: counter(
    'threefs_storage_recovery_chunks_total',
    'Chunks copied to a returning target by recovery, by the receiving target.',
    ['target'],
  ),
  storageRecoveryBytes: counter(
    'threefs_storage_recovery_bytes_total',
    'Bytes copied to a returning target by recovery, by the receiving target.',
    ['target'],
  ),
  storageRecoveryRemainingChunks: gauge(
    'threefs_storage_recovery_remaining_chunks',
    'Chunks recovery still has to copy to a target.',
    ['target'],
  ),
  storageChecksumFailures: counter(
    'threefs_storage_checksum_failures_total',
    'Chunk reads on a target whose bytes on disk failed their checksum (the read fails; clients ' +
      'read another replica).',
    ['target'],
  ),
  storageTargetSyncs: counter(
    'threefs_storage_target_syncs_total',
    "Syncs of a target's chunk store to stable storage (a client's fsync; concurrent requests " +
      'share one), by target.',
    ['target'],
  ),

  // --- FUSE daemon.
  fuseOperations: counter('threefs_fuse_operations_total', 'FUSE requests answered, by operation.', [
    'operation',
  ]),
  fuseOperationErrors: counter(
    'threefs_fuse_operation_errors_total',
    'FUSE requests answered with an error, by operation and errno name.',
    ['operation', 'errno'],
  ),
  fuseOperationDuration: histogram(
    'threefs_fuse_operation_duration_seconds',
    'Time from a FUSE request arriving until it was answered.',
    ['operation'],
  ),
  fuseReadBytes: counter('threefs_fuse_read_bytes_total', 'Bytes returned to FUSE reads.'),
  fuseWrittenBytes: counter('threefs_fuse_written_bytes_total', 'Bytes accepted from FUSE writes.'),
  fuseFlushesAnswered: counter(
    'threefs_fuse_flushes_answered_total',
    'FLUSH requests (the close of a file nothing was written to, allocated, truncated or locked on) ' +
      'the FUSE binding answered without the daemon; threefs_fuse_operations_total counts the others.',
  ),
  fuseReaddirsAnswered: counter(
    'threefs_fuse_readdirs_answered_total',
    'READDIR requests the FUSE binding answered from a listing the daemon handed it (a directory ' +
      'whose names the daemon holds whole); threefs_fuse_operations_total counts the others.',
  ),

  fuseFastReads: counter(
    'threefs_fuse_fast_reads_total',
    'READ requests the FUSE binding sent to storage itself (fast reads), by outcome: answered, or ' +
      'handed_over to the daemon (a short read, an error, a lost connection); the others are in ' +
      'threefs_fuse_operations_total.',
    ['outcome'],
  ),

  // --- NFS gateway.
  nfsOperations: counter(
    'threefs_nfs_operations_total',
    'NFS and MOUNT operations answered (each operation of an NFSv4 COMPOUND counts), by protocol ' +
      'version ("3", "4", "mount") and operation.',
    ['version', 'operation'],
  ),
  nfsOperationErrors: counter(
    'threefs_nfs_operation_errors_total',
    'NFS and MOUNT operations answered with an error status, by version, operation and status name.',
    ['version', 'operation', 'status'],
  ),
  nfsOperationDuration: histogram(
    'threefs_nfs_operation_duration_seconds',
    'Time from an NFS or MOUNT operation starting until its result was ready.',
    ['version', 'operation'],
  ),
  nfsReadBytes: counter('threefs_nfs_read_bytes_total', 'Bytes returned to NFS READs.'),
  nfsWrittenBytes: counter('threefs_nfs_written_bytes_total', 'Bytes accepted from NFS WRITEs.'),
  nfsConnections: gauge('threefs_nfs_connections', 'Client connections open now.'),
  nfsConnectionsRefused: counter(
    'threefs_nfs_connections_refused_total',
    'Connections refused at accept, by reason ("address": no export allows the client; "limit").',
    ['reason'],
  ),
  nfsMalformedStreams: counter(
    'threefs_nfs_malformed_streams_total',
    'Connections closed because they broke record marking or sent an unreadable RPC header.',
  ),

  // --- S3 gateway.
  s3Requests: counter(
    'threefs_s3_requests_total',
    'S3 requests answered, by operation (ListObjectsV2, PutObject, …; "Unknown" before one was ' +
      'recognized) and HTTP status.',
    ['operation', 'status'],
  ),
  s3RequestErrors: counter(
    'threefs_s3_request_errors_total',
    'S3 requests answered with an error document, by operation and S3 error code.',
    ['operation', 'code'],
  ),
  s3RequestDuration: histogram(
    'threefs_s3_request_duration_seconds',
    'Time from an S3 request arriving until its reply was sent (bodies streamed in or out included).',
    ['operation'],
  ),
  s3ReceivedBytes: counter(
    'threefs_s3_received_bytes_total',
    'Object data bytes received in S3 request bodies.',
  ),
  s3SentBytes: counter('threefs_s3_sent_bytes_total', 'Object data bytes sent in S3 GET replies.'),
  s3ObjectCopies: counter(
    'threefs_s3_object_copies_total',
    'Objects CopyObject copied, by method: "clone" (copy on write inside the cluster, metadata ' +
      'time) or "bytes" (read and written through the gateway, where a clone did not apply).',
    ['method'],
  ),
  s3Connections: gauge('threefs_s3_connections', 'S3 client connections open now.'),

  // --- client library (in the FUSE daemon and the gateways).
  clientReadChecksumFailures: counter(
    'threefs_client_read_checksum_failures_total',
    'Chunk reads whose reply failed the checksum the storage target sent with it (bytes damaged ' +
      'on the way), by the target read from; the client reads another replica.',
    ['target'],
  ),

  // --- bounded queues anywhere (write buffers, lock waiters, recovery queues).
  queueDepth: gauge('threefs_queue_depth', 'Entries waiting in a bounded queue now, by queue name.', [
    'queue',
  ]),

  // --- mgmtd: the primary's view of the cluster (a standby reports no values).
  mgmtdPrimary: gauge('threefs_mgmtd_primary', '1 while this mgmtd is the primary, else 0.'),
  mgmtdRoutingVersion: gauge('threefs_mgmtd_routing_version', 'Version of the routing info served.'),
  mgmtdNodes: gauge('threefs_mgmtd_nodes', 'Nodes known to the primary, by type and status.', [
    'type',
    'status',
  ]),
  mgmtdTargets: gauge('threefs_mgmtd_targets', 'Targets known to the primary, by public state.', ['state']),
  mgmtdTargetState: gauge(
    'threefs_mgmtd_target_state',
    '1 for the public state each target is in (one series per target and state it is in now).',
    ['target', 'chain', 'state'],
  ),
  mgmtdChains: gauge(
    'threefs_mgmtd_chains',
    'Chains by health: "full" (every target serving), "degraded" (some), "unavailable" (none).',
    ['health'],
  ),
  mgmtdHeartbeats: counter('threefs_mgmtd_heartbeats_total', 'Heartbeats received, by node type.', ['type']),

  // --- metric pushing (every process that pushes to a collector).
  monitorPushes: counter('threefs_monitor_pushes_total', 'Metric snapshots the collector accepted.'),
  monitorPushDrops: counter(
    'threefs_monitor_push_drops_total',
    'Metric snapshots dropped instead of delivered, by reason (unreachable, timeout, rejected, busy).',
    ['reason'],
  ),
  monitorPushDuration: histogram(
    'threefs_monitor_push_duration_seconds',
    'Time of one push of a metric snapshot to the collector.',
  ),

  // --- monitor collector.
  collectorSnapshots: counter(
    'threefs_monitor_collector_snapshots_total',
    'Metric snapshots received from processes, by node type.',
    ['type'],
  ),
  collectorSamples: counter('threefs_monitor_collector_samples_total', 'Samples received in all.'),
  collectorSeries: gauge('threefs_monitor_collector_series', 'Series the collector keeps history for.'),
  collectorSeriesDropped: counter(
    'threefs_monitor_collector_series_dropped_total',
    'Samples of new series refused because the history holds its maximum of series.',
  ),
  collectorReportingNodes: gauge(
    'threefs_monitor_collector_reporting_nodes',
    'Processes whose latest snapshot is recent enough to be served.',
  ),
  collectorAlerts: gauge('threefs_monitor_collector_alerts', 'Alert conditions in force now, by kind.', [
    'kind',
  ]),
  clickhouseRows: counter('threefs_monitor_clickhouse_rows_total', 'Sample rows inserted into ClickHouse.'),
  clickhouseDroppedRows: counter(
    'threefs_monitor_clickhouse_dropped_rows_total',
    'Sample rows dropped instead of inserted into ClickHouse, by reason (overflow, insert_failed).',
    ['reason'],
  ),
} as const;
