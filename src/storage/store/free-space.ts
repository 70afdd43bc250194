/**
 * Free-space probing of a target's file system, injectable so tests can fill a disk on demand.
 * The store refuses an update whose bytes would eat into the reserve, before writing anything.
 */
import { statfs } from 'node:fs/promises';
import type { DiskUsage } from './chunk-store.js';

export interface FreeSpaceProbe {
  /** Usage of the file system holding the target. */
  probe(): Promise<DiskUsage>;
}

/**
 * The real probe: statfs(2) of the target directory. Free space is what unprivileged users may
 * use, and used is everything else: blocks reserved for root (or by the mount's options) can never
 * hold chunks, so counting them as free would overstate what the target, and the statfs that sums
 * the targets, can still take, and a disk-full alert on used/capacity would come too late.
 */
export function statfsProbe(path: string): FreeSpaceProbe {
  return {
    async probe() {
      const stats = await statfs(path);
      const capacityBytes = stats.blocks * stats.bsize;
      const freeBytes = stats.bavail * stats.bsize;
      return { capacityBytes, freeBytes, usedBytes: capacityBytes - freeBytes };
    },
  };
}
