/**
 * Disk health of a process's targets. A target whose disk fails must stop serving and be
 * reported `offline` in heartbeats, so mgmtd moves it to the end of its chain and writes go on
 * without it, exactly as when a whole storage service dies (DESIGN §7). Failure is judged by a
 * probe of the target directory: it and its data directory exist, and a small file written and
 * synced there reads back the same. The probe runs every `intervalMs`, and at once whenever an
 * operation on the target's store fails with an I/O error. A full disk is not a failed disk.
 *
 * A failed target stays failed until the process restarts (after the disk is repaired or
 * replaced); it then rejoins through recovery like any returning target.
 */
import { open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock, TimerHandle } from '../common/clock.js';
import { FsError, describeError } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { Logger } from '../common/logger.js';
import { CommonCode } from '../common/status-code.js';
import { LocalState } from '../mgmtd/protocol/index.js';
import type { StorageTarget } from './storage-target.js';
import type { ChunkStore } from './store/chunk-store.js';

/** Checks the disk of the target at `path`; throws when the disk has failed. */
export type DiskProbe = (path: string) => Promise<void>;

const probeFileName = '.disk-probe';

function isFull(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** The real probe: the directories exist, and a small synced write reads back intact. */
export async function probeTargetDisk(path: string): Promise<void> {
  // The chunk data directory: the native engine's under chunk-engine/, or the files store's.
  const engineDirectory = join(path, 'chunk-engine');
  const nativeEngine = await stat(engineDirectory).then(
    () => true,
    () => false,
  );
  const dataDirectory = nativeEngine ? join(engineDirectory, 'data') : join(path, 'data');
  for (const directory of [path, dataDirectory]) {
    const info = await stat(directory);
    if (!info.isDirectory()) throw new Error(`${directory} is not a directory`);
  }
  const probePath = join(path, probeFileName);
  const content = Buffer.from(`3fs disk probe ${process.pid} ${performance.now()}\n`);
  try {
    const handle = await open(probePath, 'w');
    try {
      await handle.write(content, 0, content.length, 0);
      await handle.datasync();
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (isFull(error)) return;
    throw error;
  }
  const back = await readFile(probePath);
  if (!back.equals(content)) throw new Error(`${probePath} did not read back what was written`);
}

export interface DiskHealthOptions {
  readonly targets: () => readonly StorageTarget[];
  readonly clock: Clock;
  readonly logger: Logger;
  readonly intervalMs: number;
  readonly probe?: DiskProbe;
  /** Called once per target when its disk is declared failed (after the target is marked). */
  readonly onFailure: (target: StorageTarget, reason: string) => void;
}

export class DiskHealthMonitor {
  private timer: TimerHandle | undefined;
  private stopped = false;
  private readonly probing = new Set<number>();
  private readonly probe: DiskProbe;

  constructor(private readonly options: DiskHealthOptions) {
    this.probe = options.probe ?? probeTargetDisk;
  }

  start(): void {
    this.stopped = false;
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
  }

  /** An operation on the target's disk failed with an I/O error: probe it now. */
  suspect(targetId: number): void {
    const target = this.options.targets().find((candidate) => candidate.targetId === targetId);
    if (target !== undefined) void this.check(target);
  }

  /** Probes every healthy target once (also used by tests). */
  async checkAll(): Promise<void> {
    await Promise.all(this.options.targets().map((target) => this.check(target)));
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.options.clock.setTimer(this.options.intervalMs, () => {
      void this.checkAll().finally(() => this.schedule());
    });
  }

  private async check(target: StorageTarget): Promise<void> {
    if (target.diskFailure !== undefined || this.probing.has(target.targetId) || this.stopped) return;
    this.probing.add(target.targetId);
    try {
      const reason = await this.probeWithDeadline(target.path);
      if (reason !== undefined && !this.stopped) this.fail(target, reason);
    } finally {
      this.probing.delete(target.targetId);
    }
  }

  /** The probe's verdict: undefined when healthy, else why the disk counts as failed. */
  private async probeWithDeadline(path: string): Promise<string | undefined> {
    const controller = new AbortController();
    const deadline = this.options.clock
      .sleep(limits.storageDiskCheckTimeoutMs, controller.signal)
      .then(() => `the disk probe did not finish within ${limits.storageDiskCheckTimeoutMs} ms`);
    try {
      return await Promise.race([
        this.probe(path).then(
          () => undefined,
          (error: unknown) => describeError(error),
        ),
        deadline,
      ]);
    } finally {
      controller.abort();
      await deadline.catch(() => undefined);
    }
  }

  private fail(target: StorageTarget, reason: string): void {
    if (target.diskFailure !== undefined) return;
    target.diskFailure = reason;
    target.localState = LocalState.Offline;
    this.options.logger.error(
      { targetId: target.targetId, path: target.path, reason },
      'target disk failed: the target reports offline and serves nothing until the process restarts',
    );
    this.options.onFailure(target, reason);
  }
}

/** Wraps a store so that its I/O errors (CommonCode.IoError) are reported as they pass through. */
export function reportingIoErrors(store: ChunkStore, onIoError: (error: FsError) => void): ChunkStore {
  const watch = <T>(promise: Promise<T>): Promise<T> =>
    promise.catch((error: unknown) => {
      if (error instanceof FsError && error.code === CommonCode.IoError) onIoError(error);
      throw error;
    });
  return {
    // Reads the read server answers are not watched here: it refuses them on a failing disk, and
    // the client's ordinary read then meets the error, which is.
    readServerEngine: () => store.readServerEngine?.(),
    stat: (chunkId) => store.stat(chunkId),
    hasPending: (chunkId) => store.hasPending(chunkId),
    prepare: (chunkId, update, options) => watch(store.prepare(chunkId, update, options)),
    commit: (chunkId, version) => watch(store.commit(chunkId, version)),
    discardPending: (chunkId) => watch(store.discardPending(chunkId)),
    read: (chunkId, range) => watch(store.read(chunkId, range)),
    list: (options) => store.list(options),
    lastChunk: (options) => store.lastChunk(options),
    totals: () => store.totals(),
    diskUsage: () => watch(store.diskUsage()),
    sync: () => watch(store.sync()),
    close: () => store.close(),
  };
}
