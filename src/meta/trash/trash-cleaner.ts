/**
 * The trash cleaner: every meta service runs one. Each pass reads the expiry index up to now
 * (one range read, earliest first, at most metaTrashCleanerItemsPerPass items) and purges those
 * items, at most metaTrashCleanerTransactionsPerPass transactions in all; what is left waits for
 * the next pass. Several services' cleaners may take up the same item: every purge step checks
 * the item again inside its transaction (trash-purge.ts), so nothing is removed or queued for GC
 * twice. Purged files' chunks are freed by the GC worker, as for any removal.
 */
import type { Clock, TimerHandle } from '../../common/clock.js';
import { describeError } from '../../common/errors.js';
import { limits } from '../../common/limits.js';
import type { Logger } from '../../common/logger.js';
import type { MetaService } from '../meta-service.js';
import { TrashReader } from '../store/trash-records.js';
import { purgeStep } from './trash-purge.js';
import { trashCredentials } from './trash-remove.js';

export interface TrashCleanerOptions {
  readonly service: MetaService;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly intervalMs: number;
  /** Inodes one purge transaction removes at most (default metaTrashPurgeInodesPerTransaction). */
  readonly inodesPerTransaction?: number;
}

/** What one pass did. */
export interface TrashCleanerReport {
  itemsPurged: number;
  inodesRemoved: number;
  /** Items left for a later pass (the pass's transaction bound) or that failed (logged). */
  itemsLeft: number;
}

export class TrashCleaner {
  private readonly logger: Logger;
  private timer: TimerHandle | undefined;
  private running: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(private readonly options: TrashCleanerOptions) {
    this.logger = options.logger.child({ component: 'trash-cleaner' });
  }

  start(): void {
    this.stopped = false;
    this.schedule();
  }

  /** Stops scheduling passes and waits for the one running (a step in progress commits or not). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    await this.running.catch(() => undefined);
  }

  /** One pass over the items expired by now. */
  async runOnce(): Promise<TrashCleanerReport> {
    const { service } = this.options;
    const report: TrashCleanerReport = { itemsPurged: 0, inodesRemoved: 0, itemsLeft: 0 };
    const expired = await service.options.kv.read((tx) =>
      new TrashReader(tx).expired(service.nowNs(), limits.metaTrashCleanerItemsPerPass),
    );
    let transactions = 0;
    for (const item of expired) {
      if (this.stopped || transactions >= limits.metaTrashCleanerTransactionsPerPass) {
        report.itemsLeft += 1;
        continue;
      }
      try {
        for (;;) {
          transactions += 1;
          const step = await service.mutate(
            { cred: trashCredentials },
            { ids: 0, squash: false },
            (writer, ctx) =>
              purgeStep(writer, ctx, item, {
                expiresAtNs: item.expiresAtNs,
                ...(this.options.inodesPerTransaction === undefined
                  ? {}
                  : { inodesPerTransaction: this.options.inodesPerTransaction }),
              }),
          );
          report.inodesRemoved += step.removedInodes;
          if (step.done) {
            report.itemsPurged += 1;
            break;
          }
          if (this.stopped || transactions >= limits.metaTrashCleanerTransactionsPerPass) {
            report.itemsLeft += 1;
            break;
          }
        }
      } catch (error) {
        report.itemsLeft += 1;
        this.logger.warn(
          { err: error, uid: item.uid, item: item.name },
          `purging an expired trash item failed: ${describeError(error)}`,
        );
      }
    }
    return report;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.options.clock.setTimer(this.options.intervalMs, () => {
      const pass = this.runOnce().then(
        (report) => {
          if (report.itemsPurged + report.itemsLeft > 0) this.logger.info(report, 'trash cleaner pass');
        },
        (error: unknown) =>
          this.logger.warn({ err: error }, `trash cleaner pass failed: ${describeError(error)}`),
      );
      this.running = pass;
      void pass.finally(() => this.schedule());
    });
  }
}
