// Formatting shared by the benchmarks: ours beside the baseline, with the ratio.

/** Prints one line: the workload, our rate, the baseline's rate and ours as a fraction of it. */
export function reportRatio(options: {
  workload: string;
  unit: string;
  ours: number;
  baselineName: string;
  baseline: number;
}): void {
  const ratio = options.baseline > 0 ? options.ours / options.baseline : Number.NaN;
  console.log(
    `${options.workload.padEnd(44)} ours ${format(options.ours)} ${options.unit}   ` +
      `${options.baselineName} ${format(options.baseline)} ${options.unit}   ratio ${ratio.toFixed(3)}`,
  );
}

function format(value: number): string {
  return value >= 100 ? value.toFixed(0) : value.toFixed(2);
}
