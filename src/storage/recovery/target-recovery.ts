/**
 * Recovery of returning targets, on the side of their predecessors (DESIGN §7). Each routing
 * update tells the manager which syncing targets directly follow a target of this process; the
 * manager keeps exactly one recovery pass (chain-sync.ts) running for each, under the chain version
 * it was started with, as recovery-plan.ts decides: this file starts and aborts the passes, arms
 * the retry timer and keeps the memory the plan reads (running passes, completed ones, waits).
 *
 * Every pass shares one bandwidth limiter, so recovery as a whole stays within
 * recovery_bandwidth_bytes_per_s however many targets sync at once.
 */
import type { Clock, TimerHandle } from '../../common/clock.js';
import { FsError, describeError } from '../../common/errors.js';
import { limits } from '../../common/limits.js';
import type { Logger } from '../../common/logger.js';
import { StorageCode } from '../../common/status-code.js';
import type { RpcCaller, RpcHandlers } from '../../rpc/index.js';
import type { Replicator } from '../craq/replicator.js';
import { storageMethods, type RecoveryProgress } from '../protocol/index.js';
import type { RoutingCache } from '../../cluster/index.js';
import type { TargetRegistry } from '../storage-target.js';
import { BandwidthLimiter } from './bandwidth-limiter.js';
import { defaultRecoveryTimings, runChainSync, type RecoveryTimings } from './chain-sync.js';
import { planRecoveries, successorKey, type SyncingSuccessor } from './recovery-plan.js';
import { RecoveryProgressTracker } from './recovery-progress.js';

export type { SyncingSuccessor } from './recovery-plan.js';

/** What the storage node needs of recovery. */
export interface TargetRecovery {
  /** Every syncing successor of this process's targets in the latest routing info (all of them, each time). */
  syncingSuccessors(successors: readonly SyncingSuccessor[]): void;
  /** Recoveries running now and the last few finished. */
  progress(): RecoveryProgress[];
  /** Aborts every pass and waits for them to end. */
  stop(): Promise<void>;
}

export interface RecoveryManagerOptions {
  readonly nodeId: number;
  readonly targets: TargetRegistry;
  readonly routing: RoutingCache;
  readonly replicator: Replicator;
  readonly rpc: RpcCaller;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly bandwidthBytesPerSecond: number;
  readonly concurrency: number;
  readonly chunkSizeMaxBytes: number;
  /** Deadlines, attempts and waits (defaultRecoveryTimings when absent). */
  readonly timings?: RecoveryTimings;
}

interface Run {
  readonly successor: SyncingSuccessor;
  readonly controller: AbortController;
  readonly tracker: RecoveryProgressTracker;
  readonly ended: Promise<void>;
}

export class RecoveryManager implements TargetRecovery {
  private readonly logger: Logger;
  private readonly limiter: BandwidthLimiter;
  /** Running passes by syncing target id. */
  private readonly runs = new Map<number, Run>();
  /** Passes that completed, by successorKey: not run again under the same chain version. */
  private readonly completed = new Set<string>();
  /** Syncing targets whose last pass failed, until when they wait before the next. */
  private readonly backoffUntilMs = new Map<number, number>();
  private finished: RecoveryProgress[] = [];
  private wanted: readonly SyncingSuccessor[] = [];
  private retryTimer: TimerHandle | undefined;
  private stopped = false;

  constructor(private readonly options: RecoveryManagerOptions) {
    this.logger = options.logger.child({ component: 'recovery' });
    this.limiter = new BandwidthLimiter({
      clock: options.clock,
      bytesPerSecond: options.bandwidthBytesPerSecond,
    });
  }

  /** Serves Storage.recoveryProgress. */
  register(server: RpcHandlers): void {
    server.handle(storageMethods.recoveryProgress, async () => ({
      nodeId: this.options.nodeId,
      recoveries: this.progress(),
    }));
  }

  syncingSuccessors(successors: readonly SyncingSuccessor[]): void {
    this.wanted = successors;
    this.reconcile();
  }

  progress(): RecoveryProgress[] {
    return [...[...this.runs.values()].map((run) => run.tracker.snapshot()), ...this.finished];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.retryTimer?.cancel();
    const ended = [...this.runs.values()].map((run) => {
      run.controller.abort(new FsError(StorageCode.TargetNotServing, 'the storage process is stopping'));
      return run.ended;
    });
    await Promise.all(ended);
  }

  /** Brings the running passes in line with the wanted successors (recovery-plan.ts decides). */
  private reconcile(): void {
    if (this.stopped) return;
    const running = new Map([...this.runs].map(([syncingTargetId, run]) => [syncingTargetId, run.successor]));
    const plan = planRecoveries(
      this.wanted,
      { running, completed: this.completed, backoffUntilMs: this.backoffUntilMs },
      this.options.clock.monotonicMs(),
    );
    for (const key of plan.forgetCompleted) this.completed.delete(key);
    for (const syncingTargetId of plan.forgetBackoff) this.backoffUntilMs.delete(syncingTargetId);
    for (const syncingTargetId of plan.abort) {
      this.runs
        .get(syncingTargetId)
        ?.controller.abort(
          new FsError(
            StorageCode.ChainVersionMismatch,
            'routing info changed the chain; the pass starts over',
          ),
        );
    }
    if (plan.retryInMs !== undefined) this.scheduleRetry(plan.retryInMs);
    for (const successor of plan.start) this.start(successor);
  }

  private start(successor: SyncingSuccessor): void {
    const controller = new AbortController();
    const tracker = new RecoveryProgressTracker(
      {
        chainId: successor.chainId,
        chainVersion: successor.chainVersion,
        fromTargetId: successor.localTargetId,
        targetId: successor.syncingTargetId,
      },
      this.options.clock,
    );
    const logger = this.logger.child({
      chainId: successor.chainId,
      chainVersion: successor.chainVersion,
      fromTargetId: successor.localTargetId,
      syncingTargetId: successor.syncingTargetId,
    });
    logger.info('recovery of a syncing successor starts');
    const ended = runChainSync({
      ...this.options,
      chainId: successor.chainId,
      chainVersion: successor.chainVersion,
      fromTargetId: successor.localTargetId,
      syncingTargetId: successor.syncingTargetId,
      logger,
      limiter: this.limiter,
      progress: tracker,
      signal: controller.signal,
    }).then(
      () => this.ended(successor, tracker, logger, undefined),
      (error: unknown) =>
        this.ended(successor, tracker, logger, { error, aborted: controller.signal.aborted }),
    );
    this.runs.set(successor.syncingTargetId, { successor, controller, tracker, ended });
  }

  private ended(
    successor: SyncingSuccessor,
    tracker: RecoveryProgressTracker,
    logger: Logger,
    failure: { error: unknown; aborted: boolean } | undefined,
  ): void {
    this.runs.delete(successor.syncingTargetId);
    if (failure === undefined) {
      tracker.finish('done');
      this.completed.add(successorKey(successor));
      this.backoffUntilMs.delete(successor.syncingTargetId);
      const done = tracker.snapshot();
      logger.info(
        {
          chunks: done.chunksDone,
          bytes: done.bytesDone,
          identical: done.chunksSkipped,
          ms: done.updatedAtMs - done.startedAtMs,
        },
        'recovery done: the successor was told it is up to date',
      );
    } else {
      const reason = describeError(failure.error);
      tracker.finish(failure.aborted ? 'aborted' : 'failed', reason);
      if (!failure.aborted) {
        this.backoffUntilMs.set(
          successor.syncingTargetId,
          this.options.clock.monotonicMs() + (this.options.timings ?? defaultRecoveryTimings).retryMs,
        );
        logger.warn({ err: failure.error }, `recovery pass failed; it starts over: ${reason}`);
      } else {
        logger.info({ reason }, 'recovery pass stopped');
      }
    }
    this.finished = [tracker.snapshot(), ...this.finished].slice(0, limits.storageRecoveryFinishedKept);
    this.reconcile();
  }

  private scheduleRetry(delayMs: number): void {
    if (this.retryTimer !== undefined || this.stopped) return;
    this.retryTimer = this.options.clock.setTimer(delayMs, () => {
      this.retryTimer = undefined;
      this.reconcile();
    });
  }
}
