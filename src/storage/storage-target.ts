/**
 * One target served by this process: its chunk store (and its shared syncs), its chunk locks, its local state as
 * reported in heartbeats, its last measured disk usage, and its counters. The registry maps the
 * target ids of requests onto targets and refuses ids this process does not serve, and targets
 * whose disk failed.
 */
import { FsError } from '../common/errors.js';
import { StorageCode } from '../common/status-code.js';
import type { LocalState } from '../mgmtd/protocol/index.js';
import type { TargetCounters } from './protocol/index.js';
import type { ChunkLocks } from './craq/chunk-locks.js';
import type { SharedSync } from './shared-sync.js';
import type { ChunkStore, DiskUsage } from './store/chunk-store.js';

export interface StorageTarget {
  readonly targetId: number;
  readonly path: string;
  readonly store: ChunkStore;
  readonly locks: ChunkLocks;
  /** Syncs of `store` to stable storage, shared by concurrent callers. */
  readonly syncs: SharedSync;
  localState: LocalState;
  /** Set once routing info has shown the target in a chain in a live state (serving, syncing, waiting). */
  seenAlive: boolean;
  usage: DiskUsage;
  readonly counters: { -readonly [K in keyof TargetCounters]: TargetCounters[K] };
  /** What recovery copied to this target while it was syncing, since the process started (metrics). */
  readonly recovered: { chunks: number; bytes: number };
  /** Why the target's disk was declared failed (disk-health.ts); it serves nothing from then on. */
  diskFailure?: string;
  /** The target directory was missing or empty when the process started (a new or replaced disk). */
  freshStore?: boolean;
  /**
   * Kept out (with `diskFailure` set) because it started empty as its chain's last serving target
   * (fencing.ts freshStoreRefusal); it rejoins once routing info no longer shows it so.
   */
  freshStoreRefused?: boolean;
}

/** Fresh zeroed counters. */
export function newCounters(): StorageTarget['counters'] {
  return {
    clientWrites: 0,
    forwardedWrites: 0,
    reads: 0,
    bytesWritten: 0,
    bytesRead: 0,
    checksumFailures: 0,
    syncs: 0,
  };
}

export class TargetRegistry {
  private readonly targets = new Map<number, StorageTarget>();

  add(target: StorageTarget): void {
    this.targets.set(target.targetId, target);
  }

  /**
   * The target `targetId`: TargetNotFound when this process does not serve it, DiskFailed when its
   * disk failed (nothing is read from or written to a failed disk).
   */
  get(targetId: number): StorageTarget {
    const target = this.targets.get(targetId);
    if (target === undefined) {
      throw new FsError(
        StorageCode.TargetNotFound,
        `target ${targetId} is not served by this storage process`,
      );
    }
    if (target.diskFailure !== undefined) {
      throw new FsError(StorageCode.DiskFailed, `target ${targetId}'s disk failed: ${target.diskFailure}`);
    }
    return target;
  }

  /** The target `targetId` whatever its disk's state, or undefined when this process does not serve it. */
  find(targetId: number): StorageTarget | undefined {
    return this.targets.get(targetId);
  }

  all(): StorageTarget[] {
    return [...this.targets.values()];
  }

  ids(): number[] {
    return [...this.targets.keys()];
  }
}
