// Proves the dashboard's cluster curves: counter rates summed across processes on a time grid,
// counter resets taken as restarts, and mean latency from histogram sums and counts.
import { describe, expect, it } from 'vitest';
import {
  gridTimes,
  latestSum,
  meanFromHistogram,
  summedRate,
  timeGrid,
} from '../../../src/monitor/collector/derived-series.js';
import type { SeriesData } from '../../../src/monitor/collector/sample-store.js';

function series(points: [number, number][]): SeriesData {
  return { name: 'x', labels: {}, points };
}

describe('derived series', () => {
  it('aligns a grid to its step', () => {
    const grid = timeGrid(10_500, 14_000, 1_000);
    expect(gridTimes(grid)).toEqual([10_000, 11_000, 12_000, 13_000, 14_000]);
  });

  it('sums the per-second rates of several processes per bucket', () => {
    const grid = timeGrid(0, 3_000, 1_000);
    const first = series([
      [0, 0],
      [1_000, 10],
      [2_000, 30],
    ]);
    const second = series([
      [500, 100],
      [1_500, 105],
      [2_500, 110],
    ]);
    expect(summedRate([first, second], grid)).toEqual([null, 15, 25, null]);
  });

  it('takes a counter that went down as a restart from zero', () => {
    const grid = timeGrid(0, 2_000, 1_000);
    const restarted = series([
      [0, 50],
      [1_000, 60],
      [2_000, 4],
    ]);
    expect(summedRate([restarted], grid)).toEqual([null, 10, 4]);
  });

  it('computes the mean of a histogram from its sum and count increases', () => {
    const grid = timeGrid(0, 2_000, 1_000);
    const sums = [
      series([
        [0, 0],
        [1_000, 0.5],
        [2_000, 0.5],
      ]),
    ];
    const counts = [
      series([
        [0, 0],
        [1_000, 100],
        [2_000, 100],
      ]),
    ];
    // 0.5 s over 100 observations: 5 ms each; nothing observed in the last bucket.
    expect(meanFromHistogram(sums, counts, grid, 1000)).toEqual([null, 5, null]);
  });

  it('sums the latest values of gauges', () => {
    expect(
      latestSum([
        series([[1, 2]]),
        series([
          [1, 3],
          [2, 4],
        ]),
      ]),
    ).toBe(6);
    expect(latestSum([])).toBeUndefined();
  });
});
