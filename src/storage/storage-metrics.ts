/**
 * The storage service's metrics (common/metrics/catalog.ts, storage part), read from the per-target
 * counters, recovery tallies, lock queues and disk usage the service keeps anyway and from the
 * recoveries it drives, when the registry is read (scrape or push): nothing on the I/O path updates
 * them. The errors and latencies of chunk operations are the exception (chunk-operation-metrics.ts).
 */
import { metricDefs, reportQueueDepth, type MetricsRegistry } from '../common/metrics/index.js';
import type { RecoveryProgress, TargetCounters } from './protocol/index.js';
import type { DiskUsage } from './store/chunk-store.js';

/** What a storage process reports about itself. */
export interface StorageStats {
  readonly targets: ReadonlyArray<{
    readonly targetId: number;
    readonly counters: TargetCounters;
    /** Chunks and bytes recovery copied to the target while it was syncing. */
    readonly recovered: { readonly chunks: number; readonly bytes: number };
    readonly usage: DiskUsage;
    /** Writes waiting for one of the target's chunk locks now. */
    readonly lockWaiters: number;
  }>;
  readonly recoveries: readonly RecoveryProgress[];
}

/** Registers the storage metrics on `registry`, computed from `stats()` whenever they are read. */
export function registerStorageMetrics(registry: MetricsRegistry, stats: () => StorageStats): void {
  registry.counter(metricDefs.storageReadBytes, (set) => {
    for (const { targetId, counters } of stats().targets) set({ target: targetId }, counters.bytesRead);
  });
  registry.counter(metricDefs.storageWrittenBytes, (set) => {
    for (const { targetId, counters } of stats().targets) set({ target: targetId }, counters.bytesWritten);
  });
  registry.counter(metricDefs.storageChunkOperations, (set) => {
    for (const { targetId, counters } of stats().targets) {
      set({ target: targetId, operation: 'read' }, counters.reads);
      // Writes a client sent to this target as head, and those forwarded to it along the chain.
      set({ target: targetId, operation: 'write' }, counters.clientWrites + counters.forwardedWrites);
    }
  });
  registry.gauge(metricDefs.storageTargetUsedBytes, (gauge) => {
    gauge.reset();
    for (const { targetId, usage } of stats().targets) gauge.set({ target: targetId }, usage.usedBytes);
  });
  registry.gauge(metricDefs.storageTargetCapacityBytes, (gauge) => {
    gauge.reset();
    for (const { targetId, usage } of stats().targets) gauge.set({ target: targetId }, usage.capacityBytes);
  });
  registry.counter(metricDefs.storageChecksumFailures, (set) => {
    for (const { targetId, counters } of stats().targets)
      set({ target: targetId }, counters.checksumFailures);
  });
  registry.counter(metricDefs.storageTargetSyncs, (set) => {
    for (const { targetId, counters } of stats().targets) set({ target: targetId }, counters.syncs);
  });
  registry.counter(metricDefs.storageRecoveryChunks, (set) => {
    for (const { targetId, recovered } of stats().targets) set({ target: targetId }, recovered.chunks);
  });
  registry.counter(metricDefs.storageRecoveryBytes, (set) => {
    for (const { targetId, recovered } of stats().targets) set({ target: targetId }, recovered.bytes);
  });
  reportQueueDepth(registry, 'storage_chunk_lock_waiters', () =>
    stats().targets.reduce((waiting, target) => waiting + target.lockWaiters, 0),
  );
  registry.gauge(metricDefs.storageRecoveryRemainingChunks, (gauge) => {
    gauge.reset();
    for (const recovery of stats().recoveries) {
      if (recovery.phase !== 'planning' && recovery.phase !== 'copying') continue;
      gauge.set({ target: recovery.targetId }, Math.max(0, recovery.chunksTotal - recovery.chunksDone));
    }
  });
}
