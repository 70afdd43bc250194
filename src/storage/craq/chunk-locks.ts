/**
 * Per-chunk write locks of one target. Updates of one chunk run one at a time (the head
 * serializes a chunk's writes, DESIGN §7); the wait queue of a chunk is bounded, and every wait
 * has a deadline, so a hot or stuck chunk answers ChunkBusy instead of piling up requests.
 * Ownership passes directly from the releasing holder to the first waiter, in arrival order.
 * Each locked chunk is a pool of one permit (common/permits.ts), dropped when nobody holds or
 * waits for it.
 */
import type { Clock } from '../../common/clock.js';
import { assert } from '../../common/errors.js';
import { Permits, type Release } from '../../common/permits.js';
import { StorageCode } from '../../common/status-code.js';

export type { Release } from '../../common/permits.js';

export class ChunkLocks {
  private readonly locks = new Map<string, Permits>();

  constructor(private readonly options: { clock: Clock; waitersMax: number }) {
    assert(Number.isInteger(options.waitersMax) && options.waitersMax >= 0, 'waitersMax is a count');
  }

  /** Takes the lock of `key`, waiting until `deadlineMs` (monotonic) at most. */
  async acquire(key: string, deadlineMs: number): Promise<Release> {
    let lock = this.locks.get(key);
    if (lock === undefined) {
      lock = new Permits({
        name: `the lock of chunk ${key}`,
        permits: 1,
        waitersMax: this.options.waitersMax,
        code: StorageCode.ChunkBusy,
        clock: this.options.clock,
      });
      this.locks.set(key, lock);
    }
    try {
      await lock.acquire({ deadlineMs });
    } catch (error) {
      this.dropIfIdle(key, lock);
      throw error;
    }
    const release = lock.releaser();
    return () => {
      release();
      this.dropIfIdle(key, lock);
    };
  }

  /** Chunks locked right now (for tests and diagnostics). */
  heldCount(): number {
    return this.locks.size;
  }

  /** Writes waiting for a chunk's lock now, over every chunk (metrics; walks the locked chunks). */
  waitingCount(): number {
    let waiting = 0;
    for (const lock of this.locks.values()) waiting += lock.waiting;
    return waiting;
  }

  private dropIfIdle(key: string, lock: Permits): void {
    if (lock.inUse === 0 && lock.waiting === 0 && this.locks.get(key) === lock) this.locks.delete(key);
  }
}
