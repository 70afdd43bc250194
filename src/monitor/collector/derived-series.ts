/**
 * Cluster-wide curves for the dashboard, computed from per-process history on a common time grid:
 * the summed per-second rate of counters, and mean latencies from histogram `_sum`/`_count`
 * series. Pure functions; a counter that goes down is taken as a process restart (its new value
 * is the increase since).
 */
import type { SeriesData } from './sample-store.js';

/** A grid of bucket start times: [startMs, startMs + stepMs, …] up to endMs. */
export interface TimeGrid {
  readonly startMs: number;
  readonly stepMs: number;
  readonly buckets: number;
}

/** Buckets of `stepMs` covering sinceMs..nowMs, aligned to multiples of the step. */
export function timeGrid(sinceMs: number, nowMs: number, stepMs: number): TimeGrid {
  const startMs = Math.floor(sinceMs / stepMs) * stepMs;
  const buckets = Math.max(1, Math.floor((nowMs - startMs) / stepMs) + 1);
  return { startMs, stepMs, buckets };
}

/** The bucket times of a grid. */
export function gridTimes(grid: TimeGrid): number[] {
  return Array.from({ length: grid.buckets }, (_, index) => grid.startMs + index * grid.stepMs);
}

function bucketOf(grid: TimeGrid, timeMs: number): number | undefined {
  const index = Math.floor((timeMs - grid.startMs) / grid.stepMs);
  return index >= 0 && index < grid.buckets ? index : undefined;
}

/** Increase between two counter readings: a drop means the process restarted from zero. */
function increase(previous: number, current: number): number {
  return current >= previous ? current - previous : current;
}

/**
 * Per-bucket sum over `series` of each series' counter increase, with the time the increases
 * span; a bucket no series reported in stays undefined.
 */
function increases(series: readonly SeriesData[], grid: TimeGrid): { delta: number; spanMs: number }[] {
  const buckets: { delta: number; spanMs: number }[] = [];
  for (const one of series) {
    const seen = new Map<number, { delta: number; spanMs: number }>();
    for (let index = 1; index < one.points.length; index++) {
      const [previousMs, previousValue] = one.points[index - 1] as [number, number];
      const [timeMs, value] = one.points[index] as [number, number];
      const bucket = bucketOf(grid, timeMs);
      if (bucket === undefined || timeMs <= previousMs) continue;
      const entry = seen.get(bucket) ?? { delta: 0, spanMs: 0 };
      entry.delta += increase(previousValue, value);
      entry.spanMs += timeMs - previousMs;
      seen.set(bucket, entry);
    }
    for (const [bucket, entry] of seen) {
      const total = buckets[bucket] ?? { delta: 0, spanMs: 0 };
      // Rates add across series; each series contributes its own increase per second.
      total.delta += (entry.delta * 1000) / entry.spanMs;
      total.spanMs = 1000;
      buckets[bucket] = total;
    }
  }
  return buckets;
}

/** The cluster-wide rate (per second) of the counters in `series`, per grid bucket; null: no data. */
export function summedRate(series: readonly SeriesData[], grid: TimeGrid): (number | null)[] {
  const buckets = increases(series, grid);
  return Array.from({ length: grid.buckets }, (_, index) => buckets[index]?.delta ?? null);
}

/**
 * Mean of a histogram per bucket, across all its series: the increase of `_sum` over the increase
 * of `_count`, times `scale` (1000 turns seconds into milliseconds); null where nothing was observed.
 */
export function meanFromHistogram(
  sums: readonly SeriesData[],
  counts: readonly SeriesData[],
  grid: TimeGrid,
  scale: number,
): (number | null)[] {
  const sumRates = summedRate(sums, grid);
  const countRates = summedRate(counts, grid);
  return sumRates.map((sum, index) => {
    const count = countRates[index];
    if (sum === null || count === null || count === undefined || count <= 0) return null;
    return (sum / count) * scale;
  });
}

/** The latest value of each series, summed; undefined when there is none. */
export function latestSum(series: readonly SeriesData[]): number | undefined {
  let total: number | undefined;
  for (const one of series) {
    const last = one.points[one.points.length - 1];
    if (last !== undefined) total = (total ?? 0) + last[1];
  }
  return total;
}
