// The simulation's time: a discrete-event scheduler that implements the Clock interface. Events run
// in (due time, creation order), and after each one every promise continuation it caused runs
// before the next event (a macrotask turn drains the microtask queue), so the async code of the
// simulated nodes interleaves the same way on every run with the same seed.
import type { Clock, TimerHandle } from '../../../src/common/clock.js';

interface SimEvent {
  atMs: number;
  sequence: number;
  run: () => void;
  cancelled: boolean;
}

/** Resolves after every microtask queued so far, and those they queue, have run. */
function drainMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class SimScheduler implements Clock {
  private nowValue = 0;
  private sequence = 0;
  private readonly heap: SimEvent[] = [];
  /** Events run so far (for the report). */
  eventsRun = 0;

  nowMs(): number {
    return this.nowValue;
  }

  monotonicMs(): number {
    return this.nowValue;
  }

  setTimer(delayMs: number, callback: () => void): TimerHandle {
    const event: SimEvent = {
      atMs: this.nowValue + Math.max(0, delayMs),
      sequence: this.sequence++,
      run: callback,
      cancelled: false,
    };
    this.push(event);
    return { cancel: () => (event.cancelled = true) };
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

  /** Runs events due up to `untilMs`, stopping early once `stop` holds after an event. */
  async runUntil(untilMs: number, stop?: () => boolean): Promise<void> {
    for (;;) {
      const next = this.heap[0];
      if (next === undefined || next.atMs > untilMs) break;
      this.pop();
      if (next.cancelled) continue;
      this.nowValue = next.atMs;
      this.eventsRun += 1;
      next.run();
      await drainMicrotasks();
      if (stop?.()) return;
    }
    this.nowValue = Math.max(this.nowValue, untilMs);
  }

  private push(event: SimEvent): void {
    const heap = this.heap;
    heap.push(event);
    let index = heap.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!before(heap[index] as SimEvent, heap[parent] as SimEvent)) break;
      [heap[index], heap[parent]] = [heap[parent] as SimEvent, heap[index] as SimEvent];
      index = parent;
    }
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop();
    if (last === undefined || heap.length === 0) return;
    heap[0] = last;
    let index = 0;
    for (;;) {
      const left = index * 2 + 1;
      const right = left + 1;
      let smallest = index;
      if (left < heap.length && before(heap[left] as SimEvent, heap[smallest] as SimEvent)) smallest = left;
      if (right < heap.length && before(heap[right] as SimEvent, heap[smallest] as SimEvent))
        smallest = right;
      if (smallest === index) return;
      [heap[index], heap[smallest]] = [heap[smallest] as SimEvent, heap[index] as SimEvent];
      index = smallest;
    }
  }
}

function before(a: SimEvent, b: SimEvent): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.sequence < b.sequence);
}
