// Proves the NFS gateway's metrics count operations by version and name, errors by status, and
// bytes read and written, as a scrape reads them, whether recorded before or after earlier reads.
import { describe, expect, it } from 'vitest';
import { MetricsRegistry } from '../../../src/common/metrics/index.js';
import { NfsMetrics } from '../../../src/nfs/nfs-metrics.js';
import { NfsStatus } from '../../../src/nfs/nfs-status.js';

const sample = (text: string, name: string, labels: string): number | undefined => {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name}{${labels}}`));
  return line === undefined ? undefined : Number(line.split(' ').pop());
};

describe('NFS gateway metrics', () => {
  it('counts operations, their errors and durations, and the bytes read and written', async () => {
    const registry = new MetricsRegistry({ node: '9', node_type: 'nfs' });
    const metrics = new NfsMetrics(registry);
    for (let index = 0; index < 300; index++) metrics.operation('3', 'READ', NfsStatus.Ok, 0.0004);
    metrics.operation('3', 'LOOKUP', NfsStatus.NoEnt, 0.001);
    metrics.operation('4', 'READ', NfsStatus.Ok, 0.002);
    metrics.read(4096);
    metrics.read(8192);
    metrics.written(100);
    let text = await registry.text();
    const own = 'node="9",node_type="nfs"';
    expect(sample(text, 'threefs_nfs_operations_total', `version="3",operation="READ",${own}`)).toBe(300);
    expect(sample(text, 'threefs_nfs_operations_total', `version="3",operation="LOOKUP",${own}`)).toBe(1);
    expect(sample(text, 'threefs_nfs_operations_total', `version="4",operation="READ",${own}`)).toBe(1);
    expect(text).toMatch(/threefs_nfs_operation_errors_total\{[^}]*operation="LOOKUP"[^}]*\} 1/);
    expect(
      sample(text, 'threefs_nfs_operation_duration_seconds_count', `${own},version="3",operation="READ"`),
    ).toBe(300);
    expect(sample(text, 'threefs_nfs_read_bytes_total', own)).toBe(12288);
    expect(sample(text, 'threefs_nfs_written_bytes_total', own)).toBe(100);
    // Later operations add to what was read before.
    metrics.operation('3', 'READ', NfsStatus.Ok, 0.0004);
    metrics.read(1);
    text = await registry.text();
    expect(sample(text, 'threefs_nfs_operations_total', `version="3",operation="READ",${own}`)).toBe(301);
    expect(sample(text, 'threefs_nfs_read_bytes_total', own)).toBe(12289);
  });
});
