// The free-space probe of a storage target: a statfs of the target's file system, reused for a
// moment (less what was written since) while the disk is far from full, asked again when the
// answer is old or the disk is near full.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { statfsProbe } from '../../../src/storage/store/free-space.js';

describe('statfsProbe', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), '3fs-free-space-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reuses its last statfs, less the bytes written since, while young and far from full', async () => {
    let now = 0;
    const probe = statfsProbe(dir, { nowMs: () => now, maxAgeMs: 1_000, marginBytes: 0 });
    const first = await probe.probe();
    expect(first.capacityBytes).toBeGreaterThan(0);
    expect(first.usedBytes + first.freeBytes).toBe(first.capacityBytes);
    probe.consumed?.(4096);
    const cached = await probe.probe();
    expect(cached.freeBytes).toBe(first.freeBytes - 4096);
    expect(cached.usedBytes).toBe(first.usedBytes + 4096);
    // Old: asked again, and the count of bytes written starts over.
    now = 1_000;
    const again = await probe.probe();
    probe.consumed?.(1);
    expect((await probe.probe()).freeBytes).toBe(again.freeBytes - 1);
  });

  it('asks the file system every time when the disk is within the margin', async () => {
    const probe = statfsProbe(dir, { nowMs: () => 0, maxAgeMs: 1_000, marginBytes: Number.MAX_SAFE_INTEGER });
    const first = await probe.probe();
    probe.consumed?.(1_000_000);
    // Not reduced by what was written: the answer is a fresh statfs (the disk may have changed a
    // little in between, but not by exactly the bytes written).
    const second = await probe.probe();
    expect(second.freeBytes).not.toBe(first.freeBytes - 1_000_000);
  });
});
