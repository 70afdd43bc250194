/**
 * Durability of the sqlite engine's commits under `synchronous = "interval"` (and of `sync()`
 * under "normal"): commits run with sqlite's synchronous=NORMAL in WAL mode, and this module makes
 * the WAL durable in the background, off the event loop. Why that keeps every commit safe:
 *
 * - A commit returns once its frames are written to the `-wal` file: they are in the page cache,
 *   so they survive the death of any process (the kernel writes them back), not a power loss.
 * - The syncer fdatasyncs the `-wal` file through a descriptor of its own (fs.promises: libuv's
 *   thread pool, never the event loop). fdatasync acts on the file, not the descriptor: it covers
 *   frames written through sqlite's descriptors, the WAL header, and the size after a truncation.
 * - Frames leave the WAL only through a checkpoint. With synchronous=NORMAL sqlite syncs the WAL
 *   before it copies frames into the database file and syncs the database file after a checkpoint
 *   that copied the whole WAL (walCheckpoint in sqlite3.c); the WAL restarts from its beginning
 *   (overwriting old frames, and truncated to journal_size_limit) only after such a complete
 *   checkpoint. So a commit is always in the synced WAL or in the synced database file, and
 *   syncing the WAL alone suffices.
 * - The WAL is restarted and truncated in place, never replaced; sqlite deletes it only when the
 *   last connection to the database closes, and this process's connections stay open as long as
 *   the descriptor does. So the descriptor always names the live WAL.
 * - The directory is fsynced once when the descriptor is opened, so the entries of the database
 *   file and of the WAL survive a power loss (sqlite does this at its own first sync of a new WAL,
 *   which under NORMAL may come much later).
 * - A sync covers the commits counted before it started. `sync()` waits for a sync that started
 *   after the call: it joins the running one when that covers the call, else one sync queued
 *   behind it, shared by every caller meanwhile. Syncs never overlap.
 * - With an interval, a commit arms the timer unless it is armed; when it fires a sync runs (or
 *   joins or follows the running one). A commit is thus durable within the interval plus at most
 *   two fdatasyncs, and nothing is synced while nothing is committed.
 * - A failed fdatasync may have dropped the dirty pages (Linux marks them clean), so no retry can
 *   make them durable: the syncer fails for good, `sync()` and every later transaction answer
 *   EngineFailure, and the service must restart (sqlite then recovers from what reached the disk).
 * - Closing waits for the running sync and syncs once more when anything was committed since.
 */
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Clock, TimerHandle } from '../common/clock.js';
import { FsError, assert, describeError } from '../common/errors.js';
import { KvCode } from '../common/status-code.js';

/** What asked for a sync: the commit interval, a `sync()` call, or closing the engine. */
export type WalSyncReason = 'interval' | 'request' | 'close';

/** One finished sync. */
export interface WalSyncEvent {
  readonly reason: WalSyncReason;
  readonly durationMs: number;
}

export interface WalSyncerOptions {
  /** Makes everything written to the WAL so far durable (fdatasync of the `-wal` file). */
  syncFile: () => Promise<void>;
  /** Longest time from a commit until a sync starts for it; undefined: only on request and at close. */
  intervalMs: number | undefined;
  clock: Clock;
  /** What the failure message names, e.g. the WAL's path. */
  walName: string;
  /** Told of each sync that succeeded; runs inline, so it must be quick and must not throw. */
  onSynced: (event: WalSyncEvent) => void;
  /** Told once, of the sync failure that ended the syncer. */
  onFailed: (error: FsError) => void;
}

const ignore = (): void => {};

export class WalSyncer {
  /** Commits counted so far. */
  private committed = 0;
  /** Commits known durable: those counted before the last successful sync started. */
  private synced = 0;
  private running: { covers: number; done: Promise<void> } | undefined;
  /** The sync that starts once the running one ends, shared by the callers that need it. */
  private queued: Promise<void> | undefined;
  private timer: TimerHandle | undefined;
  private failure: FsError | undefined;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: WalSyncerOptions) {
    assert(
      options.intervalMs === undefined || (Number.isInteger(options.intervalMs) && options.intervalMs > 0),
      'a commit interval is a positive number of milliseconds',
    );
  }

  /** The failure that ended the syncer, if one did: later commits cannot be made durable. */
  get failed(): FsError | undefined {
    return this.failure;
  }

  /** Counts a commit that has just returned; arms the interval timer when it is not armed. */
  noteCommit(): void {
    assert(this.closing === undefined, 'nothing commits once the syncer is closing');
    this.committed += 1;
    const intervalMs = this.options.intervalMs;
    if (intervalMs === undefined || this.timer !== undefined || this.failure !== undefined) return;
    this.timer = this.options.clock.setTimer(intervalMs, () => {
      this.timer = undefined;
      // A failure is reported through onFailed and answered to every later caller.
      this.syncCovering('interval').catch(ignore);
    });
  }

  /** Resolves once every commit counted before the call is durable. */
  sync(): Promise<void> {
    if (this.closing !== undefined) {
      return Promise.reject(new FsError(KvCode.Closed, `${this.options.walName} is closed`));
    }
    return this.syncCovering('request');
  }

  /** Stops the timer, waits for running syncs, and syncs what was committed since the last one. */
  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private async closeOnce(): Promise<void> {
    this.timer?.cancel();
    this.timer = undefined;
    // A queued sync starts a new one when it runs, so wait until neither is left.
    while (this.running !== undefined || this.queued !== undefined) {
      await Promise.allSettled([this.running?.done, this.queued]);
    }
    if (this.failure !== undefined) throw this.failure;
    if (this.synced < this.committed) await this.start('close');
  }

  private syncCovering(reason: WalSyncReason): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const target = this.committed;
    if (this.synced >= target) return Promise.resolve();
    if (this.running === undefined) return this.start(reason);
    if (this.running.covers >= target) return this.running.done;
    this.queued ??= this.running.done.then(ignore, ignore).then(() => {
      this.queued = undefined;
      return this.syncCovering(reason);
    });
    return this.queued;
  }

  private start(reason: WalSyncReason): Promise<void> {
    assert(this.running === undefined, 'syncs of the WAL never overlap');
    const { clock } = this.options;
    const covers = this.committed;
    const startedMs = clock.monotonicMs();
    const done = this.options
      .syncFile()
      .then(
        () => {
          this.synced = Math.max(this.synced, covers);
          this.options.onSynced({ reason, durationMs: clock.monotonicMs() - startedMs });
        },
        (error: unknown) => {
          if (this.failure === undefined) {
            this.failure = new FsError(
              KvCode.EngineFailure,
              `fdatasync of ${this.options.walName} failed (${describeError(error)}): commits since ` +
                'the last sync may not be on disk; restart the service',
              { cause: error },
            );
            this.timer?.cancel();
            this.timer = undefined;
            this.options.onFailed(this.failure);
          }
          throw this.failure;
        },
      )
      .finally(() => {
        this.running = undefined;
      });
    this.running = { covers, done };
    return done;
  }
}

/** The `-wal` file of a database, open for fdatasync. */
export interface WalFile {
  readonly path: string;
  datasync(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Opens the `-wal` file of the database at `databasePath` (it exists once a connection has opened
 * the database in WAL mode) and fsyncs the directory once, so both files' entries are durable.
 */
export async function openWalFile(databasePath: string): Promise<WalFile> {
  const path = `${databasePath}-wal`;
  const handle = await open(path, 'r');
  try {
    const directory = await open(dirname(databasePath), 'r');
    try {
      await directory.sync();
    } finally {
      await directory.close();
    }
  } catch (error) {
    await handle.close();
    throw error;
  }
  return { path, datasync: () => handle.datasync(), close: () => handle.close() };
}
