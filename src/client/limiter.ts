/**
 * Bounds for the client's concurrent work: a Limiter runs at most N tasks at once (chunk I/Os),
 * a ByteBudget hands out at most N bytes at once (buffered writes, read-ahead). Waiters are served
 * in arrival order. Waiting is bounded by whoever waits: every waiter is a request in flight, and
 * those are bounded by the FUSE session and the callers.
 */
import { assert } from '../common/errors.js';

/** Runs at most `max` tasks at once. */
export class Limiter {
  private running = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(private readonly max: number) {
    assert(Number.isInteger(max) && max >= 1, 'a limiter admits at least one task');
  }

  /** Tasks running now. */
  get active(): number {
    return this.running;
  }

  /** Runs `task` once a slot is free. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.max) await new Promise<void>((resolve) => this.waiters.push(resolve));
    else this.running += 1;
    try {
      return await task();
    } finally {
      const next = this.waiters.shift();
      // The slot passes straight to the next waiter, so nobody overtakes it.
      if (next !== undefined) next();
      else this.running -= 1;
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
  private used = 0;
  private readonly waiters: Array<{ bytes: number; resolve: () => void }> = [];

  constructor(readonly max: number) {
    assert(Number.isSafeInteger(max) && max >= 1, 'a byte budget holds at least one byte');
  }

  get inUse(): number {
    return this.used;
  }

  /** Whether someone waits for bytes. */
  get contended(): boolean {
    return this.waiters.length > 0;
  }

  /** Takes `bytes` (capped at the whole budget) if they are free now; returns the bytes taken or 0. */
  tryAcquire(bytes: number): number {
    const wanted = Math.min(bytes, this.max);
    if (this.waiters.length > 0 || this.used + wanted > this.max) return 0;
    this.used += wanted;
    return wanted;
  }

  /** Waits for `bytes` (capped at the whole budget); resolves with the bytes taken. */
  async acquire(bytes: number): Promise<number> {
    const wanted = Math.min(bytes, this.max);
    if (this.tryAcquire(wanted) === wanted) return wanted;
    await new Promise<void>((resolve) => this.waiters.push({ bytes: wanted, resolve }));
    return wanted;
  }

  /** Gives back bytes taken before. */
  release(bytes: number): void {
    assert(bytes >= 0 && bytes <= this.used, 'released bytes were taken');
    this.used -= bytes;
    for (;;) {
      const first = this.waiters[0];
      if (first === undefined || this.used + first.bytes > this.max) return;
      this.waiters.shift();
      this.used += first.bytes;
      first.resolve();
    }
  }
}
