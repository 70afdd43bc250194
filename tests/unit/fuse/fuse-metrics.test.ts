// Proves that FUSE operation metrics count every request by operation and failures by errno
// name, add up the bytes reads return and writes accept (failed ones add nothing), leave missing
// handlers missing and synchronous handlers synchronous, and skip notifications such as forget.
import { describe, expect, it } from 'vitest';
import { MetricsRegistry } from '../../../src/common/metrics/index.js';
import { observeFuseOperations } from '../../../src/fuse/fuse-metrics.js';

class Errno extends Error {
  constructor(readonly errno: number) {
    super(`errno ${errno}`);
  }
}

class Operations {
  forgets = 0;
  async lookup(_context: unknown, request: { name: string }): Promise<string> {
    if (request.name === 'missing') throw new Errno(2);
    return `entry ${request.name}`;
  }
  forget(): void {
    this.forgets += 1;
  }
  statfs(): string {
    return 'sync';
  }
  async read(_context: unknown, request: { size: number }): Promise<Buffer> {
    if (request.size === 0) throw new Errno(5);
    return Buffer.alloc(request.size);
  }
  write(_context: unknown, request: { data: Buffer }): number {
    return request.data.length;
  }
}

describe('FUSE operation metrics', () => {
  it('counts requests and errors by errno name and keeps handler shapes', async () => {
    const registry = new MetricsRegistry({ node: '400', node_type: 'fuse' });
    const target = new Operations();
    const observed = observeFuseOperations(target, registry, (error) =>
      error instanceof Errno ? error.errno : undefined,
    );
    expect(await observed.lookup({}, { name: 'a' })).toBe('entry a');
    await expect(observed.lookup({}, { name: 'missing' })).rejects.toThrow('errno 2');
    expect(observed.statfs()).toBe('sync');
    observed.forget();
    expect(target.forgets).toBe(1);
    expect((observed as unknown as Record<string, unknown>)['mkdir']).toBeUndefined();

    const text = await registry.text();
    expect(text).toMatch(/threefs_fuse_operations_total\{[^}]*operation="lookup"[^}]*\} 2/);
    expect(text).toMatch(
      /threefs_fuse_operation_errors_total\{[^}]*operation="lookup"[^}]*errno="ENOENT"[^}]*\} 1/,
    );
    expect(text).toMatch(/threefs_fuse_operations_total\{[^}]*operation="statfs"[^}]*\} 1/);
    expect(text).not.toMatch(/operation="forget"/);
  });
});

describe('FUSE byte counts', () => {
  it('adds the bytes of answered reads and writes, and nothing for a failed one', async () => {
    const registry = new MetricsRegistry({ node: '400', node_type: 'fuse' });
    const observed = observeFuseOperations(new Operations(), registry, (error) =>
      error instanceof Errno ? error.errno : undefined,
    );
    expect((await observed.read({}, { size: 4096 })).length).toBe(4096);
    expect((await observed.read({}, { size: 100 })).length).toBe(100);
    await expect(observed.read({}, { size: 0 })).rejects.toThrow('errno 5');
    expect(observed.write({}, { data: Buffer.alloc(700) })).toBe(700);

    const text = await registry.text();
    expect(text).toMatch(/threefs_fuse_read_bytes_total\{[^}]*\} 4196/);
    expect(text).toMatch(/threefs_fuse_written_bytes_total\{[^}]*\} 700/);
  });
});
