// Proves the disk health checks: the real probe passes on a healthy target directory and fails
// once the directory is gone; the monitor marks a failing target offline and failed exactly once,
// probes at once when a store operation reports an I/O error, treats a hung probe as a failure,
// and leaves healthy targets alone; the store wrapper reports I/O errors and nothing else.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/common/clock.js';
import { FsError } from '../../../src/common/errors.js';
import { limits } from '../../../src/common/limits.js';
import { silentLogger } from '../../../src/common/logger.js';
import { CommonCode, StorageCode } from '../../../src/common/status-code.js';
import { DiskHealthMonitor, probeTargetDisk, reportingIoErrors } from '../../../src/storage/disk-health.js';
import { TargetRegistry, newCounters, type StorageTarget } from '../../../src/storage/storage-target.js';
import { SharedSync } from '../../../src/storage/shared-sync.js';
import type { ChunkStore } from '../../../src/storage/store/chunk-store.js';
import { ChunkLocks } from '../../../src/storage/craq/chunk-locks.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function target(targetId: number, path: string, clock: ManualClock): StorageTarget {
  return {
    targetId,
    path,
    store: {} as ChunkStore,
    syncs: new SharedSync(async () => undefined),
    locks: new ChunkLocks({ clock, waitersMax: 1 }),
    localState: 'up-to-date',
    seenAlive: true,
    usage: { usedBytes: 0, capacityBytes: 0, freeBytes: 0 },
    counters: newCounters(),
    recovered: { chunks: 0, bytes: 0 },
  };
}

async function settle(): Promise<void> {
  for (let round = 0; round < 20; round++) await Promise.resolve();
}

describe('the disk probe', () => {
  it('passes on a target directory and fails once it disappears', async () => {
    const dir = mkdtempSync(join(tmpdir(), '3fs-disk-'));
    dirs.push(dir);
    mkdirSync(join(dir, 'data'));
    await expect(probeTargetDisk(dir)).resolves.toBeUndefined();
    rmSync(dir, { recursive: true, force: true });
    await expect(probeTargetDisk(dir)).rejects.toThrow(/ENOENT/);
  });

  it("checks the native chunk engine's data directory in a target that holds one", async () => {
    const dir = mkdtempSync(join(tmpdir(), '3fs-disk-'));
    dirs.push(dir);
    mkdirSync(join(dir, 'chunk-engine', 'data'), { recursive: true });
    await expect(probeTargetDisk(dir)).resolves.toBeUndefined();
    rmSync(join(dir, 'chunk-engine', 'data'), { recursive: true, force: true });
    await expect(probeTargetDisk(dir)).rejects.toThrow(/ENOENT/);
  });
});

describe('the disk health monitor', () => {
  it('marks a failing target offline once, keeps the others, and refuses requests to it', async () => {
    const clock = new ManualClock();
    const registry = new TargetRegistry();
    registry.add(target(1, '/bad', clock));
    registry.add(target(2, '/good', clock));
    const failures: string[] = [];
    const monitor = new DiskHealthMonitor({
      targets: () => registry.all(),
      clock,
      logger: silentLogger(),
      intervalMs: 1_000,
      probe: async (path) => {
        if (path === '/bad') throw new Error('EIO: i/o error');
      },
      onFailure: (failed, reason) => failures.push(`${failed.targetId}: ${reason}`),
    });
    monitor.start();
    clock.advance(1_000);
    await settle();
    clock.advance(1_000);
    await settle();
    expect(failures).toEqual(['1: EIO: i/o error']);
    const [bad, good] = registry.all();
    expect(bad?.localState).toBe('offline');
    expect(good?.localState).toBe('up-to-date');
    expect(() => registry.get(1)).toThrow(FsError);
    try {
      registry.get(1);
    } catch (error) {
      expect((error as FsError).code).toBe(StorageCode.DiskFailed);
    }
    expect(registry.get(2).targetId).toBe(2);
    monitor.stop();
  });

  it('probes at once on a suspected I/O error, and counts a hung probe as a failure', async () => {
    const clock = new ManualClock();
    const registry = new TargetRegistry();
    registry.add(target(1, '/hung', clock));
    let probes = 0;
    const failures: string[] = [];
    const monitor = new DiskHealthMonitor({
      targets: () => registry.all(),
      clock,
      logger: silentLogger(),
      intervalMs: 60_000,
      probe: () => {
        probes += 1;
        return new Promise(() => undefined);
      },
      onFailure: (_failed, reason) => failures.push(reason),
    });
    monitor.suspect(1);
    await settle();
    expect(probes).toBe(1);
    monitor.suspect(1);
    await settle();
    expect(probes).toBe(1);
    clock.advance(limits.storageDiskCheckTimeoutMs);
    await settle();
    expect(failures).toEqual([`the disk probe did not finish within ${limits.storageDiskCheckTimeoutMs} ms`]);
  });
});

describe('the store wrapper', () => {
  it('reports I/O errors and passes every result and error through', async () => {
    const reported: number[] = [];
    const failing = {
      prepare: () => Promise.reject(new FsError(CommonCode.IoError, 'EIO')),
      commit: () => Promise.reject(new FsError(StorageCode.NoSpace, 'full')),
      read: () => Promise.resolve({ data: Buffer.from('x') }),
    } as unknown as ChunkStore;
    const wrapped = reportingIoErrors(failing, (error) => reported.push(error.code));
    const chunkId = { inode: 1n, index: 0 };
    await expect(
      wrapped.prepare(chunkId, { kind: 'remove' }, { version: 1, chainVersion: 1 }),
    ).rejects.toThrow('EIO');
    await expect(wrapped.commit(chunkId, 1)).rejects.toThrow('full');
    await expect(wrapped.read(chunkId, { offset: 0, length: 1, pending: false })).resolves.toMatchObject({
      data: Buffer.from('x'),
    });
    expect(reported).toEqual([CommonCode.IoError]);
  });
});
