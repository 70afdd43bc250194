/**
 * Which recovery passes a storage process runs (DESIGN §7), decided from routing info and what the
 * process remembers, without I/O; target-recovery.ts acts on the plan. For each syncing target right
 * behind a target of this process exactly one pass runs, under the chain version it started with:
 *
 * - a new syncing successor, or a known one under a new chain version, gets a new pass; a pass of
 *   another chain version is aborted first, and the new one starts once the old one has ended;
 * - a successor that no longer syncs behind this process has its pass aborted;
 * - a pass that failed starts over once its wait (retryMs after the failure) is over;
 * - a pass that finished (sync-done acknowledged) is not run again for the same chain version;
 *   that memory, and a failed pass's wait, are dropped once routing info no longer asks for them.
 */

/** A syncing target right behind a target of this process. */
export interface SyncingSuccessor {
  readonly chainId: number;
  readonly chainVersion: number;
  readonly localTargetId: number;
  readonly syncingTargetId: number;
}

/** What the process remembers of its passes. */
export interface RecoveryMemory {
  /** Passes running (or ending after an abort), by syncing target id. */
  readonly running: ReadonlyMap<number, SyncingSuccessor>;
  /** Passes that completed, by successorKey. */
  readonly completed: ReadonlySet<string>;
  /** Syncing targets whose last pass failed, until when (monotonic ms) they wait. */
  readonly backoffUntilMs: ReadonlyMap<number, number>;
}

export interface RecoveryPlan {
  /** Syncing target ids whose running pass no longer matches routing info. */
  readonly abort: readonly number[];
  readonly start: readonly SyncingSuccessor[];
  /** Completed passes and waits routing info no longer asks for. */
  readonly forgetCompleted: readonly string[];
  readonly forgetBackoff: readonly number[];
  /** When to look again for a successor still waiting after a failed pass (ms from now). */
  readonly retryInMs: number | undefined;
}

/** A pass's identity: its syncing target, chain version and predecessor. */
export function successorKey(successor: SyncingSuccessor): string {
  return `${successor.syncingTargetId}@${successor.chainVersion}/${successor.localTargetId}`;
}

export function sameSuccessor(a: SyncingSuccessor, b: SyncingSuccessor): boolean {
  return (
    a.chainId === b.chainId &&
    a.chainVersion === b.chainVersion &&
    a.localTargetId === b.localTargetId &&
    a.syncingTargetId === b.syncingTargetId
  );
}

/** The passes to abort and start for the `wanted` successors (all of them, from the latest routing info). */
export function planRecoveries(
  wanted: readonly SyncingSuccessor[],
  memory: RecoveryMemory,
  nowMs: number,
): RecoveryPlan {
  const wantedBySyncing = new Map(wanted.map((successor) => [successor.syncingTargetId, successor]));
  const wantedKeys = new Set(wanted.map(successorKey));
  const abort: number[] = [];
  for (const [syncingTargetId, running] of memory.running) {
    const successor = wantedBySyncing.get(syncingTargetId);
    if (successor === undefined || !sameSuccessor(successor, running)) abort.push(syncingTargetId);
  }
  const start: SyncingSuccessor[] = [];
  let retryInMs: number | undefined;
  for (const successor of wanted) {
    // An aborted pass still ending holds its place: the new one starts after it.
    if (memory.running.has(successor.syncingTargetId)) continue;
    if (memory.completed.has(successorKey(successor))) continue;
    const waitUntilMs = memory.backoffUntilMs.get(successor.syncingTargetId) ?? 0;
    if (waitUntilMs > nowMs) {
      retryInMs = Math.min(retryInMs ?? Infinity, waitUntilMs - nowMs);
      continue;
    }
    start.push(successor);
  }
  return {
    abort,
    start,
    forgetCompleted: [...memory.completed].filter((key) => !wantedKeys.has(key)),
    forgetBackoff: [...memory.backoffUntilMs.keys()].filter((id) => !wantedBySyncing.has(id)),
    retryInMs,
  };
}
