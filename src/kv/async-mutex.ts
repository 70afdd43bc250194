/**
 * A first-in first-out asynchronous mutex with a bounded queue: at most one holder at a time,
 * at most `waitersMax` callers waiting. A full queue refuses at once (back-pressure) instead of
 * growing, a waiter can leave the queue through its AbortSignal, and `close` refuses everyone
 * still waiting. Release hands the mutex straight to the next waiter, so no one can overtake.
 */
import { FsError, assert } from '../common/errors.js';
import { KvCode } from '../common/status-code.js';

interface Waiter {
  grant: (release: () => void) => void;
  refuse: (reason: unknown) => void;
}

/** A function that gives the mutex back; call it exactly once. */
export type MutexRelease = () => void;

export class AsyncMutex {
  private held = false;
  private closedReason: Error | undefined;
  private readonly waiters: Waiter[] = [];
  private readonly idleListeners: Array<() => void> = [];

  /** `name` appears in error messages; `waitersMax` bounds the queue. */
  constructor(private readonly options: { name: string; waitersMax: number }) {
    assert(Number.isSafeInteger(options.waitersMax) && options.waitersMax >= 0, 'waitersMax is a count');
  }

  /** Callers waiting for the mutex now (not counting the holder). */
  get waitingCount(): number {
    return this.waiters.length;
  }

  /** True while someone holds the mutex. */
  get isHeld(): boolean {
    return this.held;
  }

  /** Resolves with a release function once the caller holds the mutex. */
  acquire(signal?: AbortSignal): Promise<MutexRelease> {
    if (this.closedReason) return Promise.reject(this.closedReason);
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (!this.held) {
      this.held = true;
      return Promise.resolve(this.releaseOnce());
    }
    if (this.waiters.length >= this.options.waitersMax) {
      return Promise.reject(
        new FsError(
          KvCode.Overloaded,
          `${this.options.name}: ${this.waiters.length} transactions already wait, the limit is ${this.options.waitersMax}`,
        ),
      );
    }
    return new Promise<MutexRelease>((resolve, reject) => {
      const onAbort = (): void => {
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) this.waiters.splice(index, 1);
        reject(signal?.reason);
      };
      const waiter: Waiter = {
        grant: (release) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(release);
        },
        refuse: (reason) => {
          signal?.removeEventListener('abort', onAbort);
          reject(reason);
        },
      };
      this.waiters.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Refuses every waiter and every later acquire with `reason`; resolves once the holder, which
   * keeps the mutex until it is done, has released it.
   */
  close(reason: Error): Promise<void> {
    this.closedReason = reason;
    for (const waiter of this.waiters.splice(0)) waiter.refuse(reason);
    if (!this.held) return Promise.resolve();
    return new Promise((resolve) => this.idleListeners.push(resolve));
  }

  private releaseOnce(): MutexRelease {
    let released = false;
    return () => {
      assert(!released, `${this.options.name}: mutex released twice`);
      released = true;
      const next = this.waiters.shift();
      if (next) {
        next.grant(this.releaseOnce());
      } else {
        this.held = false;
        for (const listener of this.idleListeners.splice(0)) listener();
      }
    };
  }
}
