/**
 * Pushes a metric snapshot to the collector once per interval, and never holds more than the one
 * snapshot being sent. Snapshots carry cumulative values (counters since start, gauges now), so a
 * snapshot that is lost costs the collector time resolution, never counts: a push that fails, times
 * out, or is still running when the next one is due is dropped and counted in
 * threefs_monitor_push_drops_total, and the process goes on as if nothing happened.
 *
 * With several collector addresses, pushes go to one and move to the next after a failure.
 */
import type { Clock, TimerHandle } from '../clock.js';
import { FsError, assert, describeError } from '../errors.js';
import type { Logger } from '../logger.js';
import { RpcCode, statusName } from '../status-code.js';
import { metricDefs } from './catalog.js';
import type { MetricsRegistry } from './registry.js';
import type { MetricFamily } from './snapshot.js';

/** Why a snapshot was dropped: the `reason` label of threefs_monitor_push_drops_total. */
export const PushDropReason = {
  /** No collector could be connected to. */
  Unreachable: 'unreachable',
  /** The collector did not answer within the push deadline. */
  Timeout: 'timeout',
  /** The collector answered with an error (bad snapshot, other cluster, shutting down). */
  Rejected: 'rejected',
  /** The previous push was still running when this one was due. */
  Busy: 'busy',
} as const;
export type PushDropReason = (typeof PushDropReason)[keyof typeof PushDropReason];

/** Sends one snapshot to one collector; rejects on any failure. */
export type SnapshotSender = (
  collector: string,
  families: MetricFamily[],
  options: { timeoutMs: number },
) => Promise<void>;

export interface MetricsPusherOptions {
  readonly registry: MetricsRegistry;
  readonly collectors: readonly string[];
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly send: SnapshotSender;
  readonly clock: Clock;
  readonly logger: Logger;
}

const unreachableCodes: ReadonlySet<number> = new Set([RpcCode.ConnectFailed, RpcCode.ConnectionClosed]);

/** Maps a failed push onto its drop reason. */
export function dropReasonOf(error: unknown): PushDropReason {
  if (error instanceof FsError) {
    if (error.code === RpcCode.Timeout) return PushDropReason.Timeout;
    if (unreachableCodes.has(error.code)) return PushDropReason.Unreachable;
  }
  return PushDropReason.Rejected;
}

/** The push loop; see the file comment. */
export class MetricsPusher {
  private timer: TimerHandle | undefined;
  private inFlight: Promise<void> | undefined;
  private collectorIndex = 0;
  private stopped = false;
  private warnedAtMs = Number.NEGATIVE_INFINITY;
  private readonly pushes;
  private readonly drops;
  private readonly duration;

  constructor(private readonly options: MetricsPusherOptions) {
    assert(options.collectors.length > 0, 'a pusher has a collector to push to');
    assert(options.intervalMs > 0, 'the push interval is positive');
    assert(options.timeoutMs > 0 && options.timeoutMs <= options.intervalMs, 'a push ends before the next');
    this.pushes = options.registry.counter(metricDefs.monitorPushes);
    this.drops = options.registry.counter(metricDefs.monitorPushDrops);
    this.duration = options.registry.histogram(metricDefs.monitorPushDuration);
    // Every reason shows from the start, so a dashboard sees 0 rather than no series.
    for (const reason of Object.values(PushDropReason)) this.drops.inc({ reason }, 0);
  }

  /** Starts pushing; the first push happens one interval from now. */
  start(): void {
    this.schedule();
  }

  /** Stops pushing and waits for a push in flight (bounded by its deadline). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    await this.inFlight;
  }

  /** Runs one push round now: drops it if the previous push still runs. For tests and the loop. */
  tick(): Promise<void> {
    if (this.inFlight !== undefined) {
      this.drops.inc({ reason: PushDropReason.Busy });
      return Promise.resolve();
    }
    const push = this.pushOnce().finally(() => {
      this.inFlight = undefined;
    });
    this.inFlight = push;
    return push;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.options.clock.setTimer(this.options.intervalMs, () => {
      void this.tick();
      this.schedule();
    });
  }

  private async pushOnce(): Promise<void> {
    const { clock, collectors } = this.options;
    const collector = collectors[this.collectorIndex % collectors.length] as string;
    const startedMs = clock.monotonicMs();
    try {
      const families = await this.options.registry.snapshot();
      await this.options.send(collector, families, { timeoutMs: this.options.timeoutMs });
      this.pushes.inc();
      this.duration.observe((clock.monotonicMs() - startedMs) / 1000);
    } catch (error) {
      const reason = dropReasonOf(error);
      this.drops.inc({ reason });
      this.collectorIndex += 1;
      this.warnSometimes(collector, reason, error);
    }
  }

  /** At most one warning a minute: an unreachable collector must not flood the log. */
  private warnSometimes(collector: string, reason: PushDropReason, error: unknown): void {
    const nowMs = this.options.clock.monotonicMs();
    if (nowMs - this.warnedAtMs < 60_000) return;
    this.warnedAtMs = nowMs;
    const code = error instanceof FsError ? statusName(error.code) : undefined;
    this.options.logger.warn(
      { collector, reason, code },
      `metric snapshot dropped (${reason}): ${describeError(error)}; the process goes on, drops are counted`,
    );
  }
}
