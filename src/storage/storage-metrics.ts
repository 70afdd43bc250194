/**
 * The storage service's metrics (common/metrics/catalog.ts, storage part), read from the per-target
 * counters and disk usage the service keeps anyway and from the recoveries it drives, when the
 * registry is read (scrape or push): nothing on the I/O path updates them.
 */
import { metricDefs, type MetricsRegistry } from '../common/metrics/index.js';
import type { RecoveryProgress, TargetCounters } from './protocol/index.js';
import type { DiskUsage } from './store/chunk-store.js';

/** What a storage process reports about itself. */
export interface StorageStats {
  readonly targets: ReadonlyArray<{
    readonly targetId: number;
    readonly counters: TargetCounters;
    readonly usage: DiskUsage;
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
  registry.gauge(metricDefs.storageRecoveryRemainingChunks, (gauge) => {
    gauge.reset();
    for (const recovery of stats().recoveries) {
      if (recovery.phase !== 'planning' && recovery.phase !== 'copying') continue;
      gauge.set({ target: recovery.targetId }, Math.max(0, recovery.chunksTotal - recovery.chunksDone));
    }
  });
}
