// Proves per-chunk locks serialize writers in arrival order, bound their wait queues and wait
// times with ChunkBusy, and leave nothing behind once released.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/common/clock.js';
import { hasCode } from '../../../src/common/errors.js';
import { StorageCode } from '../../../src/common/status-code.js';
import { ChunkLocks } from '../../../src/storage/craq/chunk-locks.js';

describe('chunk locks', () => {
  it('grant the lock to waiters in arrival order', async () => {
    const clock = new ManualClock();
    const locks = new ChunkLocks({ clock, waitersMax: 4 });
    const order: number[] = [];
    const first = await locks.acquire('a', 1_000);
    const waiting = [1, 2, 3].map((n) =>
      locks.acquire('a', clock.monotonicMs() + 1_000).then((release) => {
        order.push(n);
        release();
      }),
    );
    const other = await locks.acquire('b', 1_000);
    other();
    first();
    await Promise.all(waiting);
    expect(order).toEqual([1, 2, 3]);
    expect(locks.heldCount()).toBe(0);
  });

  it('refuse a waiter beyond the bound, and one whose deadline passes', async () => {
    const clock = new ManualClock();
    const locks = new ChunkLocks({ clock, waitersMax: 1 });
    const held = await locks.acquire('a', clock.monotonicMs() + 1_000);
    const queued = locks.acquire('a', clock.monotonicMs() + 500);
    await expect(locks.acquire('a', clock.monotonicMs() + 500)).rejects.toSatisfy((error) =>
      hasCode(error, StorageCode.ChunkBusy),
    );
    clock.advance(501);
    await expect(queued).rejects.toSatisfy((error) => hasCode(error, StorageCode.ChunkBusy));
    held();
    expect(locks.heldCount()).toBe(0);
    await expect(locks.acquire('a', clock.monotonicMs())).resolves.toBeTypeOf('function');
  });

  it('treat a double release as a bug', async () => {
    const locks = new ChunkLocks({ clock: new ManualClock(), waitersMax: 1 });
    const release = await locks.acquire('a', 1);
    release();
    expect(() => release()).toThrow(/released once/);
  });
});
