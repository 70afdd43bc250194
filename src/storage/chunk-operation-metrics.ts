/**
 * Errors and latencies of the chunk operations a storage process serves (catalogue, storage part):
 * reads, writes (a client's at the head and those forwarded along the chain, the forward included),
 * recovery's copies arriving at a syncing target, and syncs of a target's store to stable storage.
 * Unlike the counters of storage-metrics.ts, which are read from the service's own tallies, these
 * are recorded as each operation ends: one observation of the operation's histogram series (bound
 * once; see registry.ts), and a counter increment only when the operation fails. Without a registry (tests, tools) nothing is recorded.
 */
import type { Clock } from '../common/clock.js';
import { FsError } from '../common/errors.js';
import { metricDefs, type MetricsRegistry, type ObserveSeries } from '../common/metrics/index.js';

const duration = metricDefs.storageChunkOperationDuration;
import { CommonCode, statusName } from '../common/status-code.js';

/** The operations timed, as the `operation` label names them. */
export const ChunkOperation = { Read: 'read', Write: 'write', Recover: 'recover', Sync: 'sync' } as const;
export type ChunkOperation = (typeof ChunkOperation)[keyof typeof ChunkOperation];

type Instruments = {
  readonly errors: ReturnType<MetricsRegistry['counter']>;
  readonly duration: Readonly<Record<ChunkOperation, ObserveSeries>>;
};

export class ChunkOperationMetrics {
  private readonly instruments: Instruments | undefined;

  constructor(
    registry: MetricsRegistry | undefined,
    private readonly clock: Clock,
  ) {
    this.instruments =
      registry === undefined
        ? undefined
        : {
            errors: registry.counter(metricDefs.storageChunkOperationErrors),
            duration: {
              read: registry.histogramSeries(duration, { operation: ChunkOperation.Read }),
              write: registry.histogramSeries(duration, { operation: ChunkOperation.Write }),
              recover: registry.histogramSeries(duration, { operation: ChunkOperation.Recover }),
              sync: registry.histogramSeries(duration, { operation: ChunkOperation.Sync }),
            },
          };
  }

  /** The start time to pass to `observe`, taken before the operation begins. */
  startMs(): number {
    return this.clock.monotonicMs();
  }

  /** Records `work`, an operation on `targetId` that began at `startedMs`, when it ends. */
  observe<T>(operation: ChunkOperation, targetId: number, startedMs: number, work: Promise<T>): Promise<T> {
    const instruments = this.instruments;
    if (instruments === undefined) return work;
    return work.then(
      (result) => {
        instruments.duration[operation].observe(this.secondsSince(startedMs));
        return result;
      },
      (error: unknown) => {
        instruments.duration[operation].observe(this.secondsSince(startedMs));
        const code = error instanceof FsError ? error.code : CommonCode.Internal;
        instruments.errors.inc({ target: targetId, operation, code: statusName(code) });
        throw error;
      },
    );
  }

  private secondsSince(startedMs: number): number {
    return (this.clock.monotonicMs() - startedMs) / 1000;
  }
}
