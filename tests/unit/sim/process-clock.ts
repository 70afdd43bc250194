// The clock of one simulated process: the scheduler's time seen through the process's own skew (an
// offset of its wall clock, and a rate within a few percent of true time, as a drifting quartz or a
// slewing NTP gives), and timers that never fire once the process incarnation they belong to died.
import type { Clock, TimerHandle } from '../../../src/common/clock.js';
import type { SimScheduler } from './scheduler.js';

export interface ClockSkew {
  /** Added to the wall clock (nowMs); monotonic time starts at 0 at each process start. */
  readonly offsetMs: number;
  /** Local milliseconds per simulated millisecond. */
  readonly rate: number;
}

export const noSkew: ClockSkew = { offsetMs: 0, rate: 1 };

/** How far past its due time (in simulated milliseconds) a timer fires. */
const timerSlackMs = 1e-3;

/** Wall-clock origin of the simulation (any fixed instant). */
const epochMs = 1_700_000_000_000;

export class ProcessClock implements Clock {
  private readonly startedAtMs: number;

  constructor(
    private readonly scheduler: SimScheduler,
    private readonly skew: ClockSkew,
    /** False once the process incarnation this clock belongs to has died. */
    private readonly alive: () => boolean,
  ) {
    this.startedAtMs = scheduler.nowMs();
  }

  nowMs(): number {
    return Math.floor(epochMs + this.skew.offsetMs + this.scheduler.nowMs() * this.skew.rate);
  }

  monotonicMs(): number {
    return (this.scheduler.nowMs() - this.startedAtMs) * this.skew.rate;
  }

  setTimer(delayMs: number, callback: () => void): TimerHandle {
    // A little past the due time, so the process's own clock has surely reached it when the timer
    // fires (real timers round up to whole milliseconds; floating point must not round down).
    const globalDelayMs = delayMs <= 0 ? 0 : delayMs / this.skew.rate + timerSlackMs;
    return this.scheduler.setTimer(globalDelayMs, () => {
      if (this.alive()) callback();
    });
  }

  sleep(delayMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const onAbort = (): void => {
        timer.cancel();
        reject(signal?.reason);
      };
      const timer = this.setTimer(delayMs, () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
