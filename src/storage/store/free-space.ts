/**
 * Free-space probing of a target's file system, injectable so tests can fill a disk on demand.
 * The store refuses an update whose bytes would eat into the reserve, before writing anything.
 */
import { statfs } from 'node:fs/promises';
import { FsError } from '../../common/errors.js';
import { limits } from '../../common/limits.js';
import { StorageCode } from '../../common/status-code.js';
import type { DiskUsage } from './chunk-store.js';

export interface FreeSpaceProbe {
  /** Usage of the file system holding the target. */
  probe(): Promise<DiskUsage>;
  /** Says that `bytes` were just written (a probe that answers from an earlier statfs counts them). */
  consumed?(bytes: number): void;
}

/**
 * The real probe: statfs(2) of the target directory. Free space is what unprivileged users may
 * use, and used is everything else: blocks reserved for root (or by the mount's options) can never
 * hold chunks, so counting them as free would overstate what the target, and the statfs that sums
 * the targets, can still take, and a disk-full alert on used/capacity would come too late.
 *
 * A statfs per write costs a trip through libuv's thread pool on every replica of every write, so
 * while the disk is far from full (more than limits.storageFreeSpaceProbeMarginBytes free) the
 * last answer is reused for up to limits.storageFreeSpaceProbeMaxAgeMs, less what was written
 * since; closer to full every write asks the file system again.
 */
export function statfsProbe(
  path: string,
  options: { nowMs?: () => number; maxAgeMs?: number; marginBytes?: number } = {},
): FreeSpaceProbe {
  const nowMs = options.nowMs ?? (() => performance.now());
  const maxAgeMs = options.maxAgeMs ?? limits.storageFreeSpaceProbeMaxAgeMs;
  const marginBytes = options.marginBytes ?? limits.storageFreeSpaceProbeMarginBytes;
  let last: { usage: DiskUsage; atMs: number } | undefined;
  let consumedSince = 0;
  let pending: Promise<DiskUsage> | undefined;
  const fresh = (): Promise<DiskUsage> => {
    pending ??= (async () => {
      try {
        const stats = await statfs(path);
        const capacityBytes = stats.blocks * stats.bsize;
        const freeBytes = stats.bavail * stats.bsize;
        const usage = { capacityBytes, freeBytes, usedBytes: capacityBytes - freeBytes };
        last = { usage, atMs: nowMs() };
        consumedSince = 0;
        return usage;
      } finally {
        pending = undefined;
      }
    })();
    return pending;
  };
  return {
    async probe() {
      if (last !== undefined && nowMs() - last.atMs < maxAgeMs) {
        const freeBytes = last.usage.freeBytes - consumedSince;
        if (freeBytes > marginBytes) {
          return {
            capacityBytes: last.usage.capacityBytes,
            freeBytes,
            usedBytes: last.usage.capacityBytes - freeBytes,
          };
        }
      }
      return fresh();
    },
    consumed(bytes: number) {
      consumedSince += bytes;
    },
  };
}

/**
 * Refuses (NoSpace) a write of `bytes` that would eat into the target's reserve, before anything
 * is written; counts the bytes as taken when it goes ahead.
 */
export async function checkFreeSpace(
  probe: FreeSpaceProbe,
  bytes: number,
  target: { targetId: number; freeSpaceReserveBytes: number },
): Promise<void> {
  if (bytes === 0) return;
  const usage = await probe.probe();
  if (usage.freeBytes - bytes < target.freeSpaceReserveBytes) {
    throw new FsError(
      StorageCode.NoSpace,
      `target ${target.targetId}: writing ${bytes} bytes would leave less than the reserve of ${target.freeSpaceReserveBytes} bytes (${usage.freeBytes} free)`,
    );
  }
  probe.consumed?.(bytes);
}
