// A logger for the simulated services that writes nothing but counts the log lines that show a
// schedule exercised a rare path (an update settled, a chunk repaired, a local write that failed
// after its forward). Only info and louder lines are formatted, and those are rare.
import { pino } from 'pino';
import type { Logger } from '../../../src/common/logger.js';

export interface LogCounts {
  settled: number;
  localWriteFailures: number;
  repaired: number;
  recoveryPasses: number;
  wholeChunkFallbacks: number;
}

const counted: ReadonlyArray<[string, keyof LogCounts]> = [
  ['settling an update left pending', 'settled'],
  ['a local write failed while its update went on', 'localWriteFailures'],
  ['repairing a chunk a successor may hold ahead', 'repaired'],
  ['recovery done: the successor was told', 'recoveryPasses'],
  ['successor cannot apply the update to its copy', 'wholeChunkFallbacks'],
];

export function countingLogger(counts: LogCounts): Logger {
  return pino(
    { level: 'info' },
    {
      write(line: string) {
        for (const [text, key] of counted) if (line.includes(text)) counts[key] += 1;
      },
    },
  );
}
