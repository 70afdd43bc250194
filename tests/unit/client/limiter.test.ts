// Proves the client's bounds: a limiter never runs more tasks than allowed and serves waiters in order; a byte budget never hands out more than it holds.
import { describe, expect, it } from 'vitest';
import { ByteBudget, Limiter, forEachLimited } from '../../../src/client/limiter.js';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('Limiter', () => {
  it('runs at most its maximum at once, in arrival order', async () => {
    const limiter = new Limiter(2);
    let running = 0;
    let peak = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 8 }, (_, index) =>
        limiter.run(async () => {
          order.push(index);
          running += 1;
          peak = Math.max(peak, running);
          await tick();
          running -= 1;
        }),
      ),
    );
    expect(peak).toBe(2);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(limiter.active).toBe(0);
  });

  it('frees the slot of a task that failed', async () => {
    const limiter = new Limiter(1);
    await expect(limiter.run(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await limiter.run(async () => 5)).toBe(5);
  });
});

describe('forEachLimited', () => {
  it('visits every item and reports the first failure after all settled', async () => {
    const seen: number[] = [];
    await expect(
      forEachLimited([1, 2, 3, 4], 2, async (item) => {
        await tick();
        seen.push(item);
        if (item === 2) throw new Error('two');
      }),
    ).rejects.toThrow('two');
    expect(seen.sort()).toEqual([1, 2, 3, 4]);
  });
});

describe('ByteBudget', () => {
  it('makes takers wait until bytes come back, first come first served', async () => {
    const budget = new ByteBudget(100);
    expect(budget.tryAcquire(60)).toBe(60);
    const order: string[] = [];
    const big = budget.acquire(80).then(() => order.push('big'));
    const small = budget.acquire(10).then(() => order.push('small'));
    await tick();
    expect(order).toEqual([]);
    // A later small request does not overtake the waiting one.
    expect(budget.tryAcquire(10)).toBe(0);
    budget.release(60);
    await Promise.all([big, small]);
    expect(order).toEqual(['big', 'small']);
    expect(budget.inUse).toBe(90);
  });

  it('caps a request larger than the whole budget at the budget', async () => {
    const budget = new ByteBudget(10);
    expect(await budget.acquire(50)).toBe(10);
    expect(() => budget.release(11)).toThrow();
  });
});
