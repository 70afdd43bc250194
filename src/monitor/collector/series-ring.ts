/**
 * The history of one series: the last `capacity` points (time, value) in two preallocated arrays,
 * so a series never grows past its bound and adding a point allocates nothing.
 */
import { assert } from '../../common/errors.js';

/** A point: wall-clock milliseconds and the value. */
export type Point = [timeMs: number, value: number];

export class SeriesRing {
  private readonly times: Float64Array;
  private readonly values: Float64Array;
  private next = 0;
  private size = 0;

  constructor(readonly capacity: number) {
    assert(Number.isInteger(capacity) && capacity >= 2, 'a series keeps at least two points');
    this.times = new Float64Array(capacity);
    this.values = new Float64Array(capacity);
  }

  /** Appends a point, overwriting the oldest when full. Times are expected not to go backwards. */
  push(timeMs: number, value: number): void {
    this.times[this.next] = timeMs;
    this.values[this.next] = value;
    this.next = (this.next + 1) % this.capacity;
    this.size = Math.min(this.size + 1, this.capacity);
  }

  get length(): number {
    return this.size;
  }

  /** Time of the newest point, or -Infinity when empty. */
  lastTimeMs(): number {
    if (this.size === 0) return Number.NEGATIVE_INFINITY;
    return this.times[(this.next - 1 + this.capacity) % this.capacity] as number;
  }

  /** Points at or after `sinceMs`, oldest first, at most `limit` (the newest ones). */
  points(sinceMs: number, limit: number): Point[] {
    const result: Point[] = [];
    const first = (this.next - this.size + this.capacity) % this.capacity;
    for (let offset = 0; offset < this.size; offset++) {
      const index = (first + offset) % this.capacity;
      const timeMs = this.times[index] as number;
      if (timeMs >= sinceMs) result.push([timeMs, this.values[index] as number]);
    }
    return result.length > limit ? result.slice(result.length - limit) : result;
  }
}
