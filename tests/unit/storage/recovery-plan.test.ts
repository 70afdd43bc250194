// Proves the recovery manager's decisions (recovery-plan.ts): a new syncing successor gets a pass,
// one under a new chain version gets a new pass once the old one has ended, a successor that left
// has its pass aborted, a failed pass waits before it starts over, a completed pass is not run again
// for the same chain version, and memory routing info no longer asks for is dropped.
import { describe, expect, it } from 'vitest';
import {
  planRecoveries,
  successorKey,
  type RecoveryMemory,
  type SyncingSuccessor,
} from '../../../src/storage/recovery/recovery-plan.js';

function successor(syncingTargetId: number, chainVersion = 4): SyncingSuccessor {
  return { chainId: 1, chainVersion, localTargetId: 101, syncingTargetId };
}

function memory(parts: Partial<RecoveryMemory> = {}): RecoveryMemory {
  return { running: new Map(), completed: new Set(), backoffUntilMs: new Map(), ...parts };
}

describe('planning recovery passes', () => {
  it('starts a pass for each new syncing successor', () => {
    const plan = planRecoveries([successor(201), successor(301)], memory(), 1_000);
    expect(plan.start).toEqual([successor(201), successor(301)]);
    expect(plan.abort).toEqual([]);
    expect(plan.retryInMs).toBeUndefined();
  });

  it('aborts a pass of an older chain version and starts the new one only once it has ended', () => {
    const running = memory({ running: new Map([[201, successor(201, 3)]]) });
    const whileEnding = planRecoveries([successor(201, 4)], running, 1_000);
    expect(whileEnding.abort).toEqual([201]);
    expect(whileEnding.start).toEqual([]);
    expect(planRecoveries([successor(201, 4)], memory(), 1_000).start).toEqual([successor(201, 4)]);
  });

  it('aborts the pass of a successor that no longer syncs behind this process, and keeps one that does', () => {
    const running = memory({
      running: new Map([
        [201, successor(201)],
        [301, successor(301)],
      ]),
    });
    const plan = planRecoveries([successor(301)], running, 1_000);
    expect(plan.abort).toEqual([201]);
    expect(plan.start).toEqual([]);
  });

  it('lets a failed pass wait, and says when to look again (the earliest wait)', () => {
    const waiting = memory({
      backoffUntilMs: new Map([
        [201, 1_500],
        [301, 1_200],
      ]),
    });
    const plan = planRecoveries([successor(201), successor(301)], waiting, 1_000);
    expect(plan.start).toEqual([]);
    expect(plan.retryInMs).toBe(200);
    expect(planRecoveries([successor(201)], waiting, 1_500).start).toEqual([successor(201)]);
  });

  it('does not run a completed pass again under the same chain version, but does under a new one', () => {
    const done = memory({ completed: new Set([successorKey(successor(201, 4))]) });
    expect(planRecoveries([successor(201, 4)], done, 1_000).start).toEqual([]);
    const moved = planRecoveries([successor(201, 5)], done, 1_000);
    expect(moved.start).toEqual([successor(201, 5)]);
    expect(moved.forgetCompleted).toEqual([successorKey(successor(201, 4))]);
  });

  it('forgets the wait of a successor routing info no longer shows syncing', () => {
    const plan = planRecoveries([], memory({ backoffUntilMs: new Map([[201, 9_000]]) }), 1_000);
    expect(plan.forgetBackoff).toEqual([201]);
    expect(plan.retryInMs).toBeUndefined();
  });
});
