/**
 * Per-chunk write locks of one target. Updates of one chunk run one at a time (the head
 * serializes a chunk's writes, DESIGN §7); the wait queue of a chunk is bounded, and every wait
 * has a deadline, so a hot or stuck chunk answers ChunkBusy instead of piling up requests.
 * Ownership passes directly from the releasing holder to the first waiter, in arrival order.
 */
import type { Clock, TimerHandle } from '../../common/clock.js';
import { FsError, assert } from '../../common/errors.js';
import { StorageCode } from '../../common/status-code.js';

interface Waiter {
  grant: () => void;
  timer: TimerHandle;
}

interface LockState {
  waiters: Waiter[];
}

/** Releases a held lock; calling it twice is a bug. */
export type Release = () => void;

export class ChunkLocks {
  private readonly locks = new Map<string, LockState>();

  constructor(private readonly options: { clock: Clock; waitersMax: number }) {
    assert(Number.isInteger(options.waitersMax) && options.waitersMax >= 0, 'waitersMax is a count');
  }

  /** Takes the lock of `key`, waiting until `deadlineMs` (monotonic) at most. */
  acquire(key: string, deadlineMs: number): Promise<Release> {
    const state = this.locks.get(key);
    if (state === undefined) {
      this.locks.set(key, { waiters: [] });
      return Promise.resolve(this.releaser(key));
    }
    if (state.waiters.length >= this.options.waitersMax) {
      return Promise.reject(
        new FsError(
          StorageCode.ChunkBusy,
          `chunk ${key} already has ${state.waiters.length} writes waiting for it`,
        ),
      );
    }
    const waitMs = deadlineMs - this.options.clock.monotonicMs();
    if (waitMs <= 0) {
      return Promise.reject(
        new FsError(StorageCode.ChunkBusy, `chunk ${key} is locked and the request has no time left`),
      );
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => {
          waiter.timer.cancel();
          resolve(this.releaser(key));
        },
        timer: this.options.clock.setTimer(waitMs, () => {
          const index = state.waiters.indexOf(waiter);
          if (index >= 0) state.waiters.splice(index, 1);
          reject(
            new FsError(
              StorageCode.ChunkBusy,
              `waited ${Math.round(waitMs)} ms for the lock of chunk ${key}`,
            ),
          );
        }),
      };
      state.waiters.push(waiter);
    });
  }

  /** Chunks locked right now (for tests and diagnostics). */
  heldCount(): number {
    return this.locks.size;
  }

  /** Writes waiting for a chunk's lock now, over every chunk (metrics; walks the locked chunks). */
  waitingCount(): number {
    let waiting = 0;
    for (const state of this.locks.values()) waiting += state.waiters.length;
    return waiting;
  }

  private releaser(key: string): Release {
    let released = false;
    return () => {
      assert(!released, `the lock of chunk ${key} is released once`);
      released = true;
      const state = this.locks.get(key);
      assert(state !== undefined, `chunk ${key} is locked when released`);
      const next = state.waiters.shift();
      if (next === undefined) this.locks.delete(key);
      else next.grant();
    };
  }
}
