// Proves the chunk operation metrics: every operation is timed by its operation name, a failed one
// also counted by target and status code name, its outcome passed through unchanged; and that
// without a registry the operation's own promise comes back untouched.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/common/clock.js';
import { FsError } from '../../../src/common/errors.js';
import { MetricsRegistry } from '../../../src/common/metrics/index.js';
import { StorageCode } from '../../../src/common/status-code.js';
import { ChunkOperation, ChunkOperationMetrics } from '../../../src/storage/chunk-operation-metrics.js';

describe('chunk operation metrics', () => {
  it('times every operation and counts failures by target and code', async () => {
    const clock = new ManualClock();
    const registry = new MetricsRegistry({ node: '1', node_type: 'storage' });
    const metrics = new ChunkOperationMetrics(registry, clock);

    const startedMs = metrics.startMs();
    clock.advance(30);
    await expect(
      metrics.observe(ChunkOperation.Read, 101, startedMs, Promise.resolve('bytes')),
    ).resolves.toBe('bytes');
    const corrupted = new FsError(StorageCode.ChunkCorrupted, 'chunk corrupted');
    await expect(
      metrics.observe(ChunkOperation.Read, 101, metrics.startMs(), Promise.reject(corrupted)),
    ).rejects.toBe(corrupted);
    await expect(
      metrics.observe(ChunkOperation.Recover, 202, metrics.startMs(), Promise.reject(new Error('bug'))),
    ).rejects.toThrow('bug');

    const text = await registry.text();
    expect(text).toMatch(
      /threefs_storage_chunk_operation_duration_seconds_count\{[^}]*operation="read"[^}]*\} 2/,
    );
    expect(text).toMatch(
      /threefs_storage_chunk_operation_duration_seconds_sum\{[^}]*operation="read"[^}]*\} 0\.03\b/,
    );
    expect(text).toMatch(
      /threefs_storage_chunk_operation_duration_seconds_count\{[^}]*operation="recover"[^}]*\} 1/,
    );
    expect(text).toMatch(
      /threefs_storage_chunk_operation_errors_total\{target="101",operation="read",code="Storage.ChunkCorrupted",.*\} 1/,
    );
    expect(text).toMatch(
      /threefs_storage_chunk_operation_errors_total\{target="202",operation="recover",code="Common.Internal",.*\} 1/,
    );
    expect(text).not.toMatch(/chunk_operation_errors_total\{[^}]*operation="write"/);
  });

  it('passes the operation through untouched without a registry', async () => {
    const metrics = new ChunkOperationMetrics(undefined, new ManualClock());
    const work = Promise.resolve(1);
    expect(metrics.observe(ChunkOperation.Write, 1, metrics.startMs(), work)).toBe(work);
  });
});
