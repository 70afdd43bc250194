/**
 * Bounds for the client's concurrent work: a Limiter runs at most N tasks at once (chunk I/Os),
 * a ByteBudget hands out at most N bytes at once (buffered writes, read-ahead). Both are pools of
 * permits (common/permits.ts): waiters are served in arrival order, and at most
 * limits.clientWaitersMax may wait at once (Client.Overloaded beyond: callers bound their waits
 * long before, so only a runaway one meets it).
 */
import { assert } from '../common/errors.js';
import { limits } from '../common/limits.js';
import { Permits } from '../common/permits.js';
import { ClientCode } from '../common/status-code.js';

/** Runs at most `max` tasks at once. */
export class Limiter {
  private readonly slots: Permits;

  constructor(max: number, waitersMax: number = limits.clientWaitersMax) {
    assert(Number.isInteger(max) && max >= 1, 'a limiter admits at least one task');
    this.slots = new Permits({
      name: `the client's ${max} concurrent chunk I/Os`,
      permits: max,
      waitersMax,
      code: ClientCode.Overloaded,
    });
  }

  /** Tasks running now. */
  get active(): number {
    return this.slots.inUse;
  }

  /** Runs `task` once a slot is free. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (!this.slots.tryAcquire()) await this.slots.acquire();
    try {
      return await task();
    } finally {
      // The slot passes straight to the next waiter, so nobody overtakes it.
      this.slots.release();
    }
  }
}

/** Runs `task` for every item, at most `concurrency` at once; rejects with the first failure after all settled. */
export async function forEachLimited<T>(
  items: readonly T[],
  concurrency: number,
  task: (item: T, index: number) => Promise<void>,
): Promise<void> {
  assert(Number.isInteger(concurrency) && concurrency >= 1, 'concurrency is at least one');
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      try {
        await task(items[index] as T, index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  if (failure !== undefined) throw failure.error;
}

/** Hands out at most `max` bytes at once; a request larger than `max` waits for all of it. */
export class ByteBudget {
  private readonly bytes: Permits;

  constructor(
    readonly max: number,
    waitersMax: number = limits.clientWaitersMax,
  ) {
    assert(Number.isSafeInteger(max) && max >= 1, 'a byte budget holds at least one byte');
    this.bytes = new Permits({
      name: `the client's budget of ${max} bytes`,
      permits: max,
      waitersMax,
      code: ClientCode.Overloaded,
    });
  }

  get inUse(): number {
    return this.bytes.inUse;
  }

  /** Whether someone waits for bytes. */
  get contended(): boolean {
    return this.bytes.waiting > 0;
  }

  /** Takes `bytes` (capped at the whole budget) if they are free now; returns the bytes taken or 0. */
  tryAcquire(bytes: number): number {
    const wanted = Math.min(bytes, this.max);
    if (wanted === 0) return 0;
    return this.bytes.tryAcquire(wanted) ? wanted : 0;
  }

  /** Waits for `bytes` (capped at the whole budget); resolves with the bytes taken. */
  async acquire(bytes: number): Promise<number> {
    const wanted = Math.min(bytes, this.max);
    if (wanted === 0) return 0;
    await this.bytes.acquire({ count: wanted });
    return wanted;
  }

  /** Gives back bytes taken before. */
  release(bytes: number): void {
    assert(bytes >= 0 && bytes <= this.bytes.inUse, 'released bytes were taken');
    this.bytes.release(bytes);
  }
}
