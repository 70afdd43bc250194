// Proves the one bounded way to wait: permits go to waiters in arrival order and nobody overtakes
// (not even a small request behind a large one); a full queue and a passed deadline are refused
// with a typed error carrying the owner's code; an AbortSignal or a cancellation subscription
// ends a wait; close refuses the waiters and resolves when every permit is back; a refused head
// lets the waiters behind it through; a double release is a bug.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/common/clock.js';
import { FsError } from '../../../src/common/errors.js';
import { Permits, PermitsError } from '../../../src/common/permits.js';
import { RpcCode, StorageCode } from '../../../src/common/status-code.js';
import { Cancellation } from '../../../src/rpc/cancellation.js';

const pool = (permits: number, waitersMax: number, clock?: ManualClock) =>
  new Permits({
    name: 'test pool',
    permits,
    waitersMax,
    code: StorageCode.ChunkBusy,
    ...(clock ? { clock } : {}),
  });

/** Lets granted waiters' continuations run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('permits', () => {
  it('serve waiters in arrival order; a small request waits behind a large one', async () => {
    const permits = pool(4, 10);
    expect(permits.tryAcquire(3)).toBe(true);
    const order: string[] = [];
    const large = permits.acquire({ count: 3 }).then(() => order.push('large'));
    const small = permits.acquire({ count: 1 }).then(() => order.push('small'));
    // One permit is free, but the small request is behind the large one.
    expect(permits.tryAcquire(1)).toBe(false);
    await settle();
    expect(order).toEqual([]);
    permits.release(3);
    await Promise.all([large, small]);
    expect(order).toEqual(['large', 'small']);
    expect(permits.inUse).toBe(4);
    expect(permits.waiting).toBe(0);
  });

  it('refuse a waiter beyond the bound with kind "full" and the owner\'s code', async () => {
    const permits = pool(1, 1);
    await permits.acquire();
    const queued = permits.acquire();
    const refused = await permits.acquire().catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(PermitsError);
    expect((refused as PermitsError).kind).toBe('full');
    expect((refused as FsError).code).toBe(StorageCode.ChunkBusy);
    permits.release();
    await queued;
    expect(permits.inUse).toBe(1);
  });

  it('refuse a wait whose deadline passes with kind "late", and let the next waiter through', async () => {
    const clock = new ManualClock();
    const permits = pool(2, 10, clock);
    expect(permits.tryAcquire(1)).toBe(true);
    const head = permits.acquire({ count: 2, deadlineMs: clock.monotonicMs() + 100 });
    const behind = permits.acquire({ count: 1 });
    clock.advance(101);
    await expect(head).rejects.toMatchObject({ kind: 'late', code: StorageCode.ChunkBusy });
    // The head's refusal freed the way: one permit was free all along.
    await behind;
    expect(permits.inUse).toBe(2);
    await expect(permits.acquire({ deadlineMs: clock.monotonicMs() })).rejects.toMatchObject({
      kind: 'late',
    });
  });

  it('end a wait through an AbortSignal or a cancellation', async () => {
    const permits = pool(1, 10);
    await permits.acquire();
    const controller = new AbortController();
    const aborted = permits.acquire({ cancel: controller.signal });
    const cancellation = new Cancellation();
    const cancelled = permits.acquire({ cancel: cancellation });
    expect(permits.waiting).toBe(2);
    controller.abort(new Error('stop waiting'));
    await expect(aborted).rejects.toThrow('stop waiting');
    cancellation.cancel(new FsError(RpcCode.Cancelled, 'call cancelled'));
    await expect(cancelled).rejects.toThrow('call cancelled');
    expect(permits.waiting).toBe(0);
    // Already cancelled: refused before queueing.
    await expect(permits.acquire({ cancel: controller.signal })).rejects.toThrow('stop waiting');
    permits.release();
    expect(permits.inUse).toBe(0);
  });

  it('close refuses waiters and later acquires, and resolves once every permit is back', async () => {
    const permits = pool(2, 10);
    const release = await permits.hold({ count: 2 });
    const waiting = permits.acquire();
    let closed = false;
    const closing = permits.close(new Error('pool closed')).then(() => (closed = true));
    await expect(waiting).rejects.toThrow('pool closed');
    await expect(permits.acquire()).rejects.toThrow('pool closed');
    await settle();
    expect(closed).toBe(false);
    release();
    await closing;
    expect(closed).toBe(true);
  });

  it('treat a second release of the same permits as a bug', async () => {
    const permits = pool(1, 0);
    const release = await permits.hold();
    release();
    expect(() => release()).toThrow(/released once/);
    expect(() => permits.release(1)).toThrow(/released permits were taken/);
  });
});
