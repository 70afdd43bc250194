// Proves the in-flight bound holds, the wait queue is bounded, and waiters leave on abort or close.
import { describe, expect, it } from 'vitest';
import { FsError } from '../../../src/common/errors.js';
import { RpcCode } from '../../../src/common/status-code.js';
import { Cancellation } from '../../../src/rpc/cancellation.js';
import { InflightLimiter } from '../../../src/rpc/inflight-limiter.js';

const never = new Cancellation();

describe('inflight limiter', () => {
  it('grants slots up to the bound and queues the rest in order', async () => {
    const limiter = new InflightLimiter({ inflightMax: 2, queuedMax: 5 });
    const first = await limiter.acquire(never);
    await limiter.acquire(never);
    const order: number[] = [];
    const third = limiter.acquire(never).then((release) => {
      order.push(3);
      return release;
    });
    const fourth = limiter.acquire(never).then(() => order.push(4));
    expect(limiter.inflight).toBe(2);
    expect(limiter.queued).toBe(2);
    expect(limiter.tryAcquire()).toBeUndefined();
    first();
    // A second release of the same slot is a bug, and says so instead of freeing another's slot.
    expect(() => first()).toThrow(/released once/);
    (await third)();
    await fourth;
    expect(order).toEqual([3, 4]);
    expect(limiter.inflight).toBe(2);
  });

  it('answers Overloaded at once when the queue is full', async () => {
    const limiter = new InflightLimiter({ inflightMax: 1, queuedMax: 1 });
    await limiter.acquire(never);
    void limiter.acquire(never);
    await expect(limiter.acquire(never)).rejects.toMatchObject({ code: RpcCode.Overloaded });
  });

  it('removes a waiter whose call is cancelled', async () => {
    const limiter = new InflightLimiter({ inflightMax: 1, queuedMax: 1 });
    await limiter.acquire(never);
    const cancellation = new Cancellation();
    const waiting = limiter.acquire(cancellation);
    cancellation.cancel(new FsError(RpcCode.Timeout, 'too slow'));
    await expect(waiting).rejects.toMatchObject({ code: RpcCode.Timeout });
    expect(limiter.queued).toBe(0);
  });

  it('rejects every waiter and later acquire once closed', async () => {
    const limiter = new InflightLimiter({ inflightMax: 1, queuedMax: 3 });
    await limiter.acquire(never);
    const waiting = limiter.acquire(never);
    limiter.close(new FsError(RpcCode.ConnectionClosed, 'gone'));
    await expect(waiting).rejects.toMatchObject({ code: RpcCode.ConnectionClosed });
    await expect(limiter.acquire(never)).rejects.toMatchObject({ code: RpcCode.ConnectionClosed });
  });
});
