/**
 * A token bucket over bytes that paces recovery: copies take tokens before they start, tokens
 * come back at `bytesPerSecond`, and at most a quarter second's worth is saved up, so recovery
 * never bursts far above its share. A copy larger than the bucket takes it into debt and the next
 * taker waits the debt off. Takers are served in arrival order. Time comes from the injected Clock.
 */
import type { Clock } from '../../common/clock.js';
import { assert } from '../../common/errors.js';

/** Seconds of tokens the bucket keeps at most. */
const burstSeconds = 0.25;

export class BandwidthLimiter {
  private tokens: number;
  private refilledAtMs: number;
  private queue: Promise<void> = Promise.resolve();
  private readonly capacity: number;

  constructor(private readonly options: { clock: Clock; bytesPerSecond: number }) {
    assert(Number.isFinite(options.bytesPerSecond) && options.bytesPerSecond > 0, 'a positive rate');
    this.capacity = options.bytesPerSecond * burstSeconds;
    this.tokens = this.capacity;
    this.refilledAtMs = options.clock.monotonicMs();
  }

  /** Waits until `bytes` may be sent; rejects with the signal's reason when aborted. */
  take(bytes: number, signal?: AbortSignal): Promise<void> {
    assert(Number.isFinite(bytes) && bytes >= 0, 'a byte count');
    const turn = this.queue.then(() => this.takeNow(bytes, signal));
    // A taker that was aborted does not hold up the ones behind it.
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  private async takeNow(bytes: number, signal: AbortSignal | undefined): Promise<void> {
    signal?.throwIfAborted();
    this.refill();
    if (this.tokens < 0) {
      await this.options.clock.sleep(this.waitMs(-this.tokens), signal);
      this.refill();
    }
    this.tokens -= bytes;
  }

  private waitMs(deficit: number): number {
    return Math.ceil((deficit / this.options.bytesPerSecond) * 1000);
  }

  private refill(): void {
    const nowMs = this.options.clock.monotonicMs();
    const elapsedMs = Math.max(0, nowMs - this.refilledAtMs);
    this.refilledAtMs = nowMs;
    this.tokens = Math.min(this.capacity, this.tokens + (elapsedMs / 1000) * this.options.bytesPerSecond);
  }
}
