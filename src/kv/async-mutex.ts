/**
 * A first-in first-out asynchronous mutex with a bounded queue: at most one holder at a time,
 * at most `waitersMax` callers waiting. A full queue refuses at once (back-pressure) instead of
 * growing, a waiter can leave the queue through its AbortSignal, and `close` refuses everyone
 * still waiting. Release hands the mutex straight to the next waiter, so no one can overtake.
 * It is a pool of one permit (common/permits.ts).
 */
import { Permits, type Release } from '../common/permits.js';
import { KvCode } from '../common/status-code.js';

/** A function that gives the mutex back; call it exactly once. */
export type MutexRelease = Release;

export class AsyncMutex {
  private readonly permit: Permits;

  /** `name` appears in error messages; `waitersMax` bounds the queue. */
  constructor(options: { name: string; waitersMax: number }) {
    this.permit = new Permits({
      name: `${options.name} (transactions waiting)`,
      permits: 1,
      waitersMax: options.waitersMax,
      code: KvCode.Overloaded,
    });
  }

  /** Callers waiting for the mutex now (not counting the holder). */
  get waitingCount(): number {
    return this.permit.waiting;
  }

  /** True while someone holds the mutex. */
  get isHeld(): boolean {
    return this.permit.inUse > 0;
  }

  /** Resolves with a release function once the caller holds the mutex. */
  acquire(signal?: AbortSignal): Promise<MutexRelease> {
    return this.permit.hold(signal === undefined ? {} : { cancel: signal });
  }

  /**
   * Refuses every waiter and every later acquire with `reason`; resolves once the holder, which
   * keeps the mutex until it is done, has released it.
   */
  close(reason: Error): Promise<void> {
    return this.permit.close(reason);
  }
}
