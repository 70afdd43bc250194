// Proves the asynchronous mutex: one holder, first-come first-served, a bounded queue, abort and close.
import { describe, expect, it } from 'vitest';
import { AssertionError } from '../../../src/common/errors.js';
import { KvCode } from '../../../src/common/status-code.js';
import { AsyncMutex } from '../../../src/kv/async-mutex.js';

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('AsyncMutex', () => {
  it('grants the mutex to one holder at a time, in arrival order', async () => {
    const mutex = new AsyncMutex({ name: 'test', waitersMax: 10 });
    const order: number[] = [];
    const first = await mutex.acquire();
    const waiting = [1, 2, 3].map((index) =>
      mutex.acquire().then((release) => {
        order.push(index);
        return release;
      }),
    );
    await flush();
    expect(order).toEqual([]);
    expect(mutex.waitingCount).toBe(3);
    first();
    for (const next of waiting) (await next)();
    expect(order).toEqual([1, 2, 3]);
    expect(mutex.isHeld).toBe(false);
  });

  it('refuses a waiter beyond the bound with Overloaded instead of queueing it', async () => {
    const mutex = new AsyncMutex({ name: 'test', waitersMax: 1 });
    const release = await mutex.acquire();
    const queued = mutex.acquire();
    await expect(mutex.acquire()).rejects.toMatchObject({ code: KvCode.Overloaded });
    release();
    (await queued)();
  });

  it('lets an aborted waiter leave the queue without taking its turn', async () => {
    const mutex = new AsyncMutex({ name: 'test', waitersMax: 10 });
    const release = await mutex.acquire();
    const controller = new AbortController();
    const leaving = mutex.acquire(controller.signal);
    const staying = mutex.acquire();
    controller.abort(new Error('gave up'));
    await expect(leaving).rejects.toThrow('gave up');
    expect(mutex.waitingCount).toBe(1);
    release();
    (await staying)();
    expect(mutex.isHeld).toBe(false);
  });

  it('close refuses waiters and later callers, and resolves once the holder releases', async () => {
    const mutex = new AsyncMutex({ name: 'test', waitersMax: 10 });
    const release = await mutex.acquire();
    const waiter = mutex.acquire();
    let closed = false;
    const closing = mutex.close(new Error('closed')).then(() => (closed = true));
    await expect(waiter).rejects.toThrow('closed');
    await expect(mutex.acquire()).rejects.toThrow('closed');
    await flush();
    expect(closed).toBe(false);
    release();
    await closing;
    expect(closed).toBe(true);
  });

  it('treats a second release as a bug', async () => {
    const mutex = new AsyncMutex({ name: 'test', waitersMax: 1 });
    const release = await mutex.acquire();
    release();
    expect(() => release()).toThrow(AssertionError);
  });
});
