// Proves the storage metrics: per-target bytes, chunk operations, checksum failures and what recovery
// copied read from the service's own counters as counters, disk usage and lock waiters as gauges,
// chunks left only for recoveries still running, all computed afresh at every read of the registry
// (text and pushed snapshot alike).
import { describe, expect, it } from 'vitest';
import { MetricsRegistry } from '../../../src/common/metrics/index.js';
import { registerStorageMetrics, type StorageStats } from '../../../src/storage/index.js';
import type { RecoveryProgress } from '../../../src/storage/protocol/index.js';

function recovery(targetId: number, phase: RecoveryProgress['phase'], chunksDone: number): RecoveryProgress {
  return {
    chainId: 1,
    chainVersion: 3,
    fromTargetId: 101,
    targetId,
    phase,
    chunksTotal: 10,
    bytesTotal: 10 << 20,
    chunksDone,
    bytesDone: chunksDone << 20,
    chunksSkipped: 0,
    bytesPerSecond: 0,
  } as RecoveryProgress;
}

describe('storage metrics', () => {
  it('reports every target’s counters, usage and lock waiters, and what running recoveries have left', async () => {
    const counters = {
      clientWrites: 3,
      forwardedWrites: 4,
      reads: 5,
      bytesWritten: 7_000,
      bytesRead: 5_000,
      checksumFailures: 2,
      syncs: 8,
    };
    let stats: StorageStats = {
      targets: [
        {
          targetId: 101,
          counters,
          recovered: { chunks: 6, bytes: 6_000 },
          usage: { usedBytes: 1_000, capacityBytes: 9_000, freeBytes: 8_000 },
          lockWaiters: 3,
        },
      ],
      recoveries: [recovery(201, 'copying', 4), recovery(301, 'done', 10)],
    };
    const registry = new MetricsRegistry({ node: '1', node_type: 'storage' });
    registerStorageMetrics(registry, () => stats);

    const text = await registry.text();
    const labels = 'node="1",node_type="storage"';
    expect(text).toContain(`threefs_storage_read_bytes_total{target="101",${labels}} 5000`);
    expect(text).toContain(`threefs_storage_written_bytes_total{target="101",${labels}} 7000`);
    expect(text).toMatch(/threefs_storage_chunk_operations_total\{target="101",operation="write",.*\} 7/);
    expect(text).toMatch(/threefs_storage_chunk_operations_total\{target="101",operation="read",.*\} 5/);
    expect(text).toContain(`threefs_storage_target_used_bytes{target="101",${labels}} 1000`);
    expect(text).toContain(`threefs_storage_target_capacity_bytes{target="101",${labels}} 9000`);
    expect(text).toContain(`threefs_storage_recovery_remaining_chunks{target="201",${labels}} 6`);
    expect(text).not.toMatch(/recovery_remaining_chunks\{target="301"/);
    expect(text).toContain(`threefs_storage_checksum_failures_total{target="101",${labels}} 2`);
    expect(text).toContain(`threefs_storage_recovery_chunks_total{target="101",${labels}} 6`);
    expect(text).toContain(`threefs_storage_target_syncs_total{target="101",${labels}} 8`);
    expect(text).toContain(`threefs_storage_recovery_bytes_total{target="101",${labels}} 6000`);
    expect(text).toContain(`threefs_queue_depth{queue="storage_chunk_lock_waiters",${labels}} 3`);

    // Read again after more I/O and the end of the recovery: totals follow, nothing doubles.
    stats = {
      targets: [{ ...stats.targets[0]!, counters: { ...counters, bytesRead: 9_000 } }],
      recoveries: [recovery(201, 'done', 10)],
    };
    const families = await registry.snapshot();
    const read = families.find((family) => family.name === 'threefs_storage_read_bytes_total');
    expect(read?.samples.map((sample) => sample.value)).toEqual([9_000]);
    const remaining = families.find((family) => family.name === 'threefs_storage_recovery_remaining_chunks');
    expect(remaining?.samples ?? []).toEqual([]);
  });
});
